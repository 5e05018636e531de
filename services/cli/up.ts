/**
 * `conductor up`: runs services/up/main.ts (the same program as `npm run up`)
 * as a child with this terminal, passes Ctrl-C and SIGTERM on to it, and
 * exits with its exit code.
 */
import { join } from "node:path";

const upMain = join(import.meta.dir, "..", "up", "main.ts");

export async function runUp(args: string[]): Promise<number> {
  const child = Bun.spawn([process.execPath, upMain, ...args], {
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  });
  // A terminal's Ctrl-C reaches the child too (same process group); a signal
  // sent to this process alone is forwarded, so `kill` stops the whole conductor.
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    return await child.exited;
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}
