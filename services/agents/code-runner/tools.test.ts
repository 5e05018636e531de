// Hostile snippets against the real sandbox: loops, fork bombs, memory hogs,
// floods of output, the network and the filesystem.
import { describe, expect, test } from "bun:test";
import { callTool, toolError } from "../../../lib/agent/testing.ts";
import type { RunResult } from "./sandbox.ts";
import { codeRunnerTools } from "./tools.ts";

const tool = codeRunnerTools({
  cpuSeconds: 2,
  memoryMb: 128,
  wallMs: 4_000,
  maxOutputBytes: 4096,
  maxProcesses: 16,
})[0];
const run = (input: Record<string, unknown>) => callTool(tool as NonNullable<typeof tool>, input) as Promise<RunResult>;
const asRoot = process.getuid?.() === 0;

describe("run_code", () => {
  test("runs Python with stdin and returns stdout, stderr and the exit code", async () => {
    const r = await run({
      language: "python",
      code: "import sys\nprint(sys.stdin.read().upper())\nprint('warn', file=sys.stderr)\nsys.exit(3)",
      stdin: "hi",
    });
    expect(r).toMatchObject({ exitCode: 3, stdout: "HI\n", stderr: "warn\n", timedOut: false });
  });

  test("runs JavaScript", async () => {
    const r = await run({ language: "javascript", code: "console.log([1,2,3].map(x => x * 2).join(','))" });
    expect(r).toMatchObject({ exitCode: 0, stdout: "2,4,6\n" });
  });

  test("starts in an empty working folder", async () => {
    const r = await run({ language: "python", code: "import os\nprint(sorted(os.listdir('.')))" });
    expect(r.stdout).toBe("['main.py']\n");
  });

  test("stops an infinite loop (CPU limit or wall clock)", async () => {
    const r = await run({ language: "python", code: "while True: pass" });
    expect(r.exitCode).not.toBe(0);
    expect(r.durationMs).toBeLessThan(6_000);
  });

  test("stops a sleeping program at the wall-clock limit", async () => {
    const r = await run({ language: "python", code: "import time\ntime.sleep(60)", timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.durationMs).toBeLessThan(3_000);
  });

  test("contains a fork bomb", async () => {
    const code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass";
    // Every process of the bomb runs the snippet's file from the runner's own temporary folder.
    const snippets = () =>
      Bun.spawnSync(["pgrep", "-f", "code-runner-[^ ]*/main[.]py"])
        .stdout.toString()
        .trim()
        .split("\n")
        .filter(Boolean);
    const running = run({ language: "python", code, timeoutMs: 1500 });
    await Bun.sleep(700);
    const during = snippets().length;
    const r = await running;
    expect(r.timedOut || r.exitCode !== 0).toBe(true);
    // the bomb was seen, so the check below can see its leftovers
    expect(during).toBeGreaterThan(1);
    // and nothing of it is left running (SIGKILL lands at once; allow the kernel a moment to reap)
    let leftovers = snippets();
    for (let i = 0; i < 20 && leftovers.length > 0; i++) {
      await Bun.sleep(100);
      leftovers = snippets();
    }
    expect(leftovers).toEqual([]);
  }, 20_000);

  test("refuses memory beyond the limit", async () => {
    const r = await run({ language: "python", code: "x = bytearray(512 * 1024 * 1024)\nprint('allocated')" });
    expect(r.stdout).not.toContain("allocated");
    expect(r.stderr).toContain("MemoryError");
  });

  test("cuts off a flood of output", async () => {
    const r = await run({ language: "python", code: "while True: print('x' * 1000)" });
    expect(r.outputTruncated).toBe(true);
    expect(r.stdout.length).toBeLessThanOrEqual(4096);
    expect(r.durationMs).toBeLessThan(3_000);
  });

  test.if(asRoot)("has no network", async () => {
    const code =
      "import socket\ns = socket.socket()\ns.settimeout(1)\ntry:\n    s.connect(('127.0.0.1', 22))\n    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)";
    const r = await run({ language: "python", code });
    expect(r.stdout).toStartWith("refused");
  });

  test.if(asRoot)("cannot write outside its folder", async () => {
    const r = await run({ language: "python", code: "open('/etc/pwned', 'w').write('x')" });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("PermissionError");
  });

  test("rejects an unknown language and empty code", async () => {
    expect((await toolError(run({ language: "ruby", code: "puts 1" }))).message).toStartWith(
      "payload.language: must be one of",
    );
    expect((await toolError(run({ language: "python", code: "" }))).message).toStartWith("payload.code:");
  });
});
