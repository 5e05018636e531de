/** Runs a script under this Bun (as the tests run third-party CLIs), collecting its output; killed after timeoutMs. */
import { readdirSync } from "node:fs";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { procStatFields } from "../../lib/control-plane/processes.ts";

export async function runBun(
  args: string[],
  timeoutMs = 120_000,
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    cwd: repoRoot,
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  // A script that hangs is killed with what it started (a bench's controller
  // and scheduler processes), which would otherwise run on beside the tests after it.
  const timer = setTimeout(() => {
    for (const pid of descendantsOf(proc.pid)) killQuietly(pid);
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Every process below `root`, from /proc's parent links, read before any is killed. */
export function descendantsOf(root: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    const fields = Number.isInteger(pid) ? procStatFields(pid) : undefined;
    if (!fields) continue; // not a process, or gone meanwhile
    const ppid = Number(fields[1]);
    childrenOf.set(ppid, [...(childrenOf.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const child of childrenOf.get(pid) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
