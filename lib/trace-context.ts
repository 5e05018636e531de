/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) as an MCP request
 * carries it: in the request's `_meta.traceparent` (as SEP-414 proposes, so
 * a trace survives transports without headers, stdio) or the HTTP
 * `traceparent` header. The gateway records it on the call's Task, whence the
 * audit record takes its trace id.
 */

/** The annotation of a Task that holds its call's traceparent (the gateway's span, or the client's). */
export const traceparentAnnotation = "mcp.io/traceparent";

const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A traceparent as the spec allows it (not version ff, no all-zero ids), or undefined. */
export function validTraceparent(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const m = traceparentPattern.exec(v.trim().toLowerCase());
  if (!m || m[1] === "ff" || /^0+$/.test(m[2] ?? "") || /^0+$/.test(m[3] ?? "")) return undefined;
  return m[0];
}

/** The trace context of one MCP request: its `_meta` first (the client's own), then the HTTP header. */
export function requestTraceparent(
  meta: unknown,
  header: string | readonly string[] | null | undefined,
): string | undefined {
  const fromMeta = meta && typeof meta === "object" ? (meta as Record<string, unknown>).traceparent : undefined;
  // a header sent twice is no trace context (the spec: a vendor must not pick one)
  return validTraceparent(fromMeta) ?? validTraceparent(typeof header === "string" ? header : undefined);
}

/** The trace id of a traceparent, if it is one. */
export const traceIdOfTraceparent = (traceparent: string | undefined): string | undefined =>
  validTraceparent(traceparent)?.slice(3, 35);
