/**
 * Runs a snippet of Python or JavaScript in a bubblewrap sandbox with limits.
 *
 * Each run gets (ADR 0009 says why this design and not another):
 *   - namespaces of its own (bubblewrap, unprivileged, through user
 *     namespaces): a user namespace (no capabilities outside it; the count of
 *     processes for RLIMIT_NPROC is its own), a PID namespace (it sees and
 *     signals only its own processes; killing its first process ends them
 *     all), a network namespace with nothing in it (no network at all), IPC
 *     and UTS; no further namespaces inside (the seccomp filter refuses
 *     unshare, setns and clone with namespace flags: bubblewrap's own
 *     --disable-userns writes /proc/sys, which a container has read-only);
 *   - a filesystem of its own: /usr read-only, an empty /tmp, and its working
 *     folder, nothing else of the agent's (not the service-account token,
 *     not the agent's code or configuration); /proc is the container's,
 *     bound read-only (a container's masked /proc forbids mounting a fresh
 *     one), where other processes' files are closed to it by the user
 *     namespace boundary;
 *   - a seccomp filter (seccomp.ts) on top of the container's profile;
 *   - rlimits (prlimit): CPU seconds, address space, file size, open files,
 *     processes; and an OOM score that makes the kernel kill the snippet, not
 *     the agent, when the pod's memory runs out;
 *   - a wall-clock limit and a cap on stdout and stderr (the run is killed);
 *   - a minimal environment (no inherited secrets).
 * When the agent itself runs as root (a developer machine, CI), it first
 * drops to an unprivileged uid per concurrent slot (setpriv), so the sandbox
 * starts as it does in the pod, from a non-root user.
 *
 * It fails closed: without a working bubblewrap a run is refused
 * (SandboxUnavailable), never run bare.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ToolError } from "../../../lib/agent/tool.ts";
import { hostSeccompArch, snippetFilter } from "./seccomp.ts";

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

/** The programs the sandbox runs, when the agent's settings name them (config.ts); found in the usual places otherwise. */
export interface SandboxBinaries {
  python?: string;
  bwrap?: string;
}

let binaries: SandboxBinaries = {};

/** Sets the programs every later run uses: the agent's settings, once at start. */
export function useSandboxBinaries(b: SandboxBinaries): void {
  binaries = { ...b };
}

/**
 * The Python snippets run with; the precheck parses with the same one, so the
 * grammar it checks is the one the snippet runs under.
 */
export function pythonPath(): string {
  const candidates = [binaries.python, "/usr/bin/python3", "/usr/local/bin/python3"].filter(Boolean) as string[];
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

/** A child's output up to `cap` bytes; past it, `onOverflow` once and the rest drained. */
export async function readCapped(
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

/** A run refused because the sandbox cannot be made here (no bubblewrap, no user namespaces, a seccomp profile that forbids them). */
export class SandboxUnavailableError extends ToolError {
  constructor(message: string) {
    // Retryable: another agent's node may have what this one lacks (the profile, bubblewrap).
    super("SandboxUnavailable", message, { retryable: true });
  }
}

function bwrapPath(): string | undefined {
  return [binaries.bwrap, "/usr/bin/bwrap", "/usr/local/bin/bwrap"].find((p): p is string => !!p && existsSync(p));
}

/** Where the snippet sees its interpreter: under /usr as bound, or its own file bound at a fixed path. */
function interpreterFor(language: Language): { host: string; inside: string } {
  const host = language === "python" ? pythonPath() : process.execPath;
  return host.startsWith("/usr/") ? { host, inside: host } : { host, inside: `/opt/interpreter/${language}` };
}

/**
 * The bubblewrap command line for one run: the namespaces, the filesystem
 * (every path not named here does not exist for the snippet) and the filter
 * on fd 3. Pure, so the tests can read what a snippet gets.
 */
export function sandboxArgs(opts: {
  bwrap: string;
  workDir: string;
  interpreter: { host: string; inside: string };
  file: string;
  language: Language;
  /** prlimit's options, applied inside the sandbox (see below). */
  rlimits: string[];
}): string[] {
  const { interpreter } = opts;
  const args = [
    opts.bwrap,
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/sbin",
    "/sbin",
    "--ro-bind",
    "/proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--bind",
    opts.workDir,
    "/work",
    "--chdir",
    "/work",
  ];
  if (interpreter.inside !== interpreter.host) args.push("--ro-bind", interpreter.host, interpreter.inside);
  // The root bubblewrap builds is a tmpfs: read-only once built, so only /work and /tmp take writes.
  args.push("--remount-ro", "/");
  // The limits are set inside, by the namespace's own process: a user namespace takes its
  // creator's RLIMIT_NPROC as the cap on every process of the agent's uid, so set outside, the
  // snippet's process limit would count the agent's processes too; set inside, it counts the
  // namespace's alone.
  args.push("--seccomp", "3", "--", "/usr/bin/prlimit", ...opts.rlimits, "--");
  const file = `/work/${opts.file}`;
  if (opts.language === "python") args.push(interpreter.inside, "-I", "-S", file);
  else args.push(interpreter.inside, "run", "--smol", file);
  return args;
}

let filterBytes: Uint8Array | undefined;
function filter(): Uint8Array {
  const arch = hostSeccompArch();
  if (!arch) throw new SandboxUnavailableError(`no seccomp filter for the ${process.arch} architecture`);
  filterBytes ??= snippetFilter(arch);
  return filterBytes;
}

export async function runSnippet(
  language: Language,
  code: string,
  stdin: string,
  limits: SandboxLimits,
  signal?: AbortSignal,
): Promise<RunResult> {
  const bwrap = bwrapPath();
  if (!bwrap)
    throw new SandboxUnavailableError("bubblewrap (bwrap) is not installed: snippets are not run without a sandbox");
  const seccomp = filter();
  const dir = mkdtempSync(join(tmpdir(), "code-runner-"));
  const work = join(dir, "work");
  const fileName = language === "python" ? "main.py" : "main.js";
  // The filter is handed to bubblewrap as fd 3, read from a file beside (not inside) the snippet's folder.
  const filterFile = join(dir, "seccomp.bpf");
  writeFileSync(filterFile, seccomp);
  mkdirSync(work, { mode: 0o700 });
  writeFileSync(join(work, fileName), code);
  const slot = isRoot ? takeSlot() : -1;
  const uid = firstSandboxUid + slot;
  if (isRoot) {
    chmodSync(dir, 0o755);
    chownSync(work, uid, uid);
    chownSync(join(work, fileName), uid, uid);
  }
  // JavaScript runtimes reserve address space up front; give them room, the CPU and process limits still hold.
  const asBytes = (language === "javascript" ? Math.max(limits.memoryMb, 1024) : limits.memoryMb) * 1024 * 1024;
  const cmd = [
    ...(isRoot ? ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--no-new-privs"] : []),
    // The kernel's OOM killer takes the snippet before the agent when the pod's memory runs out.
    "choom",
    "-n",
    "1000",
    "--",
    ...sandboxArgs({
      bwrap,
      workDir: work,
      interpreter: interpreterFor(language),
      file: fileName,
      language,
      rlimits: [
        `--cpu=${limits.cpuSeconds}`,
        `--as=${asBytes}`,
        `--fsize=${limits.maxOutputBytes}`,
        "--nofile=64",
        // The namespace's first process (bubblewrap's) counts too.
        `--nproc=${limits.maxProcesses + 1}`,
        "--core=0",
      ],
    }),
  ];
  const filterFd = openSync(filterFile, "r");
  const start = performance.now();
  // setsid: the run gets a process group of its own, so one kill reaches bubblewrap, whose death ends the namespace.
  const proc = Bun.spawn(["setsid", ...cmd], {
    cwd: dir,
    env: {
      PATH: "/usr/local/bin:/usr/bin:/bin",
      HOME: "/work",
      TMPDIR: "/tmp",
      LANG: "C.UTF-8",
      PYTHONDONTWRITEBYTECODE: "1",
      NO_COLOR: "1",
    },
    stdio: [Buffer.from(stdin), "pipe", "pipe", filterFd],
  });
  const killAll = () => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      proc.kill("SIGKILL");
    }
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
      readCapped(proc.stdout as ReadableStream<Uint8Array>, limits.maxOutputBytes, killAll),
      readCapped(proc.stderr as ReadableStream<Uint8Array>, limits.maxOutputBytes, killAll),
      proc.exited,
    ]);
    // bubblewrap's own failure (it could not make the sandbox) is the runner's, not the snippet's.
    if (proc.exitCode !== 0 && /^bwrap: /m.test(err.text) && !timedOut) {
      throw new SandboxUnavailableError(`the sandbox could not be made: ${err.text.trim().split("\n")[0]}`);
    }
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
    // bubblewrap gone ends the PID namespace and every process in it: nothing can outlive the run.
    killAll();
    closeSync(filterFd);
    if (isRoot) slots.delete(slot);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether a trivial snippet runs here; the agent checks once at start and says why not. */
export async function probeSandbox(): Promise<string | undefined> {
  try {
    const r = await runSnippet("python", "print('ok')", "", {
      cpuSeconds: 2,
      memoryMb: 64,
      wallMs: 5_000,
      maxOutputBytes: 1024,
      maxProcesses: 4,
    });
    return r.stdout === "ok\n" ? undefined : `a trivial snippet printed ${JSON.stringify(r.stdout + r.stderr)}`;
  } catch (err) {
    return (err as Error).message;
  }
}
