/** Runs a script under this Bun (as the tests run third-party CLIs), collecting its output; killed after timeoutMs. */
import { repoRoot } from "../../lib/control-plane/binaries.ts";

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
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}
