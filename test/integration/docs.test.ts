// The docs can be followed: every ```sh block in docs/*.md runs with bash,
// in order, against a conductor started as `npm run up` starts it (on the
// shared control plane), and must exit 0 or the code the block declares.
//
// Conventions (docs/README.md describes them for readers):
//   ```sh                       run; each block is one `bash -e -o pipefail` script
//   # not run: <reason>         first line: not run, and the reason says why
//   # runs until stopped        first line: a long-running command (an agent, a
//                               gateway); it runs in the background until the
//                               doc's last block has run
//   # exits N                   first line: the block is expected to exit N
//   ```console / ```text        output, not commands; ```ts/```json/```yaml: file contents
//
// Placeholders: blocks use the namespace `mcp-system` (up's default domain),
// which the test replaces with a namespace of its own, and the variables
// KUBECONFIG, CONDUCTOR_GATEWAY, CONDUCTOR_SCHEDULER and CONTROLLER_METRICS,
// which the test sets from up's output as a reader would. Blocks run in a
// scratch copy of the repository (its folders linked, kustomize/ copied), so
// what they write stays out of the tree.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { grpcurlBinary, inspectorLauncher, repoRoot } from "../../lib/control-plane/binaries.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";

const docsDir = join(repoRoot, "docs");
const docFiles = readdirSync(docsDir)
  .filter((f) => f.endsWith(".md"))
  .sort();

interface Block {
  file: string;
  /** The line of the opening fence, 1-based. */
  line: number;
  lang: string;
  body: string;
  notRun?: string;
  background: boolean;
  exitCode: number;
}

/** The fenced blocks of one Markdown file. */
function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(docsDir, file), "utf8").split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(\S*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const [, indent, fence, lang] = open as unknown as [string, string, string, string];
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i]?.trimEnd() !== `${indent}${fence}`; i++) body.push(lines[i] as string);
    const first = body[0]?.trim() ?? "";
    blocks.push({
      file,
      line: start + 1,
      lang,
      body: `${body.join("\n")}\n`,
      notRun: /^# not run: (.+)$/.exec(first)?.[1],
      background: first === "# runs until stopped",
      exitCode: Number(/^# exits (\d+)$/.exec(first)?.[1] ?? 0),
    });
  }
  return blocks;
}

const allBlocks = docFiles.flatMap(blocksOf);
const runnable = (b: Block) => b.lang === "sh" && b.notRun === undefined;

let cluster: TestCluster;
let ns: string;
let workspace: string;
let env: Record<string, string>;
let up: ReturnType<typeof Bun.spawn> | undefined;
let upOutput = "";

/** Small executables the docs call by name: conductor, kubectl, grpcurl, and npx for the Inspector. */
function toolDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "docs-bin-"));
  const script = (name: string, text: string) => {
    writeFileSync(join(dir, name), `#!/usr/bin/env bash\n${text}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  script("conductor", `exec "${process.execPath}" "${join(repoRoot, "services", "cli", "bin.ts")}" "$@"`);
  symlinkSync(cluster.cp.binaries.kubectl, join(dir, "kubectl"));
  symlinkSync(grpcurlBinary(), join(dir, "grpcurl"));
  symlinkSync(process.execPath, join(dir, "bun"));
  // `npx @modelcontextprotocol/inspector …` runs the pinned Inspector under Bun; nothing else is fetched.
  script(
    "npx",
    `case "$1" in
  @modelcontextprotocol/inspector|@modelcontextprotocol/inspector@*) shift; exec "${process.execPath}" "${inspectorLauncher()}" "$@" ;;
  *) echo "docs test: npx $1 is not available here" >&2; exit 127 ;;
esac`,
  );
  return dir;
}

/** A scratch copy of the repository: every top-level entry linked, kustomize/ copied (the docs add an overlay). */
function scratchRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), "docs-repo-"));
  for (const entry of readdirSync(repoRoot)) {
    if (entry === ".git" || entry === ".cache") continue;
    if (entry === "kustomize") cpSync(join(repoRoot, entry), join(dir, entry), { recursive: true });
    else symlinkSync(join(repoRoot, entry), join(dir, entry));
  }
  return dir;
}

interface Started {
  proc: ReturnType<typeof Bun.spawn>;
  output: () => string;
}

/** Runs a block's script with bash in its own process group, output collected. */
function startBlock(b: Block): Started {
  const script = b.body.replaceAll("mcp-system", ns);
  // setsid: the block and whatever it starts form one group, stopped together.
  const proc = Bun.spawn(["setsid", "bash", "-e", "-o", "pipefail", "-c", script], {
    cwd: workspace,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const decoder = new TextDecoder();
  for (const stream of [proc.stdout, proc.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      for await (const chunk of stream) out += decoder.decode(chunk);
    })();
  }
  return { proc, output: () => out };
}

/** Stops a block's whole process group: SIGTERM, then SIGKILL after a grace period. */
async function stopGroup(s: Started, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-s.proc.pid, sig);
    } catch {
      // the group is gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), graceMs);
  await s.proc.exited;
  // Children may outlive bash: give them the grace period too, then make sure.
  await Bun.sleep(100);
  clearTimeout(timer);
  signal("SIGKILL");
}

const where = (b: Block) => `docs/${b.file}:${b.line}`;

beforeAll(async () => {
  cluster = await testCluster();
  // The namespace controller finishes what deployment.md's uninstall starts (`kubectl delete -k`
  // waits until the domain's namespace is gone), as on the local control plane of `npm run up`.
  await cluster.ensureControllerManager();
  ns = await cluster.newNamespace("docs");
  workspace = scratchRepo();
  const home = mkdtempSync(join(tmpdir(), "docs-home-"));
  // What a reader does first: `npm run up` (services/up/main.ts) on the configured cluster.
  const proc = Bun.spawn([process.execPath, join(repoRoot, "services", "up", "main.ts"), "--namespace", ns], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, LOG_LEVEL: "error" },
    stdout: "pipe",
    stderr: "inherit",
  });
  up = proc;
  void (async () => {
    for await (const chunk of proc.stdout) upOutput += new TextDecoder().decode(chunk);
  })();
  const ready = await eventually(() => upOutput.includes("Press Ctrl-C") && upOutput, {
    timeout: 60_000,
    message: "up ready",
  });
  const printed = (label: string) => new RegExp(`${label}\\s+(\\S+)`).exec(ready)?.[1] as string;
  env = {
    ...(process.env as Record<string, string>),
    PATH: `${toolDir()}:${process.env.PATH}`,
    HOME: home,
    KUBECONFIG: cluster.kubeconfigPath,
    CONDUCTOR_GATEWAY: printed("MCP gateway"),
    CONDUCTOR_SCHEDULER: printed("Scheduler"),
    CONTROLLER_METRICS: printed("Controller"),
    LOG_LEVEL: "error",
  };
  delete env.CONDUCTOR_TOKEN;
  await eventually(async () => (await cluster.mcp.agents.get(ns, "data-processor-local")).status?.phase === "Ready", {
    timeout: 20_000,
    message: "up's data-processor agent Ready",
  });
}, 120_000);

afterAll(async () => {
  if (!up) return;
  up.kill("SIGTERM");
  await up.exited;
});

describe("docs conventions", () => {
  test("the docs exist and have commands to run", () => {
    expect(docFiles).toEqual([
      "README.md",
      "agents.md",
      "architecture.md",
      "clients.md",
      "deployment.md",
      "development.md",
      "operations.md",
      "plans.md",
      "reliability.md",
      "scaling.md",
    ]);
    for (const file of docFiles.filter((f) => f !== "README.md" && f !== "architecture.md")) {
      expect(allBlocks.filter((b) => b.file === file && runnable(b)).length).toBeGreaterThan(0);
    }
  });

  test("shell commands are ```sh blocks; the few not run each say why", () => {
    // Shell under another name would be skipped silently.
    expect(allBlocks.filter((b) => ["bash", "shell", "zsh", ""].includes(b.lang)).map(where)).toEqual([]);
    const notRun = allBlocks.filter((b) => b.lang === "sh" && b.notRun !== undefined);
    for (const b of notRun) console.log(`not run: ${where(b)}: ${b.notRun}`);
    expect(notRun.length).toBeLessThanOrEqual(4);
    for (const b of notRun) expect(b.notRun?.length).toBeGreaterThan(10);
  });

  test("code shown from docs/examples is the file itself, and the examples type-check", async () => {
    const shown = allBlocks.filter((b) => b.lang === "ts" && b.body.startsWith("// docs/examples/"));
    expect(shown.length).toBeGreaterThanOrEqual(2);
    for (const b of shown) {
      const path = /^\/\/ (docs\/examples\/\S+\.ts)/.exec(b.body)?.[1] as string;
      expect(b.body, where(b)).toBe(readFileSync(join(repoRoot, path), "utf8"));
    }
    const tsc = Bun.spawn(
      [join(repoRoot, "node_modules", ".bin", "tsc"), "-p", join(repoRoot, "docs", "examples", "tsconfig.json")],
      { cwd: repoRoot, stdout: "pipe", stderr: "pipe" },
    );
    const [out, code] = await Promise.all([new Response(tsc.stdout).text(), tsc.exited]);
    expect(out).toBe("");
    expect(code).toBe(0);
  });
});

for (const file of docFiles) {
  const blocks = blocksOf(file).filter(runnable);
  if (blocks.length === 0) continue;
  describe(`docs/${file}`, () => {
    const background: Started[] = [];
    afterAll(async () => {
      await Promise.all(background.map((s) => stopGroup(s)));
    });
    for (const b of blocks) {
      const title = `line ${b.line}: ${b.body.split("\n").find((l) => l && !l.startsWith("#")) ?? ""}`.slice(0, 110);
      test(title, async () => {
        const started = startBlock(b);
        if (b.background) {
          background.push(started);
          // It must still be running once it has had a moment to fail.
          const exited = await Promise.race([started.proc.exited, Bun.sleep(1_500).then(() => undefined)]);
          if (exited !== undefined) throw new Error(`${where(b)} exited ${exited}:\n${started.output()}`);
          return;
        }
        const timer = setTimeout(() => void stopGroup(started, 1_000), 25_000);
        const code = await started.proc.exited;
        clearTimeout(timer);
        await stopGroup(started, 1_000);
        if (process.env.DOCS_TEST_VERBOSE) console.log(`--- ${where(b)} (exit ${code})\n${started.output()}`);
        if (code !== b.exitCode) {
          throw new Error(
            `${where(b)} exited ${code}, expected ${b.exitCode}:\n${b.body}\n--- output ---\n${started.output()}`,
          );
        }
      });
    }
  });
}
