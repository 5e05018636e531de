/**
 * Runs a snippet of Python or JavaScript in a child process with limits.
 *
 * What it gives:
 *   - a fresh, empty temporary working folder, removed afterwards;
 *   - rlimits (prlimit): CPU seconds, address space, file size, open files,
 *     processes — so infinite loops, memory hogs and fork bombs stop;
 *   - a wall-clock limit: the whole process group is killed;
 *   - a cap on stdout and stderr: the run is killed once it is passed;
 *   - when the agent runs as root (as on a developer machine): a network
 *     namespace with no interfaces (unshare --net), and an unprivileged uid
 *     of its own per concurrent slot (setpriv), so the process-count limit
 *     holds and every leftover process of that uid is killed afterwards;
 *   - a minimal environment (no inherited secrets).
 * What it does not give: a separate kernel, a filesystem view of its own
 * (the snippet can read what its uid can read), or seccomp filtering. In a
 * cluster the code-runner pod runs as non-root with a read-only root
 * filesystem, all capabilities dropped, and a NetworkPolicy denying egress;
 * there the rlimits, the timeout and the output cap apply, and the pod's
 * security context supplies the rest.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Language = "python" | "javascript";

export interface SandboxLimits {
  cpuSeconds: number;
  memoryMb: number;
  wallMs: number;
  maxOutputBytes: number;
  maxProcesses: number;
}

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  outputTruncated: boolean;
  durationMs: number;
}

const isRoot = process.getuid?.() === 0;
const firstSandboxUid = 61000;
const slots = new Set<number>();

function pythonPath(): string {
  const candidates = [process.env.CODE_RUNNER_PYTHON, "/usr/bin/python3", "/usr/local/bin/python3"].filter(
    Boolean,
  ) as string[];
  return candidates.find((p) => existsSync(p)) ?? "python3";
}

function takeSlot(): number {
  for (let i = 0; ; i++) {
    if (!slots.has(i)) {
      slots.add(i);
      return i;
    }
  }
}

/** Kills every process owned by `uid` (only ever a sandbox uid); returns how many it signalled. */
function killUidOnce(uid: number): number {
  let killed = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      const m = /^Uid:\s+(\d+)/m.exec(status);
      const state = /^State:\s+(\S)/m.exec(status)?.[1];
      if (m && Number(m[1]) === uid && state !== "Z") {
        process.kill(Number(entry), "SIGKILL");
        killed++;
      }
    } catch {
      // gone already
    }
  }
  return killed;
}

/**
 * A process that escaped the group kill (setsid in the snippet) can fork while
 * /proc is being read, so sweep until a pass finds nothing; RLIMIT_NPROC bounds
 * how many there can be, so this ends.
 */
function killUid(uid: number): void {
  for (let pass = 0; pass < 50 && killUidOnce(uid) > 0; pass++);
}

async function collect(
  stream: ReadableStream<Uint8Array>,
  cap: number,
  onOverflow: () => void,
): Promise<{ text: string; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let truncated = false;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    if (truncated) continue; // drain until the process is gone
    if (total + chunk.length > cap) {
      chunks.push(chunk.subarray(0, cap - total));
      total = cap;
      truncated = true;
      onOverflow();
      continue;
    }
    chunks.push(chunk);
    total += chunk.length;
  }
  return { text: new TextDecoder().decode(Buffer.concat(chunks)), truncated };
}

export async function runSnippet(
  language: Language,
  code: string,
  stdin: string,
  limits: SandboxLimits,
  signal?: AbortSignal,
): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), "code-runner-"));
  const file = join(dir, language === "python" ? "main.py" : "main.js");
  writeFileSync(file, code);
  const slot = isRoot ? takeSlot() : -1;
  const uid = firstSandboxUid + slot;
  if (isRoot) chmodSync(dir, 0o777);
  // JavaScript runtimes reserve address space up front; give them room, the CPU and process limits still hold.
  const asBytes = (language === "javascript" ? Math.max(limits.memoryMb, 1024) : limits.memoryMb) * 1024 * 1024;
  const interpreter =
    language === "python" ? [pythonPath(), "-I", "-S", file] : [process.execPath, "run", "--smol", file];
  const cmd = [
    ...(isRoot
      ? ["unshare", "--net", "setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--no-new-privs"]
      : []),
    "prlimit",
    `--cpu=${limits.cpuSeconds}`,
    `--as=${asBytes}`,
    `--fsize=${limits.maxOutputBytes}`,
    "--nofile=64",
    `--nproc=${limits.maxProcesses}`,
    "--core=0",
    "--",
    ...interpreter,
  ];
  const start = performance.now();
  // setsid: the snippet gets a process group of its own, so one kill reaches its children.
  const proc = Bun.spawn(["setsid", ...cmd], {
    cwd: dir,
    env: {
      PATH: "/usr/local/bin:/usr/bin:/bin",
      HOME: dir,
      TMPDIR: dir,
      LANG: "C.UTF-8",
      PYTHONDONTWRITEBYTECODE: "1",
      NO_COLOR: "1",
    },
    stdin: Buffer.from(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const killAll = () => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      proc.kill("SIGKILL");
    }
    if (isRoot) killUid(uid);
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killAll();
  }, limits.wallMs);
  const onAbort = () => killAll();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const [out, err] = await Promise.all([
      collect(proc.stdout, limits.maxOutputBytes, killAll),
      collect(proc.stderr, limits.maxOutputBytes, killAll),
      proc.exited,
    ]);
    return {
      exitCode: proc.signalCode ? null : proc.exitCode,
      signal: proc.signalCode ? String(proc.signalCode) : null,
      stdout: out.text,
      stderr: err.text,
      timedOut,
      outputTruncated: out.truncated || err.truncated,
      durationMs: Math.round(performance.now() - start),
    };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    killAll(); // leftovers that left the process group
    if (isRoot) slots.delete(slot);
    rmSync(dir, { recursive: true, force: true });
  }
}
