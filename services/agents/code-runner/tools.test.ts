// Hostile snippets against the real sandbox: loops, fork bombs, memory hogs,
// floods of output, the network and the filesystem; and the precheck in front of it.
import { describe, expect, test } from "bun:test";
import { callTool, toolError } from "../../../lib/agent/testing.ts";
import { defaultPolicy } from "./precheck.ts";
import type { RunResult, SandboxLimits } from "./sandbox.ts";
import { codeRunnerTools } from "./tools.ts";

const limits: SandboxLimits = {
  cpuSeconds: 2,
  memoryMb: 128,
  wallMs: 4_000,
  maxOutputBytes: 4096,
  maxProcesses: 16,
};
const [tool] = codeRunnerTools(limits);
// The precheck refuses most of the hostile snippets below before the sandbox
// sees them; the sandbox must hold without it, so they run unchecked.
const [unchecked] = codeRunnerTools(limits, { ...defaultPolicy, enabled: false });
const run = (input: Record<string, unknown>) => callTool(tool as NonNullable<typeof tool>, input) as Promise<RunResult>;
const runUnchecked = (input: Record<string, unknown>) =>
  callTool(unchecked as NonNullable<typeof unchecked>, input) as Promise<RunResult>;

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
    const r = await runUnchecked({ language: "python", code: "import os\nprint(sorted(os.listdir('.')))" });
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
    // Every process of the bomb runs the snippet's file, which the sandbox shows it as /work/main.py.
    const snippets = () =>
      Bun.spawnSync(["pgrep", "-f", "python3 -I -S /work/main[.]py"])
        .stdout.toString()
        .trim()
        .split("\n")
        .filter(Boolean);
    const running = runUnchecked({ language: "python", code, timeoutMs: 1500 });
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

  // The sandbox's walls in detail, from a non-root agent as in the pod: sandbox.test.ts.
  test("has no network", async () => {
    const code =
      "import socket\ntry:\n    s = socket.socket()\n    s.settimeout(1)\n    s.connect(('127.0.0.1', 22))\n    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)";
    const r = await runUnchecked({ language: "python", code });
    expect(r.stdout).toStartWith("refused");
  });

  test("cannot write outside its folder", async () => {
    const inside = await runUnchecked({ language: "python", code: "open('out.txt', 'w').write('x')\nprint('wrote')" });
    expect(inside.stdout).toBe("wrote\n");
    const r = await runUnchecked({ language: "python", code: "open('/usr/pwned', 'w').write('x')" });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("Read-only file system");
  });

  test("refuses what the precheck forbids before it runs, as PrecheckFailed, not retryable", async () => {
    // the same snippet without the socket import runs
    const allowed = await run({ language: "python", code: "import sys\nx = 1\nprint('ran', file=sys.stderr)" });
    expect(allowed).toMatchObject({ exitCode: 0, stderr: "ran\n" });
    const err = await toolError(
      run({ language: "python", code: "import sys\nx = 1\nimport socket\nprint('ran', file=sys.stderr)" }),
    );
    expect(err).toMatchObject({
      reason: "PrecheckFailed",
      retryable: false,
      message: 'precheck: line 3, column 8: import of "socket" is forbidden (rule forbidden-import)',
    });
    const js = await toolError(run({ language: "javascript", code: 'Bun.spawn(["id"]);' }));
    expect(js.message).toBe("precheck: line 1, column 1: Bun.spawn is not allowed (rule system-api)");
  });

  test("tells the caller what the precheck allows", () => {
    expect(tool?.description).toContain("Python may import __future__, abc, array");
    expect(unchecked?.description).not.toContain("checked");
  });

  test("rejects an unknown language and empty code", async () => {
    expect((await toolError(run({ language: "ruby", code: "puts 1" }))).message).toStartWith(
      "payload.language: must be one of",
    );
    expect((await toolError(run({ language: "python", code: "" }))).message).toStartWith("payload.code:");
  });
});
