/**
 * Writes a generated file, or with --check only says whether the file in
 * the tree is what the generator makes now (exit 1 when stale, for CI).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";

export function writeOrCheck(outPath: string, generated: string, opts: { root: string; regenerate: string }): void {
  const name = relative(opts.root, outPath);
  if (!process.argv.includes("--check")) {
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileSync(outPath, generated);
    console.log(`wrote ${outPath}`);
    return;
  }
  let current = "";
  try {
    current = readFileSync(outPath, "utf8");
  } catch {
    // missing counts as stale
  }
  if (current !== generated) {
    console.error(`${name} is stale: run \`${opts.regenerate}\` and commit the result`);
    process.exit(1);
  }
  console.log(`${name} is current`);
}
