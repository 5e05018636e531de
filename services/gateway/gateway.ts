/**
 * The gateway: MCP over Streamable HTTP at /mcp (Hono on Bun), a session per
 * Mcp-Session-Id, tools kept current from the domain's Agents with
 * notifications/tools/list_changed when the set changes.
 *
 * Any replica serves any 2025 session (docs/adr/0007): the session id is
 * sealed with the domain's session key and carries what initialize said, so a
 * replica that does not hold a session rebuilds it from the id (a Server and
 * transport, the initialize replayed) and then serves the request. Resource
 * subscriptions are shared through a ConfigMap, a cancelled call is cancelled
 * through its Task; the rest of a session is the same on every replica.
 */

import { hostname } from "node:os";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { InitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Agent, Task } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import { isFinished } from "../../lib/api/task-state.ts";
import { EventRecorder } from "../../lib/controller/events.ts";
import { opsApp } from "../../lib/http/ops-server.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { type Logger, logIgnored } from "../../lib/log.ts";
import { FederatedAudit } from "./audit.ts";
import {
  type AuthEnv,
  anonymous,
  authenticate,
  metadataPath,
  protectedResourceMetadata,
} from "./auth/authenticator.ts";
import { JwtVerifier, KubernetesJwtVerifier } from "./auth/jwt.ts";
import { StaticTokens, type TokenTable } from "./auth/static-tokens.ts";
import { subjectOf } from "./auth/subject.ts";
import { TokenReviewVerifier } from "./auth/token-review.ts";
import { ToolAccessReview } from "./auth/tool-access.ts";
import type { TokenVerifier } from "./auth/types.ts";
import type { CallCore } from "./calls/core.ts";
import { TaskView } from "./calls/task-view.ts";
import type { ToolSource } from "./calls/tools.ts";
import { type Authorize, type Caller, subjectOfCaller } from "./calls/tools.ts";
import { type BreakerOptions, type CatalogKind, Federation } from "./federation.ts";
import { GatewayMetrics } from "./metrics.ts";
import { isModernRequest, ModernHandler } from "./modern.ts";
import { callCore } from "./plans.ts";
import { withCaller } from "./request-caller.ts";
import { RequestStates } from "./request-state.ts";
import { resumeFromTasks } from "./resume-elsewhere.ts";
import {
  claimsFor,
  defaultSessionKeySecret,
  type SessionClaims,
  type SessionKeySource,
  SessionKeys,
  sealSessionId,
  sessionKeyId,
  unsealSessionId,
} from "./sealed-sessions.ts";
import { originCheck, rateLimit } from "./security.ts";
import { gatewayInstructions } from "./server-info.ts";
import { SharedSubscriptions, sessionRef } from "./shared-subscriptions.ts";
import { requestsOfEventId, SessionStreamEvents, streamRequests, streamRetryMs } from "./stream-events.ts";
import { annotations, clientLabelValue, labels, sessionLabelValue, TaskCalls } from "./task-calls.ts";
import {
  federatedTool,
  type GatewayTool,
  mergeTools,
  sameOffer,
  type ToolConflict,
  toolsFromAgents,
} from "./tool-registry.ts";

export interface GatewaySecurity {
  /** Static tokens: client identity → bearer token, fixed for the gateway's life. */
  tokens?: TokenTable;
  /**
   * Static tokens from a folder (a mounted Secret: one file per client, named
   * after it, holding its token), read again when it changes.
   */
  tokensDir?: string;
  /** How often the tokens folder is looked at for changes (default 1 s). */
  tokensCheckMs?: number;
  /**
   * OAuth authorization servers whose JWT access tokens are accepted (their
   * `iss`, exactly); the RFC 9728 metadata names exactly these. A string is
   * an issuer whose JWKS is found by discovery.
   */
  issuers?: (string | { issuer: string; jwksUri?: string })[];
  /**
   * Kubernetes service-account tokens with the resource URI as audience:
   * "jwks" checks them against the apiserver's OIDC discovery and JWKS (no
   * extra RBAC), "tokenreview" asks the apiserver (needs create on
   * tokenreviews; notices deleted pods and ServiceAccounts at once).
   */
  kubernetesTokens?: "jwks" | "tokenreview";
  /**
   * The gateway's resource URI: the audience JWTs and Kubernetes tokens must
   * name, and the `resource` of the metadata. Required with issuers or
   * Kubernetes tokens (the request's Host is the caller's to choose).
   */
  resource?: string;
  /** Scopes an OAuth token must carry (403 insufficient_scope otherwise). */
  requiredScopes?: string[];
  /** More token checks, after the ones above. */
  verifiers?: TokenVerifier[];
  /**
   * Open mode: requests without a token are served as "anonymous". Only for
   * local use; without it and without any token check, /mcp refuses all.
   */
  allowUnauthenticated?: boolean;
  /** Proxies (CIDRs) whose X-Forwarded-For is believed for the rate limit. */
  trustedProxies?: string[];
  /** Origins a browser may call from; patterns may end in ":*". */
  allowedOrigins?: string[];
  /** Host header values accepted, when set. */
  allowedHosts?: string[];
  ratePerSecond?: number;
  burst?: number;
  /** Callers the rate limiter tracks at most (default 10 000). */
  rateLimitMaxKeys?: number;
  maxBodyBytes?: number;
}

export interface GatewayOptions {
  conn: KubeConnection;
  namespace: string;
  log: Logger;
  security?: GatewaySecurity;
  /** The circuit breaker of federated MCPServers. */
  federation?: { breaker?: Partial<BreakerOptions>; callTimeoutMs?: number };
  /** 2025 sessions, which any replica of the domain serves (docs/adr/0007). */
  sessions?: GatewaySessionOptions;
  /**
   * Who may call which tool: "rbac" asks the apiserver whether the caller may
   * `call` tools.mcp.io/<tool> in the namespace (auth/tool-access.ts), "none"
   * lets every caller call every tool (the default here; the gateway process
   * defaults to rbac). An `authorize` hook, when given, decides instead.
   */
  authorization?: "rbac" | "none";
  /** Whether a client may call (and list) a tool, in both eras; by default every client may. */
  authorize?: Authorize;
  /** How long an RBAC decision is trusted (default 10 s). */
  authorizationTtlMs?: number;
  /** A caller's Tasks in flight at most, across replicas (calls/in-flight.ts); no cap by default. */
  maxInFlightPerCaller?: number;
  /** Offer the tool conductor__run_plan, which runs a Plan (plans.ts, docs/plans.md); off by default. */
  plans?: boolean;
  /**
   * Whether the gateway places calls itself and creates their Tasks bound to
   * an agent (task-calls.ts, ADR 0013); true by default. False leaves every
   * Task to the controller's placement (one more status write per call).
   */
  bindCalls?: boolean;
  /** The audit stream the records of federated calls go to (audit.ts); none, none recorded. */
  audit?: Logger;
}

export interface GatewaySessionOptions {
  /**
   * The key that seals session ids; every replica of the domain must have the
   * same. By default the Secret mcp-gateway-session-key of the namespace,
   * created with a random key by the first replica that finds none.
   */
  key?: SessionKeySource;
  /** How long a session id is good for, from initialize (default 24 h). */
  ttlSeconds?: number;
  /**
   * A session with no request and no open stream for this long leaves this
   * replica's memory; its next request rebuilds it (default 15 min).
   */
  idleSeconds?: number;
  /** How often the key's Secret or file is read again for a rotated key (default 60 s). */
  keyRefreshMs?: number;
  /** Share resource subscriptions with the other replicas (default true; stdio has no replicas). */
  shareSubscriptions?: boolean;
  /** The ConfigMap that shares them (default mcp-gateway-subscriptions). */
  subscriptionsConfigMap?: string;
}

interface Session {
  id: string;
  /** The id's hash: how shared state and tombstones name the session. */
  ref: string;
  transport: WebStandardStreamableHTTPServerTransport;
  server: Server;
  client: string;
  /** When the sealed id expires (ms since the epoch). */
  expiresAt: number;
  /** The protocol version the session negotiated at initialize (its sealed claims). */
  protocolVersion: string;
  /** What its streams sent, for a resume (SEP-1699). */
  events: SessionStreamEvents;
  /** JSON-RPC ids of this session's requests not yet answered (on this replica). */
  inFlight: Set<string | number>;
  /** Response bodies still open: the GET stream, POST streams. */
  streams: number;
  lastUsed: number;
}

/** The id of the replayed initialize; the client never sees it. */
const rehydrateRequestId = "mcp-conductor-rehydrate";
const defaultTtlSeconds = 24 * 60 * 60;
const defaultIdleSeconds = 15 * 60;
/** DELETEd sessions remembered here, at most (the oldest go first). */
const maxEnded = 100_000;

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

type Env = AuthEnv;

/**
 * What 2025 sessions need of the SDK (its server, transport and schemas),
 * loaded with the first session, or the first server made for stdio: a
 * gateway serving only 2026-07-28 requests never loads it (mcp-error.ts).
 * Kept once loaded: even a cached module's import() costs each request
 * more than its own dispatch (measured at 100 clients).
 */
let sessionSdk: typeof import("./session-sdk.ts") | undefined;
const loadSessionSdk = async () => {
  sessionSdk ??= await import("./session-sdk.ts");
  return sessionSdk;
};

export class Gateway implements ToolSource {
  readonly app = new Hono<Env>();
  /** /metrics and the probes, for a port of their own (serveGateway's metricsPort). */
  opsApp!: Hono;
  readonly metrics: GatewayMetrics;
  private readonly agents: Informer<Agent>;
  private readonly calls: TaskCalls;
  /** Tool calls and MCP tasks of both protocol eras (calls/). */
  private readonly core: CallCore;
  private readonly view: TaskView;
  readonly federation: Federation;
  /** The 2026-07-28 era on the same endpoint, and its listen streams' callbacks. */
  private readonly modern: ModernHandler;
  private readonly listChanged = new Set<(kind: CatalogKind) => void>();
  private readonly resourceUpdated = new Set<(uri: string) => void>();
  /** The resource URIs each connected MCP server (session) subscribed to. */
  private readonly subscriptions = new Map<Server, Set<string>>();
  private readonly sessions = new Map<string, Session>();
  /** The held sessions by ref, for shared subscriptions. */
  private readonly byRef = new Map<string, Session>();
  /** Sessions being rebuilt from their ids: concurrent first requests share one rebuild. */
  private readonly rehydrating = new Map<string, Promise<Session | undefined>>();
  /** Refs of sessions DELETEd on this replica → when their ids expire: not rebuilt here again. */
  private readonly ended = new Map<string, number>();
  private readonly keys: SessionKeys;
  private readonly shared: SharedSubscriptions | undefined;
  private readonly ttlSeconds: number;
  private readonly idleMs: number;
  private sweeper: ReturnType<typeof setInterval> | undefined;
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
  /** RBAC decisions, when authorization is "rbac". */
  readonly toolAccess: ToolAccessReview | undefined;
  private readonly events: EventRecorder;
  /** (user, tool) → when a denial Event was last recorded: one Event a minute each, not one per call. */
  private readonly deniedEvents = new Map<string, number>();

  constructor(opts: GatewayOptions) {
    this.namespace = opts.namespace;
    this.log = opts.log.child({ domain: opts.namespace });
    const clients = mcpClients(opts.conn);
    this.calls = new TaskCalls(
      clients,
      opts.namespace,
      this.log,
      opts.bindCalls === false ? undefined : { agent: (name) => this.agents.get(opts.namespace, name) },
    );
    this.agents = new Informer(clients.agents, { namespace: opts.namespace, logger: this.log });
    const refresh = () => this.refreshTools();
    this.agents.on({
      add: refresh,
      // heartbeats are most updates; only a change of what an agent offers rebuilds the registry
      update: (agent, old) => {
        if (!sameOffer(agent, old)) refresh();
      },
      delete: refresh,
    });
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
        void Promise.resolve(sent).catch(logIgnored(this.log, "A list_changed notification"));
      }
    });
    this.federation.onResourceUpdated((uri) => {
      for (const fn of this.resourceUpdated) fn(uri);
      for (const [server, uris] of this.subscriptions)
        if (uris.has(uri))
          void server
            .sendResourceUpdated({ uri })
            .catch(logIgnored(this.log, "A resource update notification", { uri }));
    });
    const so = opts.sessions ?? {};
    this.ttlSeconds = so.ttlSeconds ?? defaultTtlSeconds;
    this.idleMs = (so.idleSeconds ?? defaultIdleSeconds) * 1000;
    this.keys = new SessionKeys({
      source: so.key ?? { secret: defaultSessionKeySecret },
      conn: opts.conn,
      namespace: opts.namespace,
      log: this.log,
      refreshMs: so.keyRefreshMs,
    });
    if (so.shareSubscriptions ?? true) {
      this.shared = new SharedSubscriptions({
        conn: opts.conn,
        namespace: opts.namespace,
        log: this.log,
        name: so.subscriptionsConfigMap,
      });
      this.shared.onChange((ref, uri, on) => {
        const s = this.byRef.get(ref);
        if (!s) return;
        if (on) void this.subscribeLocal(s.server, uri);
        else this.unsubscribeLocal(s.server, uri);
      });
    }
    this.metrics = new GatewayMetrics(opts.namespace, {
      inFlight: () => this.calls.inFlight,
      sessions: () => this.sessions.size,
    });
    this.events = new EventRecorder(opts.conn, "mcp-gateway", hostname(), this.log);
    if (!opts.authorize && opts.authorization === "rbac")
      this.toolAccess = new ToolAccessReview(opts.conn, {
        namespace: opts.namespace,
        ttlMs: opts.authorizationTtlMs,
        onDecision: (d) =>
          this.metrics.toolAuthorizations.inc({ decision: d.allowed ? "allowed" : "denied", cached: String(d.cached) }),
      });
    const access = this.toolAccess;
    const authorize: Authorize | undefined =
      opts.authorize ?? (access ? (caller, tool) => access.allowed(subjectOfCaller(caller), tool) : undefined);
    const audit = opts.audit
      ? new FederatedAudit({
          namespace: opts.namespace,
          audit: opts.audit,
          events: this.events,
          server: (name) => this.federation.servers.get(opts.namespace, name),
        })
      : undefined;
    const plans = opts.plans ? { clients, namespace: opts.namespace, log: this.log, metrics: this.metrics } : undefined;
    this.core = callCore(plans, {
      tools: this,
      store: this.calls,
      federation: this.federation,
      metrics: this.metrics,
      authorize,
      maxInFlightPerCaller: opts.maxInFlightPerCaller,
      onDenied: (caller, tool) => this.recordDenial(caller, tool),
      onFederatedCall: audit ? (c) => audit.record(c) : undefined,
    });
    this.view = new TaskView(this.calls, this.log, authorize);
    this.modern = new ModernHandler({
      core: this.core,
      view: this.view,
      calls: this.calls,
      requestStates: new RequestStates(this.keys, this.namespace),
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
    this.routes(opts.security ?? {}, opts.conn);
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
    return this.agents.hasSynced && this.calls.informer.hasSynced && this.federation.hasSynced && this.keys.ready;
  }

  async start(): Promise<void> {
    await Promise.all([this.agents.start(), this.calls.start(), this.federation.start(), this.keys.start()]);
    this.shared?.start();
    this.sweeper = setInterval(() => this.sweep(), Math.max(1_000, Math.min(60_000, this.idleMs / 2)));
    this.sweeper.unref?.();
    this.refreshTools();
  }

  /** Stop cancelling the Tasks of requests that end from now on: the gateway, not their clients, is going. */
  drain(): void {
    this.core.drain();
  }

  async stop(): Promise<void> {
    this.drain();
    clearInterval(this.sweeper);
    this.keys.stop();
    for (const s of [...this.sessions.values()]) await s.transport.close();
    this.sessions.clear();
    this.byRef.clear();
    await Promise.all([this.agents.stop(), this.calls.stop(), this.federation.stop(), this.shared?.stop()]);
    await this.events.flush();
  }

  /** An MCP server over this gateway's tools and calls, for one session (HTTP) or one process (stdio). */
  async createServer(client: string): Promise<Server> {
    const { createMcpServer } = await loadSessionSdk();
    const server = createMcpServer({
      core: this.core,
      view: this.view,
      log: this.log.child({ client }),
      client,
      federation: this.federation,
      subscriptions: {
        add: async (uri, sessionId) => {
          await this.subscribeLocal(server, uri);
          const s = sessionId ? this.sessions.get(sessionId) : undefined;
          if (s?.server === server) await this.shared?.add(s.ref, uri, Math.floor(s.expiresAt / 1000));
        },
        remove: async (uri, sessionId) => {
          this.unsubscribeLocal(server, uri);
          const s = sessionId ? this.sessions.get(sessionId) : undefined;
          if (s?.server === server) await this.shared?.remove(s.ref, uri);
        },
      },
    });
    this.servers.add(server);
    server.onclose = () => this.forgetServer(server);
    return server;
  }

  /**
   * A Warning Event on the Agent (or MCPServer) that serves a tool a caller
   * was refused, so `kubectl describe` shows who tried: at most one a minute
   * per caller and tool.
   */
  private recordDenial(caller: Caller, tool: GatewayTool): void {
    const user = subjectOfCaller(caller).user;
    const key = `${user}\u0000${tool.name}`;
    const now = Date.now();
    if (now - (this.deniedEvents.get(key) ?? 0) < 60_000) return;
    this.deniedEvents.delete(key);
    this.deniedEvents.set(key, now);
    if (this.deniedEvents.size > 10_000) this.deniedEvents.delete(this.deniedEvents.keys().next().value as string);
    const server = tool.federated?.server;
    const agent = tool.agents[0];
    const held = server
      ? this.federation.servers.get(this.namespace, server)
      : agent
        ? this.agents.get(this.namespace, agent)
        : undefined;
    const involved = held ?? {
      apiVersion: "mcp.io/v1",
      kind: server ? "MCPServer" : "Agent",
      metadata: { name: server ?? agent ?? tool.name, namespace: this.namespace },
    };
    this.events.record(
      { ...involved, apiVersion: "mcp.io/v1", kind: server ? "MCPServer" : "Agent" },
      "Warning",
      "ToolCallForbidden",
      `${user} may not call tool ${tool.name}: no Role grants verb call on tools.mcp.io/${tool.name} in ${this.namespace}`,
    );
  }

  /** Forwards the URI's updates to this server, subscribing upstream (once per replica). */
  private async subscribeLocal(server: Server, uri: string): Promise<void> {
    const set = this.subscriptions.get(server) ?? new Set<string>();
    this.subscriptions.set(server, set);
    set.add(uri);
    await this.federation
      .subscribe(uri)
      .catch((err: Error) => this.log.warn({ uri, err }, "Could not subscribe upstream"));
  }

  /** Stops forwarding; the upstream subscription ends with the replica's last subscriber. */
  private unsubscribeLocal(server: Server, uri: string): void {
    if (!this.subscriptions.get(server)?.delete(uri)) return;
    for (const uris of this.subscriptions.values()) if (uris.has(uri)) return;
    void this.federation.unsubscribe(uri).catch(logIgnored(this.log, "Unsubscribing upstream", { uri }));
  }

  private forgetServer(server: Server): void {
    this.servers.delete(server);
    for (const uri of [...(this.subscriptions.get(server) ?? [])]) this.unsubscribeLocal(server, uri);
    this.subscriptions.delete(server);
  }

  /**
   * A Server and transport for a session; `mint` names it (a new sealed id,
   * or the id a session is rebuilt under) when initialize arrives.
   */
  private async connectSession(
    client: string,
    mint: () => { id: string; claims: SessionClaims },
  ): Promise<WebStandardStreamableHTTPServerTransport> {
    const { WebStandardStreamableHTTPServerTransport } = await loadSessionSdk();
    const server = await this.createServer(client);
    const events = new SessionStreamEvents();
    let claims: SessionClaims | undefined;
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      // Resumable streams (SEP-1699): a priming event first, the retry field, replay after Last-Event-ID.
      eventStore: events,
      retryInterval: streamRetryMs,
      sessionIdGenerator: () => {
        const m = mint();
        claims = m.claims;
        return m.id;
      },
      onsessioninitialized: (id) =>
        this.hold({
          id,
          ref: sessionRef(id),
          transport,
          server,
          client,
          expiresAt: (claims?.exp ?? 0) * 1000,
          protocolVersion: claims?.protocolVersion ?? "",
          events,
          inFlight: new Set(),
          streams: 0,
          lastUsed: Date.now(),
        }),
      // DELETE: this replica will not bring the session back; the others may until it expires (ADR 0007).
      onsessionclosed: (id) => {
        const ref = sessionRef(id);
        this.ended.set(ref, (claims?.exp ?? 0) * 1000);
        if (this.ended.size > maxEnded) this.ended.delete(this.ended.keys().next().value as string);
        void this.shared?.forget(ref);
        this.log.info({ mcpSession: sessionLabelValue(id), client }, "Closed MCP session");
      },
    });
    await server.connect(transport);
    // Replaces the SDK's own close handling, as before: closing a session here
    // (DELETE, idle, shutdown) leaves its running calls and their Tasks alone.
    transport.onclose = () => {
      const id = transport.sessionId;
      const s = id ? this.sessions.get(id) : undefined;
      if (id && s?.transport === transport) {
        this.sessions.delete(id);
        this.byRef.delete(s.ref);
      }
      this.forgetServer(server);
    };
    return transport;
  }

  private hold(s: Session): void {
    this.sessions.set(s.id, s);
    this.byRef.set(s.ref, s);
    // Subscriptions the session made through other replicas.
    for (const uri of this.shared?.urisOf(s.ref) ?? []) void this.subscribeLocal(s.server, uri);
  }

  /** The session an id names for this client: held here, or rebuilt from the sealed id. */
  private async session(id: string, client: string, url: string): Promise<Session | undefined> {
    const held = this.sessions.get(id);
    if (held) return this.usable(held, client);
    const kid = sessionKeyId(id);
    const key = kid ? await this.keys.get(kid) : undefined;
    const claims = key ? unsealSessionId(key, this.namespace, id) : undefined;
    // Another client's session is as unknown to this one as a made-up id.
    if (!claims || claims.client !== client || this.ended.has(sessionRef(id))) {
      this.metrics.sessionRehydrations.inc({ outcome: "rejected" });
      return undefined;
    }
    const again = this.sessions.get(id);
    if (again) return this.usable(again, client);
    let rebuilt = this.rehydrating.get(id);
    if (!rebuilt) {
      rebuilt = this.rehydrate(id, claims, url).finally(() => this.rehydrating.delete(id));
      this.rehydrating.set(id, rebuilt);
    }
    return rebuilt;
  }

  private usable(s: Session, client: string): Session | undefined {
    if (s.client !== client) return undefined;
    if (s.expiresAt > Date.now()) return s;
    void s.transport.close();
    return undefined;
  }

  /**
   * Rebuilds a session on this replica with the SDK's public API: a Server and
   * a transport that names itself with the same id, the initialize and
   * initialized the client once sent replayed from the sealed claims (their
   * answers dropped).
   */
  private async rehydrate(id: string, claims: SessionClaims, url: string): Promise<Session | undefined> {
    const transport = await this.connectSession(claims.client, () => ({ id, claims }));
    const authInfo = { token: "", clientId: claims.client, scopes: [] };
    const headers = { accept: "application/json, text/event-stream", "content-type": "application/json" };
    const replay = async (message: Record<string, unknown>, extra: Record<string, string> = {}) => {
      const req = new Request(url, {
        method: "POST",
        headers: { ...headers, ...extra },
        body: JSON.stringify(message),
      });
      const res = await transport.handleRequest(req, { parsedBody: message, authInfo });
      return { status: res.status, text: await res.text() };
    };
    try {
      const init = await replay({
        jsonrpc: "2.0",
        id: rehydrateRequestId,
        method: "initialize",
        params: {
          protocolVersion: claims.protocolVersion,
          capabilities: claims.capabilities,
          clientInfo: claims.clientInfo,
        },
      });
      if (init.status !== 200 || !init.text.includes('"result"'))
        throw new Error(`initialize answered ${init.status}: ${init.text.slice(0, 200)}`);
      const note = await replay({ jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": id });
      if (note.status !== 202) throw new Error(`notifications/initialized answered ${note.status}`);
    } catch (err) {
      this.log.error({ err }, "Could not rebuild an MCP session");
      await transport.close();
      return undefined;
    }
    this.metrics.sessionRehydrations.inc({ outcome: "rehydrated" });
    this.log.info({ mcpSession: sessionLabelValue(id), client: claims.client }, "Rebuilt MCP session from its id");
    return this.sessions.get(id);
  }

  /** Ends expired sessions, and idle ones (they come back on their next request). */
  private sweep(): void {
    const now = Date.now();
    for (const s of [...this.sessions.values()]) {
      const idle = s.inFlight.size === 0 && s.streams === 0 && now - s.lastUsed > this.idleMs;
      if (idle || s.expiresAt <= now) void s.transport.close();
    }
    for (const [ref, until] of this.ended) if (until <= now) this.ended.delete(ref);
  }

  /** The response, with the session's bookkeeping undone once its body is sent or abandoned. */
  private respond(s: Session, res: Response, ids: (string | number)[]): Response {
    const release = () => {
      for (const id of ids) s.inFlight.delete(id);
      s.lastUsed = Date.now();
    };
    if (!res.body) {
      release();
      return res;
    }
    s.streams++;
    return onBodyDone(res, () => {
      s.streams--;
      release();
    });
  }

  /** The session's call of this JSON-RPC id, as the watch last saw its Task. */
  private taskOfRequest(s: Session, requestId: string | number): Task | undefined {
    const session = sessionLabelValue(s.id);
    const client = clientLabelValue(s.client);
    return this.calls.informer
      .list()
      .find(
        (t) =>
          t.metadata.labels?.[labels.session] === session &&
          t.metadata.labels?.[labels.client] === client &&
          t.metadata.annotations?.[annotations.requestId] === String(requestId),
      );
  }

  /**
   * A resume whose events this replica does not hold: the stream's calls are
   * answered from their Tasks (resume-elsewhere.ts); an event id that names
   * no requests is refused as the SDK refuses one it does not know.
   */
  private resumeElsewhere(s: Session, lastEventId: string, signal: AbortSignal): Response {
    const ids = requestsOfEventId(lastEventId);
    if (!ids) return jsonRpcError(400, -32000, "Invalid event ID format");
    const log = this.log.child({ mcpSession: sessionLabelValue(s.id), client: s.client });
    log.info({ requests: ids.length }, "Resuming a stream from its calls' Tasks");
    this.metrics.streamResumes.inc({ where: "tasks" });
    const res = resumeFromTasks(
      ids,
      { taskOf: (id) => this.taskOfRequest(s, id), wait: (t, on, stop) => this.calls.wait(t, on, stop), log },
      { signal, sessionId: s.id },
    );
    return this.respond(s, res, []);
  }

  /**
   * notifications/cancelled for a call running on another replica: its Task
   * is found by session and request id and deleted, which ends the call
   * there as a local cancel would.
   */
  private cancelElsewhere(s: Session, body: unknown): void {
    for (const m of Array.isArray(body) ? body : [body]) {
      const { method, params } = (m ?? {}) as { method?: unknown; params?: { requestId?: unknown } };
      const requestId = params?.requestId;
      if (method !== "notifications/cancelled") continue;
      if ((typeof requestId !== "string" && typeof requestId !== "number") || s.inFlight.has(requestId)) continue;
      const task = this.taskOfRequest(s, requestId);
      if (!task || isFinished(task)) continue;
      this.log.info(
        { mcpSession: sessionLabelValue(s.id), task: task.metadata.name },
        "Call cancelled through another replica",
      );
      void this.calls.cancel(task);
    }
  }

  private refreshTools(): void {
    this.metrics.toolRegistryRebuilds.inc();
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
      for (const server of this.servers)
        void server.sendToolListChanged().catch(logIgnored(this.log, "A tools list_changed notification"));
      for (const fn of this.listChanged) fn("tools");
    }
  }

  /** The token checks the security options ask for, in the order they are tried. */
  private verifiers(sec: GatewaySecurity, conn: KubeConnection): TokenVerifier[] {
    const verifiers: TokenVerifier[] = [];
    if (sec.tokens) verifiers.push(new StaticTokens({ table: sec.tokens }));
    if (sec.tokensDir)
      verifiers.push(new StaticTokens({ dir: sec.tokensDir, checkMs: sec.tokensCheckMs, log: this.log }));
    const issuers = (sec.issuers ?? []).map((i) => (typeof i === "string" ? { issuer: i } : i));
    if ((issuers.length || sec.kubernetesTokens) && !sec.resource)
      throw new Error("the gateway's resource URI is required to check JWTs and Kubernetes tokens");
    const audience = sec.resource as string;
    if (issuers.length) verifiers.push(new JwtVerifier({ issuers, audience }));
    if (sec.kubernetesTokens === "jwks") verifiers.push(new KubernetesJwtVerifier(conn, { audience }));
    if (sec.kubernetesTokens === "tokenreview") verifiers.push(new TokenReviewVerifier(conn, { audience }));
    verifiers.push(...(sec.verifiers ?? []));
    return verifiers;
  }

  private routes(sec: GatewaySecurity, conn: KubeConnection): void {
    const metadata = {
      resource: sec.resource,
      authorizationServers: (sec.issuers ?? []).map((i) => (typeof i === "string" ? i : i.issuer)),
      requiredScopes: sec.requiredScopes,
    };
    const auth = authenticate({
      ...metadata,
      verifiers: this.verifiers(sec, conn),
      allowUnauthenticated: sec.allowUnauthenticated,
      log: this.log,
    });
    this.app.use("*", async (c, next) => {
      await next();
      this.metrics.httpRequests.inc({ method: c.req.method, status: String(c.res.status) });
    });
    // RFC 9728 §3.1: the metadata of https://host/mcp is also at /.well-known/oauth-protected-resource/mcp.
    this.app.get(metadataPath, (c) => c.json(protectedResourceMetadata(c, metadata)));
    this.app.get(`${metadataPath}/mcp`, (c) => c.json(protectedResourceMetadata(c, metadata)));
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
    this.app.use("/mcp", auth);
    this.app.use(
      "/mcp",
      rateLimit({
        ratePerSecond: sec.ratePerSecond ?? 50,
        burst: sec.burst ?? 100,
        trustedProxies: sec.trustedProxies,
        maxKeys: sec.rateLimitMaxKeys,
      }),
    );

    this.app.all("/mcp", async (c) => {
      const identity = c.get("identity") ?? anonymous;
      const client = identity.client;
      const caller: Caller = { client, subject: subjectOf(identity) };
      const authInfo = { token: "", clientId: client, scopes: c.get("identity")?.scopes ?? [] };
      let body: unknown;
      if (c.req.method === "POST") {
        try {
          body = await c.req.json();
        } catch {
          return jsonRpcError(400, -32700, "Parse error: the body is not JSON");
        }
        // 2026-07-28 requests are stateless and answered on their own; the rest are 2025 sessions.
        if (isModernRequest(c.req.raw.headers, body)) return this.modern.handle(c.req.raw, body, caller);
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
        const s = await this.session(sessionId, client, c.req.url);
        if (!s) return jsonRpcError(404, -32001, "Session not found");
        s.lastUsed = Date.now();
        const lastEventId = c.req.method === "GET" ? c.req.header("last-event-id") : undefined;
        if (lastEventId && !s.events.holds(lastEventId)) return this.resumeElsewhere(s, lastEventId, c.req.raw.signal);
        if (lastEventId) this.metrics.streamResumes.inc({ where: "events" });
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
        this.cancelElsewhere(s, body);
        for (const id of ids) s.inFlight.add(id);
        try {
          // The SDK's handlers run in this request's context: they see its caller (request-caller.ts).
          // A session exists, so the SDK is loaded: no await.
          const req = (sessionSdk ?? (await loadSessionSdk())).atNegotiatedVersion(c.req.raw, s.protocolVersion);
          const res = await streamRequests.run(ids, () =>
            withCaller(caller, () => s.transport.handleRequest(req, { parsedBody: body, authInfo })),
          );
          return this.respond(s, res, ids);
        } catch (err) {
          for (const id of ids) s.inFlight.delete(id);
          throw err;
        }
      }
      if (c.req.method !== "POST") return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      const messages = Array.isArray(body) ? body : [body];
      const { isInitializeRequest } = await loadSessionSdk();
      const init = messages.find((m) => isInitializeRequest(m)) as InitializeRequest | undefined;
      if (!init) return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      const transport = await this.connectSession(client, () => {
        const claims = claimsFor(client, init.params, this.ttlSeconds);
        return { id: sealSessionId(this.keys.signing, this.namespace, claims), claims };
      });
      const res = await withCaller(caller, () => transport.handleRequest(c.req.raw, { parsedBody: body, authInfo }));
      if (transport.sessionId)
        this.log.info({ mcpSession: sessionLabelValue(transport.sessionId), client }, "Opened MCP session");
      else void transport.close(); // refused (a batch, a bad header): nothing to keep
      return res;
    });
    // The probes stay on the MCP port (the Deployment's probes use it); /metrics is on opsApp.
    this.app.get("/healthz", (c) => c.text("ok"));
    this.app.get("/livez", (c) => c.text("ok"));
    this.app.get("/readyz", (c) => (this.ready ? c.text("ok") : c.text("not ready", 503)));
    this.opsApp = opsApp({ registry: this.metrics.registry, ready: () => this.ready });
  }
}

/**
 * Serves the gateway on Bun with no idle timeout: tool calls and SSE streams
 * may be long. /metrics is served beside /mcp here (an embedded gateway,
 * tests); serveGatewayWithMetrics keeps it off the MCP port.
 */
export function serveGateway(gateway: Gateway, opts: { port: number; hostname?: string }) {
  const fetch = (req: Request, server: Bun.Server<undefined>) =>
    new URL(req.url).pathname === "/metrics" ? gateway.opsApp.fetch(req) : gateway.app.fetch(req, server);
  return Bun.serve({ port: opts.port, hostname: opts.hostname ?? "0.0.0.0", idleTimeout: 0, fetch });
}

/**
 * The gateway's process: /mcp (and the probes) on `port`, /metrics (and the
 * probes) on `metricsPort` only, so that the public MCP port shows no
 * metrics and the metrics port can be reached by Prometheus alone.
 */
export function serveGatewayWithMetrics(
  gateway: Gateway,
  opts: { port: number; hostname?: string; metricsPort: number; metricsHostname?: string },
) {
  const hostname = opts.hostname ?? "0.0.0.0";
  const mcp = Bun.serve({ port: opts.port, hostname, idleTimeout: 0, fetch: gateway.app.fetch });
  const metrics = Bun.serve({
    port: opts.metricsPort,
    hostname: opts.metricsHostname ?? hostname,
    fetch: gateway.opsApp.fetch,
  });
  return {
    port: mcp.port as number,
    metricsPort: metrics.port as number,
    stop: async () => {
      await Promise.all([mcp.stop(), metrics.stop()]);
    },
  };
}
