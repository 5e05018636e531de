/**
 * Serves a stdio MCP server over Streamable HTTP. Each MCP session gets a
 * process of its own, because a stdio server speaks to exactly one client:
 * the session's initialize starts it, DELETE or the process's exit ends it.
 * Messages pass through unchanged; progress notifications go out on the
 * stream of the request whose progressToken they carry, and a server's own
 * requests (sampling, elicitation) on the stream of its only request in
 * flight, else on the session's GET stream.
 */
import { randomUUID } from "node:crypto";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js";
import { type Logger, logIgnored } from "../../lib/log.ts";

export interface BridgeOptions {
  command: string;
  args: string[];
  /** The MCP endpoint's path. */
  path: string;
  /** More sessions than this at once get 503: each is a process. */
  maxSessions: number;
  env?: Record<string, string>;
  log: Logger;
}

interface Session {
  http: WebStandardStreamableHTTPServerTransport;
  child: StdioClientTransport;
  /** Requests from the client not yet answered, and their progress tokens. */
  inFlight: Set<RequestId>;
  progress: Map<string | number, RequestId>;
}

const jsonError = (status: number, code: number, message: string) =>
  Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status });

export class StdioBridge {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly opts: BridgeOptions) {}

  get sessionCount(): number {
    return this.sessions.size;
  }

  fetch = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === "/healthz") return new Response("ok");
    if (url.pathname !== this.opts.path) return new Response("not found", { status: 404 });
    const id = req.headers.get("mcp-session-id");
    if (id) {
      const s = this.sessions.get(id);
      if (!s) return jsonError(404, -32001, "Session not found");
      return s.http.handleRequest(req);
    }
    if (req.method !== "POST") return jsonError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return jsonError(400, -32700, "Parse error: the body is not JSON");
    }
    const messages = Array.isArray(body) ? body : [body];
    if (!messages.some((m) => isInitializeRequest(m)))
      return jsonError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
    if (this.sessions.size >= this.opts.maxSessions) return jsonError(503, -32000, "Too many sessions");
    return this.open(req, body);
  };

  private async open(req: Request, body: unknown): Promise<Response> {
    const log = this.opts.log;
    const child = new StdioClientTransport({
      command: this.opts.command,
      args: this.opts.args,
      env: this.opts.env,
      stderr: "inherit",
    });
    let session: Session | undefined;
    const http = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        if (session) this.sessions.set(sid, session);
        log.info({ mcpSession: sid, pid: child.pid }, "Started the server for a session");
      },
      onsessionclosed: (sid) => {
        this.sessions.delete(sid);
        void child.close();
      },
    });
    session = { http, child, inFlight: new Set(), progress: new Map() };
    const s = session;
    http.onmessage = (msg: JSONRPCMessage) => {
      if ("method" in msg && "id" in msg) {
        s.inFlight.add(msg.id);
        const token = (msg.params as { _meta?: { progressToken?: string | number } } | undefined)?._meta?.progressToken;
        if (token !== undefined) s.progress.set(token, msg.id);
      }
      child.send(msg).catch((err: Error) => log.warn({ err }, "Could not write to the server"));
    };
    child.onmessage = (msg: JSONRPCMessage) => {
      let related: RequestId | undefined;
      if ("id" in msg && !("method" in msg)) {
        const answered = msg.id;
        if (answered !== undefined) s.inFlight.delete(answered);
        for (const [t, rid] of s.progress) if (rid === answered) s.progress.delete(t);
      } else if ("method" in msg && msg.method === "notifications/progress") {
        related = s.progress.get((msg.params as { progressToken: string | number }).progressToken);
      } else if (s.inFlight.size === 1) {
        related = [...s.inFlight][0];
      }
      http
        .send(msg, related !== undefined ? { relatedRequestId: related } : undefined)
        .catch(logIgnored(log, "Sending a server message to the client", { mcpSession: http.sessionId }));
    };
    child.onclose = () => {
      if (http.sessionId) this.sessions.delete(http.sessionId);
      log.info({ mcpSession: http.sessionId }, "The server process exited");
      void http.close();
    };
    child.onerror = (err) => log.warn({ err, mcpSession: http.sessionId }, "Server process error");
    try {
      await child.start();
    } catch (err) {
      log.error({ err, command: this.opts.command }, "Could not start the server");
      return jsonError(502, -32603, `could not start the MCP server: ${(err as Error).message}`);
    }
    await http.start();
    return http.handleRequest(req, { parsedBody: body });
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) {
      await s.child.close();
      await s.http.close();
    }
    this.sessions.clear();
  }
}
