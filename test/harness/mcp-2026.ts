/**
 * Hand-made MCP 2026-07-28 requests, as a client sends them: _meta with the
 * protocol version and client capabilities, MCP-Protocol-Version, Mcp-Method
 * and Mcp-Name, for tests that check the gateway's answers to the letter.
 */
export const protocol2026 = "2026-07-28";
export const tasksExtension = "io.modelcontextprotocol/tasks";

export interface Request2026Options {
  token?: string;
  /** Declare the tasks extension in the client capabilities. */
  extensions?: boolean;
  headers?: Record<string, string>;
  /** The whole _meta, instead of the usual one (merged with params._meta). */
  meta?: Record<string, unknown>;
  id?: number;
}

/** The fetch options of one request. */
export function request2026(method: string, params: Record<string, unknown> = {}, opts: Request2026Options = {}) {
  const name = (params.name ?? params.uri ?? params.taskId) as string | undefined;
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": protocol2026,
      "mcp-method": method,
      ...(name !== undefined ? { "mcp-name": name } : {}),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: opts.id ?? 7,
      method,
      params: {
        ...params,
        _meta: opts.meta ?? {
          ...((params._meta as object | undefined) ?? {}),
          "io.modelcontextprotocol/protocolVersion": protocol2026,
          "io.modelcontextprotocol/clientCapabilities": opts.extensions ? { extensions: { [tasksExtension]: {} } } : {},
        },
      },
    }),
  };
}

/** Sends one request and reads its JSON answer. */
export async function rpc2026(
  url: URL | string,
  method: string,
  params: Record<string, unknown> = {},
  opts: Request2026Options = {},
) {
  const res = await fetch(url, request2026(method, params, opts));
  // biome-ignore lint/suspicious/noExplicitAny: JSON-RPC answers are read as plain JSON
  return { status: res.status, body: (await res.json()) as any };
}
