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
import { bodyLimit } from "hono/body-limit";
import type { Agent } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import { opsApp } from "../../lib/http/ops-server.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { Informer } from "../../lib/kube/informer.ts";
import type { Logger } from "../../lib/log.ts";
import { type BreakerOptions, type CatalogKind, Federation } from "./federation.ts";
import { createMcpServer, gatewayInstructions, type ToolSource } from "./mcp-server.ts";
import { GatewayMetrics } from "./metrics.ts";
import { isModernRequest, ModernHandler } from "./modern.ts";
import {
  bearerAuth,
  metadataPath,
  originCheck,
  protectedResourceMetadata,
  rateLimit,
  type TokenTable,
} from "./security.ts";
import { TaskCalls } from "./task-calls.ts";
import { federatedTool, type GatewayTool, mergeTools, type ToolConflict, toolsFromAgents } from "./tool-registry.ts";

export interface GatewaySecurity {
  /** Client identity → bearer token; without tokens, no authentication (for local use). */
  tokens?: TokenTable;
  authorizationServers?: string[];
  /** Origins a browser may call from; patterns may end in ":*". */
  allowedOrigins?: string[];
  /** Host header values accepted, when set. */
  allowedHosts?: string[];
  ratePerSecond?: number;
  burst?: number;
  maxBodyBytes?: number;
}

export interface GatewayOptions {
  conn: KubeConnection;
  namespace: string;
  log: Logger;
  security?: GatewaySecurity;
  /** The circuit breaker of federated MCPServers. */
  federation?: { breaker?: Partial<BreakerOptions>; callTimeoutMs?: number };
}

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: Server;
  client: string;
  /** JSON-RPC ids of this session's requests not yet answered. */
  inFlight: Set<string | number>;
}

/** The ids of the requests (not notifications or responses) in a POST body. */
function requestIds(body: unknown): (string | number)[] {
  const ids: (string | number)[] = [];
  for (const m of Array.isArray(body) ? body : [body]) {
    if (!m || typeof m !== "object") continue;
    const { id, method } = m as { id?: unknown; method?: unknown };
    if (typeof method === "string" && (typeof id === "string" || typeof id === "number")) ids.push(id);
  }
  return ids;
}

/** The response with `release` called once its body has been sent, or abandoned. */
function onBodyDone(res: Response, release: () => void): Response {
  if (!res.body) {
    release();
    return res;
  }
  const reader = res.body.getReader();
  let released = false;
  const done = () => {
    if (!released) {
      released = true;
      release();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done: finished } = await reader.read();
        if (finished) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        done();
        controller.error(err);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

export const defaultAllowedOrigins = ["http://localhost:*", "http://127.0.0.1:*", "https://localhost:*"];

const jsonRpcError = (status: number, code: number, message: string) =>
  new Response(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }), {
    status,
    headers: { "Content-Type": "application/json" },
  });

type Env = { Variables: { client: string } };

export class Gateway implements ToolSource {
  readonly app = new Hono<Env>();
  readonly metrics: GatewayMetrics;
  private readonly agents: Informer<Agent>;
  private readonly calls: TaskCalls;
  readonly federation: Federation;
  /** The 2026-07-28 era on the same endpoint, and its listen streams' callbacks. */
  private readonly modern: ModernHandler;
  private readonly listChanged = new Set<(kind: CatalogKind) => void>();
  private readonly resourceUpdated = new Set<(uri: string) => void>();
  /** The resource URIs each connected MCP server (session) subscribed to. */
  private readonly subscriptions = new Map<Server, Set<string>>();
  private readonly sessions = new Map<string, Session>();
  /** Every connected MCP server (HTTP sessions and stdio), to tell them when tools change. */
  private readonly servers = new Set<Server>();
  private current: { tools: GatewayTool[]; byName: Map<string, GatewayTool>; conflicts: ToolConflict[]; key: string } =
    {
      tools: [],
      byName: new Map(),
      conflicts: [],
      key: "[]",
    };
  private readonly log: Logger;
  /** The domain this gateway serves. */
  readonly namespace: string;

  constructor(opts: GatewayOptions) {
    this.namespace = opts.namespace;
    this.log = opts.log.child({ domain: opts.namespace });
    const clients = mcpClients(opts.conn);
    this.calls = new TaskCalls(clients, opts.namespace, this.log);
    this.agents = new Informer(clients.agents, { namespace: opts.namespace, logger: this.log });
    const refresh = () => this.refreshTools();
    this.agents.on({ add: refresh, update: refresh, delete: refresh });
    this.federation = new Federation({
      conn: opts.conn,
      namespace: opts.namespace,
      log: this.log,
      breaker: opts.federation?.breaker,
      callTimeoutMs: opts.federation?.callTimeoutMs,
    });
    this.federation.onChange((kind) => {
      if (kind === "tools") return this.refreshTools();
      for (const fn of this.listChanged) fn(kind);
      for (const server of this.servers) {
        const sent = kind === "resources" ? server.sendResourceListChanged() : server.sendPromptListChanged();
        void Promise.resolve(sent).catch(() => {});
      }
    });
    this.federation.onResourceUpdated((uri) => {
      for (const fn of this.resourceUpdated) fn(uri);
      for (const [server, uris] of this.subscriptions)
        if (uris.has(uri)) void server.sendResourceUpdated({ uri }).catch(() => {});
    });
    this.metrics = new GatewayMetrics(opts.namespace, {
      inFlight: () => this.calls.inFlight,
      sessions: () => this.sessions.size,
    });
    this.modern = new ModernHandler({
      tools: this,
      calls: this.calls,
      federation: this.federation,
      log: this.log,
      metrics: this.metrics,
      instructions: gatewayInstructions,
      onListChanged: (fn) => {
        this.listChanged.add(fn);
        return () => this.listChanged.delete(fn);
      },
      onResourceUpdated: (fn) => {
        this.resourceUpdated.add(fn);
        return () => this.resourceUpdated.delete(fn);
      },
    });
    this.routes(opts.security ?? {});
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
    return this.agents.hasSynced && this.calls.informer.hasSynced && this.federation.hasSynced;
  }

  async start(): Promise<void> {
    await Promise.all([this.agents.start(), this.calls.start(), this.federation.start()]);
    this.refreshTools();
  }

  async stop(): Promise<void> {
    for (const s of this.sessions.values()) await s.transport.close();
    this.sessions.clear();
    await Promise.all([this.agents.stop(), this.calls.stop(), this.federation.stop()]);
  }

  /** An MCP server over this gateway's tools and calls, for one session (HTTP) or one process (stdio). */
  createServer(client: string): Server {
    const server = createMcpServer({
      tools: this,
      calls: this.calls,
      log: this.log.child({ client }),
      client,
      metrics: this.metrics,
      federation: this.federation,
      subscriptions: {
        add: (uri) => {
          const set = this.subscriptions.get(server) ?? new Set<string>();
          this.subscriptions.set(server, set);
          set.add(uri);
        },
        remove: (uri) => this.subscriptions.get(server)?.delete(uri),
      },
    });
    this.servers.add(server);
    server.onclose = () => {
      this.servers.delete(server);
      this.subscriptions.delete(server);
    };
    return server;
  }

  private refreshTools(): void {
    const fromAgents = toolsFromAgents(this.agents.list());
    const merged = mergeTools(fromAgents.tools, this.federation.tools().map(federatedTool));
    const tools = merged.tools;
    const conflicts = [...fromAgents.conflicts, ...merged.conflicts];
    const key = JSON.stringify(tools.map((t) => [t.name, t.title, t.description, t.inputSchema, t.outputSchema]));
    const changed = key !== this.current.key;
    for (const c of conflicts) {
      if (!this.current.conflicts.some((o) => o.message === c.message))
        this.log.warn({ tool: c.name, agents: c.agents }, c.message);
    }
    this.current = { tools, byName: new Map(tools.map((t) => [t.name, t])), conflicts, key };
    if (changed) {
      for (const server of this.servers) void server.sendToolListChanged().catch(() => {});
      for (const fn of this.listChanged) fn("tools");
    }
  }

  private routes(sec: GatewaySecurity): void {
    const auth = sec.tokens?.size ? { tokens: sec.tokens, authorizationServers: sec.authorizationServers } : undefined;
    if (!auth) this.log.warn("No gateway tokens configured: /mcp accepts every caller");
    this.app.use("*", async (c, next) => {
      await next();
      this.metrics.httpRequests.inc({ method: c.req.method, status: String(c.res.status) });
    });
    this.app.get(metadataPath, (c) => c.json(protectedResourceMetadata(c, auth ?? { tokens: new Map() })));
    this.app.use(
      "/mcp",
      originCheck({ allowedOrigins: sec.allowedOrigins ?? defaultAllowedOrigins, allowedHosts: sec.allowedHosts }),
    );
    this.app.use(
      "/mcp",
      bodyLimit({
        maxSize: sec.maxBodyBytes ?? 1024 * 1024,
        onError: (c) =>
          c.json({ jsonrpc: "2.0", error: { code: -32000, message: "Request body too large" }, id: null }, 413),
      }),
    );
    if (auth) this.app.use("/mcp", bearerAuth(auth));
    this.app.use("/mcp", rateLimit({ ratePerSecond: sec.ratePerSecond ?? 50, burst: sec.burst ?? 100 }));

    this.app.all("/mcp", async (c) => {
      const client = c.get("client") ?? "anonymous";
      const authInfo = { token: "", clientId: client, scopes: [] };
      let body: unknown;
      if (c.req.method === "POST") {
        try {
          body = await c.req.json();
        } catch {
          return jsonRpcError(400, -32700, "Parse error: the body is not JSON");
        }
        // 2026-07-28 requests are stateless and answered on their own; the rest are 2025 sessions.
        if (isModernRequest(c.req.raw.headers, body)) return this.modern.handle(c.req.raw, body, client);
        for (const m of Array.isArray(body) ? body : [body]) {
          const method = (m as { method?: unknown })?.method;
          if (typeof method === "string") this.metrics.rpcRequests.inc({ method: method.slice(0, 64) });
        }
      } else if ((c.req.header("mcp-protocol-version") ?? "") >= "2026") {
        // 2026-07-28 has no GET stream (subscriptions/listen replaces it) and no sessions to DELETE.
        return jsonRpcError(405, -32000, "Method Not Allowed: 2026-07-28 takes POST only");
      }
      const sessionId = c.req.header("mcp-session-id");
      if (sessionId) {
        const s = this.sessions.get(sessionId);
        // Another client's session is as unknown to this one as a made-up id.
        if (!s || s.client !== client) return jsonRpcError(404, -32001, "Session not found");
        // A second request with the id of one still running would never be answered
        // (responses are routed by id): refuse it instead.
        const ids = requestIds(body);
        const clash = ids.find((id) => s.inFlight.has(id));
        if (clash !== undefined)
          return jsonRpcError(
            400,
            -32600,
            `Invalid Request: id ${JSON.stringify(clash)} is already in flight on this session`,
          );
        if (ids.length === 0) return s.transport.handleRequest(c.req.raw, { parsedBody: body, authInfo });
        for (const id of ids) s.inFlight.add(id);
        const release = () => {
          for (const id of ids) s.inFlight.delete(id);
        };
        try {
          return onBodyDone(await s.transport.handleRequest(c.req.raw, { parsedBody: body, authInfo }), release);
        } catch (err) {
          release();
          throw err;
        }
      }
      if (c.req.method !== "POST") return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      const messages = Array.isArray(body) ? body : [body];
      if (!messages.some((m) => isInitializeRequest(m))) {
        return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      }
      const server = this.createServer(client);
      const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          this.sessions.set(id, { transport, server, client, inFlight: new Set() });
          this.log.info({ mcpSession: id, client }, "Opened MCP session");
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
      return transport.handleRequest(c.req.raw, { parsedBody: body, authInfo });
    });
    this.app.route("/", opsApp({ registry: this.metrics.registry, ready: () => this.ready }));
  }
}

/** Serves the gateway on Bun with no idle timeout: tool calls and SSE streams may be long. */
export function serveGateway(gateway: Gateway, opts: { port: number; hostname?: string }) {
  return Bun.serve({ port: opts.port, hostname: opts.hostname ?? "0.0.0.0", idleTimeout: 0, fetch: gateway.app.fetch });
}
