/**
 * Typed errors for Kubernetes API calls, carrying the apiserver's own Status
 * (reason, message, field causes) so callers can branch on what happened
 * instead of parsing strings.
 */

/** The apiserver's `Status` object, as sent with every non-2xx answer. */
export interface KubeStatus {
  kind?: "Status";
  apiVersion?: string;
  status?: "Success" | "Failure";
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
}

/** A non-2xx answer from the apiserver. */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  constructor(
    readonly statusCode: number,
    readonly status: KubeStatus,
    readonly method: string,
    readonly path: string,
  ) {
    super(status.message ?? `${method} ${path}: HTTP ${statusCode}`);
  }

  get reason(): string | undefined {
    return this.status.reason;
  }
}

/** The apiserver could not be reached, or the connection broke. */
export class KubeConnectionError extends Error {
  override readonly name = "KubeConnectionError";
  constructor(
    readonly method: string,
    readonly path: string,
    override readonly cause: unknown,
  ) {
    super(`${method} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

function statusCodeOf(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.statusCode : undefined;
}

export const isNotFound = (err: unknown): boolean => statusCodeOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusCodeOf(err) === 409;
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof KubeApiError && err.statusCode === 409 && err.reason === "AlreadyExists";
export const isGone = (err: unknown): boolean => statusCodeOf(err) === 410;
export const isInvalid = (err: unknown): boolean => statusCodeOf(err) === 422;
export const isForbidden = (err: unknown): boolean => statusCodeOf(err) === 403;
/** Worth trying again in a moment: the apiserver unreachable or restarting (5xx), or shedding load (429). */
export const isTransient = (err: unknown): boolean =>
  err instanceof KubeConnectionError || (statusCodeOf(err) ?? 0) >= 500 || statusCodeOf(err) === 429;
