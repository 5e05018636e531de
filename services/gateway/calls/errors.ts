/**
 * The one shape of a failed call, for both protocol eras: a JSON-RPC error
 * code, a message the client may read, optional data, and the HTTP status the
 * 2026-07-28 side answers with. Anything that is not already such an error
 * (an apiserver failure, a bug) becomes a generic -32603 "Internal error"
 * carrying a correlation id; the full error is logged under that id and never
 * reaches the client.
 */
import { randomUUID } from "node:crypto";
import { isForbidden } from "../../../lib/kube/errors.ts";
import type { Logger } from "../../../lib/log.ts";
import { ErrorCode, isMcpError, McpError } from "../mcp-error.ts";

export const errorCodes = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** A caller the authorize hook refused a tool to. */
  forbidden: -32003,
  /** A limit on Tasks was reached: the caller's in flight, or the domain's ResourceQuota. Try again later. */
  limitExceeded: -32004,
  headerMismatch: -32020,
  missingClientCapability: -32021,
  unsupportedVersion: -32022,
} as const;

/** A federated MCPServer that cannot be reached (not connected, or cut off by its circuit breaker). */
export class ServerUnavailableError extends McpError {
  constructor(
    readonly server: string,
    readonly why: string,
  ) {
    super(ErrorCode.InternalError, `MCP server ${server} is unavailable: ${why}`);
  }
}

/** A JSON-RPC error meant for the client, with the HTTP status it travels with (2026-07-28). */
export class CallError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
    readonly status = code === errorCodes.internal ? 500 : 400,
  ) {
    super(message);
  }
}

/**
 * Logs the error in full (the error object, with its stack and any apiserver
 * status) under a fresh correlation id, and returns what the client gets:
 * -32603 "Internal error" naming only that id.
 */
export function internalError(
  log: Logger,
  err: unknown,
  what = "Request failed",
  publicMessage = "Internal error",
): CallError {
  const correlationId = randomUUID();
  log.error({ err, correlationId }, what);
  return new CallError(errorCodes.internal, `${publicMessage} (correlation id ${correlationId})`, { correlationId });
}

/** Codes of the SDK client's own failures (a closed connection, a timeout), not a server's answer. */
const transportCodes = new Set<number>([ErrorCode.ConnectionClosed, ErrorCode.RequestTimeout, errorCodes.internal]);

/**
 * The client's view of any error: a CallError as it is; an MCP error from a
 * federated server (its own answer to the request: invalid params, not found)
 * as it is, but for -32603 and errors of the connection to it, which are
 * internal (an unavailable server is named, the reason only logged);
 * anything else internal.
 */
export function toCallError(err: unknown, log: Logger, what?: string): CallError {
  if (err instanceof CallError) return err;
  if (err instanceof ServerUnavailableError)
    return internalError(log, err, what ?? "MCP server unavailable", `MCP server ${err.server} is unavailable`);
  if (isMcpError(err) && !transportCodes.has(err.code)) return new CallError(err.code, err.message, err.data);
  return internalError(log, err, what);
}

/**
 * The apiserver's refusal of a Task by the domain's ResourceQuota, as the
 * client should read it (HTTP 429 on the 2026 side); undefined for any other
 * error. The apiserver says: `… is forbidden: exceeded quota: mcp-tasks,
 * requested: count/tasks.mcp.io=1, used: count/tasks.mcp.io=500, limited:
 * count/tasks.mcp.io=500`.
 */
export function quotaRefusal(err: unknown): CallError | undefined {
  if (!isForbidden(err)) return undefined;
  const message = (err as Error).message;
  const uncounted = /status unknown for quota: ([^,\s]+)/.exec(message)?.[1];
  if (uncounted)
    return new CallError(
      errorCodes.limitExceeded,
      `Quota not counted yet: Kubernetes has not counted the domain's Tasks for its ResourceQuota ${uncounted}; the controller has it counted within seconds, try again shortly`,
      { reason: "QuotaNotCounted", quota: uncounted },
      429,
    );
  const quota = /exceeded quota: ([^,\s]+)/.exec(message)?.[1];
  if (!quota) return undefined;
  const limit = Number(/limited: count\/tasks\.mcp\.io=(\d+)/.exec(message)?.[1]);
  return new CallError(
    errorCodes.limitExceeded,
    `Quota exceeded: the domain's ResourceQuota ${quota} allows ${Number.isFinite(limit) ? limit : "no more"} Tasks, finished ones included until they expire; try again later`,
    { reason: "DomainQuota", quota, ...(Number.isFinite(limit) ? { limit } : {}) },
    429,
  );
}
