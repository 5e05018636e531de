/** Process helpers shared by the local control plane and its node. */
import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";

/**
 * The fields of /proc/<pid>/stat after the command's closing parenthesis (a
 * command may hold spaces and parentheses): [0] is the state, [1] the parent's
 * pid, [11] and [12] utime and stime. Undefined once the process is gone.
 */
export function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends `signal`, waits up to 10 s for the process to exit, then kills it. */
export async function stopProcess(
  proc: Subprocess | undefined,
  signal: "SIGTERM" | "SIGKILL" = "SIGTERM",
): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill(signal);
  const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
  if (!done) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}
