/**
 * The gateway: MCP over Streamable HTTP at /mcp (Hono on Bun), a session per
 * Mcp-Session-Id, tools kept current from the domain's Agents with
 * notifications/tools/list_changed when the set changes.
 */
import { randomUUID } from "node:crypto";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { Hono } from "hono";
import type { Agent } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { Informer } from "../../lib/kube/informer.ts";
import type { Logger } from "../../lib/log.ts";
import { createMcpServer, type ToolSource } from "./mcp-server.ts";
import { TaskCalls } from "./task-calls.ts";
import { type GatewayTool, type ToolConflict, toolsFromAgents } from "./tool-registry.ts";

export interface GatewayOptions {
  conn: KubeConnection;
  namespace: string;
  log: Logger;
}

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: Server;
}

const jsonRpcError = (status: number, code: number, message: string) =>
  new Response(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }), {
    status,
    headers: { "Content-Type": "application/json" },
  });

export class Gateway implements ToolSource {
  readonly app = new Hono();
  private readonly agents: Informer<Agent>;
  private readonly calls: TaskCalls;
  private readonly sessions = new Map<string, Session>();
  private current: { tools: GatewayTool[]; byName: Map<string, GatewayTool>; conflicts: ToolConflict[]; key: string } =
    {
      tools: [],
      byName: new Map(),
      conflicts: [],
      key: "[]",
    };
  private readonly log: Logger;

  constructor(opts: GatewayOptions) {
    this.log = opts.log.child({ domain: opts.namespace });
    const clients = mcpClients(opts.conn);
    this.calls = new TaskCalls(clients, opts.namespace, this.log);
    this.agents = new Informer(clients.agents, { namespace: opts.namespace, logger: this.log });
    const refresh = () => this.refreshTools();
    this.agents.on({ add: refresh, update: refresh, delete: refresh });
    this.routes();
  }

  tools(): GatewayTool[] {
    return this.current.tools;
  }

  get(name: string): GatewayTool | undefined {
    return this.current.byName.get(name);
  }

  get conflicts(): ToolConflict[] {
    return this.current.conflicts;
  }

  get ready(): boolean {
    return this.agents.hasSynced && this.calls.informer.hasSynced;
  }

  async start(): Promise<void> {
    await Promise.all([this.agents.start(), this.calls.start()]);
    this.refreshTools();
  }

  async stop(): Promise<void> {
    for (const s of this.sessions.values()) await s.transport.close();
    this.sessions.clear();
    await Promise.all([this.agents.stop(), this.calls.stop()]);
  }

  private refreshTools(): void {
    const { tools, conflicts } = toolsFromAgents(this.agents.list());
    const key = JSON.stringify(tools.map((t) => [t.name, t.title, t.description, t.inputSchema, t.outputSchema]));
    const changed = key !== this.current.key;
    for (const c of conflicts) {
      if (!this.current.conflicts.some((o) => o.message === c.message))
        this.log.warn({ tool: c.name, agents: c.agents }, c.message);
    }
    this.current = { tools, byName: new Map(tools.map((t) => [t.name, t])), conflicts, key };
    if (changed) {
      for (const s of this.sessions.values()) void s.server.sendToolListChanged().catch(() => {});
    }
  }

  private routes(): void {
    this.app.all("/mcp", async (c) => {
      const sessionId = c.req.header("mcp-session-id");
      if (sessionId) {
        const s = this.sessions.get(sessionId);
        if (!s) return jsonRpcError(404, -32001, "Session not found");
        return s.transport.handleRequest(c.req.raw);
      }
      if (c.req.method !== "POST") return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return jsonRpcError(400, -32700, "Parse error: the body is not JSON");
      }
      const messages = Array.isArray(body) ? body : [body];
      if (!messages.some((m) => isInitializeRequest(m))) {
        return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      }
      const server = createMcpServer({ tools: this, calls: this.calls, log: this.log });
      const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          this.sessions.set(id, { transport, server });
          this.log.info({ mcpSession: id }, "Opened MCP session");
        },
        onsessionclosed: (id) => {
          this.sessions.delete(id);
          this.log.info({ mcpSession: id }, "Closed MCP session");
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) this.sessions.delete(transport.sessionId);
      };
      await server.connect(transport);
      return transport.handleRequest(c.req.raw, { parsedBody: body });
    });
    this.app.get("/healthz", (c) => c.text("ok"));
    this.app.get("/livez", (c) => c.text("ok"));
    this.app.get("/readyz", (c) => (this.ready ? c.text("ok") : c.text("not ready", 503)));
  }
}

/** Serves the gateway on Bun with no idle timeout: tool calls and SSE streams may be long. */
export function serveGateway(gateway: Gateway, opts: { port: number; hostname?: string }) {
  return Bun.serve({ port: opts.port, hostname: opts.hostname ?? "0.0.0.0", idleTimeout: 0, fetch: gateway.app.fetch });
}
