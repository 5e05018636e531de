/**
 * Compiles proto/ into proto/gen with buf and ts-proto.
 *   bun hack/gen-proto.ts          writes proto/gen
 *   bun hack/gen-proto.ts --check  fails when proto/gen is stale
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "..");
const protoDir = join(root, "proto");
const buf = join(root, "node_modules", ".bin", "buf");

function generate(outBase: string): void {
  const res = Bun.spawnSync([buf, "generate", "--output", outBase], { cwd: protoDir, stdout: "pipe", stderr: "pipe" });
  if (res.exitCode !== 0) throw new Error(`buf generate failed: ${res.stderr.toString()}`);
}

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, "utf8"));
    }
  };
  try {
    walk(dir);
  } catch {
    // a missing folder has no files
  }
  return out;
}

const lint = Bun.spawnSync([buf, "lint"], { cwd: protoDir, stdout: "inherit", stderr: "inherit" });
if (lint.exitCode !== 0) process.exit(1);

if (process.argv.includes("--check")) {
  const tmp = mkdtempSync(join(tmpdir(), "proto-gen-"));
  try {
    generate(tmp);
    const want = files(join(tmp, "gen"));
    const have = files(join(protoDir, "gen"));
    const stale = [...new Set([...want.keys(), ...have.keys()])].filter((f) => want.get(f) !== have.get(f));
    if (stale.length) {
      console.error(`proto/gen is stale (${stale.join(", ")}): run \`bun hack/gen-proto.ts\` and commit the result`);
      process.exit(1);
    }
    console.log("proto/gen is current");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  rmSync(join(protoDir, "gen"), { recursive: true, force: true });
  generate(protoDir);
  console.log("wrote proto/gen");
}
