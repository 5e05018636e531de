/**
 * How the command fails, and with which exit code, in kubectl's terms: 1 when
 * what was asked for failed (not found, a failed call, an unreachable
 * cluster), 2 when the command line itself is wrong.
 */
import { KubeApiError, KubeConnectionError } from "../../lib/kube/errors.ts";

export const exitCodes = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** The command line is wrong: exit 2, with the usage hint. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** What was asked for failed: exit 1 (or the code given), with this message and nothing more. */
export class CommandError extends Error {
  override readonly name = "CommandError";
  constructor(
    message: string,
    readonly code: number = exitCodes.failed,
  ) {
    super(message);
  }
}

/** The one line a person sees for an error, and the exit code that goes with it. */
export function describeError(err: unknown, kubeServer?: string): { message: string; code: number } {
  if (err instanceof UsageError) return { message: err.message, code: exitCodes.usage };
  if (err instanceof CommandError) return { message: err.message, code: err.code };
  if (err instanceof KubeConnectionError) {
    const cause = err.cause instanceof Error ? err.cause.message : String(err.cause);
    return {
      message: `cannot reach the Kubernetes API${kubeServer ? ` at ${kubeServer}` : ""}: ${cause}`,
      code: exitCodes.failed,
    };
  }
  if (err instanceof KubeApiError) {
    // The apiserver's own message already reads like kubectl's ("tasks.mcp.io \"x\" not found").
    const reason = err.reason ? ` (${err.reason})` : "";
    return { message: `${err.message}${reason}`, code: exitCodes.failed };
  }
  return { message: err instanceof Error ? err.message : String(err), code: exitCodes.failed };
}
