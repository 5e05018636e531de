/**
 * What 2025 sessions need of the SDK: its Streamable HTTP server transport,
 * the initialize check and the versions it speaks, and the MCP server over
 * the gateway's calls. gateway.ts loads this with the first session (or the
 * first server made for stdio), so a gateway at rest, or serving only
 * 2026-07-28 requests, does not carry the SDK's schemas (mcp-error.ts).
 */
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";

export { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
export { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
export { createMcpServer } from "./mcp-server.ts";

/**
 * The request as the session's transport should see it: with the protocol
 * version the session negotiated when its header names an older one the SDK
 * also speaks. The SDK decides per request from that header whether a stream
 * starts with a priming event (only for 2025-11-25 and later, since older
 * clients may choke on an event without data); a client that negotiated
 * 2025-11-25 reads them whatever a later header says, and without the event it
 * could not resume a broken stream. Anything else is left to the SDK as sent.
 */
export function atNegotiatedVersion(req: Request, negotiated: string): Request {
  const sent = req.headers.get("mcp-protocol-version");
  if (!sent || sent >= negotiated || !SUPPORTED_PROTOCOL_VERSIONS.includes(sent)) return req;
  if (!SUPPORTED_PROTOCOL_VERSIONS.includes(negotiated)) return req;
  const headers = new Headers(req.headers);
  headers.set("mcp-protocol-version", negotiated);
  // the body was read already (parsedBody): the copy has none
  return new Request(req.url, { method: req.method, headers, signal: req.signal });
}
