/**
 * MCP's JSON-RPC errors without loading the SDK's protocol schemas: the
 * gateway's idle path (the 2026-07-28 handler, federation's routing, the call
 * core) throws and recognises them, and the SDK's types module costs a
 * process about 15 MiB (zod schemas), which only 2025 sessions and
 * federated connections need (they load it when they start).
 *
 * McpError here has the SDK's name, fields and message ("MCP error <code>:
 * <message>"), so what a client reads is the same whichever class made it;
 * the SDK's server turns any thrown error with a numeric code into its
 * JSON-RPC error without looking at its class. Errors the SDK's client makes
 * (a federated server's answers) are the SDK's own class: isMcpError knows
 * both.
 */

/** The SDK's ErrorCode values that the gateway uses. */
export const ErrorCode = {
  ConnectionClosed: -32000,
  RequestTimeout: -32001,
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;

export class McpError extends Error {
  override readonly name = "McpError";
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(`MCP error ${code}: ${message}`);
  }
}

/** An MCP error of either class: this module's or the SDK's (a federated server's answer, the SDK client's own failures). */
export function isMcpError(err: unknown): err is Error & { code: number; data?: unknown } {
  return err instanceof Error && err.name === "McpError" && Number.isSafeInteger((err as { code?: unknown }).code);
}
