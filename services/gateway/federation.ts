/**
 * Gateway federation: the tools, resources and prompts of every Ready
 * MCPServer in the domain, offered beside the agents' tools. One MCP client
 * connection per server; tool and prompt names carry the server's prefix
 * (spec.toolPrefix, by default "<name>__"), resource URIs stay as they are
 * and are routed to the server that listed them (or whose template matches).
 *
 * A server that fails is cut off circuit-breaker style: after
 * `failureThreshold` failed calls in a row, or a failed connection, its
 * catalogue is hidden and it is tried again after a cool-down that doubles
 * each time (half-open: one reconnect). Nothing a server does can take the
 * gateway down: its errors become JSON-RPC errors on the calls that hit it.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UriTemplate } from "@modelcontextprotocol/sdk/shared/uriTemplate.js";
import type {
  CallToolResult,
  CompleteRequest,
  CompleteResult,
  GetPromptResult,
  Prompt,
  ReadResourceResult,
  Resource,
  ResourceTemplate,
  Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { isServing, toolPrefixOf } from "../../lib/api/mcp-server-state.ts";
import type { MCPServer } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import type { Clock } from "../../lib/clock.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { type Logger, logIgnored } from "../../lib/log.ts";
import { version } from "../../lib/version.ts";
import { type BreakerOptions, CircuitBreaker, defaultBreaker } from "./breaker.ts";
import { ServerUnavailableError } from "./calls/errors.ts";
import { ErrorCode, isMcpError, McpError } from "./mcp-error.ts";
import { answerServerRequest } from "./prompt-input.ts";

export type { BreakerOptions };
export { ServerUnavailableError };

export type CatalogKind = "tools" | "resources" | "prompts";

export interface FederatedTool {
  /** The name clients see: prefix + upstream name. */
  name: string;
  server: string;
  upstreamName: string;
  tool: Tool;
}

export interface FederatedPrompt {
  name: string;
  server: string;
  upstreamName: string;
  prompt: Prompt;
}

export interface FederationOptions {
  conn: KubeConnection;
  namespace: string;
  log: Logger;
  breaker?: Partial<BreakerOptions>;
  /** How long a call to a server may take before it counts as a failure. */
  callTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** What the servers' circuit breakers time their cool-downs on; tests move a FakeClock. */
  clock?: Clock;
}

type UpstreamState = "connecting" | "ready" | "open";

interface Upstream {
  name: string;
  /** What the connection was made from; a change reconnects. */
  identity: string;
  url: string;
  headers: Record<string, string>;
  prefix: string;
  state: UpstreamState;
  client?: Client;
  /** Half-open while connecting, closed while ready, open while cut off (breaker.ts). */
  breaker: CircuitBreaker;
  tools: Tool[];
  resources: Resource[];
  templates: ResourceTemplate[];
  prompts: Prompt[];
  /** Resource URIs this gateway subscribed to on the server. */
  subscribed: Set<string>;
}

export class Federation {
  readonly servers: Informer<MCPServer>;
  private readonly upstreams = new Map<string, Upstream>();
  private readonly listeners: ((kind: CatalogKind) => void)[] = [];
  private readonly updateListeners: ((uri: string) => void)[] = [];
  private readonly breaker: BreakerOptions;
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly opts: FederationOptions) {
    this.log = opts.log.child({ component: "federation" });
    this.breaker = { ...defaultBreaker, ...opts.breaker };
    this.servers = new Informer(mcpClients(opts.conn).mcpServers, { namespace: opts.namespace, logger: this.log });
    const sync = (s: MCPServer) => void this.sync(s);
    this.servers.on({ add: sync, update: sync, delete: (s) => this.remove(s.metadata.name ?? "") });
  }

  /** Called when a kind of catalogue changes (a server came, went, or said its list changed). */
  onChange(fn: (kind: CatalogKind) => void): void {
    this.listeners.push(fn);
  }

  /** Called when a server says a resource changed (for clients subscribed to it). */
  onResourceUpdated(fn: (uri: string) => void): void {
    this.updateListeners.push(fn);
  }

  get hasSynced(): boolean {
    return this.servers.hasSynced;
  }

  async start(): Promise<void> {
    await this.servers.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.servers.stop();
    for (const name of [...this.upstreams.keys()]) this.remove(name, false);
  }

  /** Which servers are federated now and in what state, for logs, metrics and tests. */
  states(): Record<string, UpstreamState> {
    return Object.fromEntries([...this.upstreams.values()].map((u) => [u.name, u.state]));
  }

  // ---- catalogue ----

  private *live(): Generator<Upstream> {
    for (const u of [...this.upstreams.values()].sort((a, b) => a.name.localeCompare(b.name)))
      if (u.state === "ready") yield u;
  }

  tools(): FederatedTool[] {
    const out: FederatedTool[] = [];
    for (const u of this.live())
      for (const tool of u.tools)
        out.push({ name: `${u.prefix}${tool.name}`, server: u.name, upstreamName: tool.name, tool });
    return out;
  }

  prompts(): FederatedPrompt[] {
    const out: FederatedPrompt[] = [];
    for (const u of this.live())
      for (const prompt of u.prompts)
        out.push({ name: `${u.prefix}${prompt.name}`, server: u.name, upstreamName: prompt.name, prompt });
    return out;
  }

  /** Resources by URI; a URI two servers list is withheld (which one a read meant cannot be known). */
  resources(): Resource[] {
    const byUri = new Map<string, Resource[]>();
    for (const u of this.live()) for (const r of u.resources) byUri.set(r.uri, [...(byUri.get(r.uri) ?? []), r]);
    return [...byUri.values()].filter((l) => l.length === 1).map((l) => l[0] as Resource);
  }

  resourceTemplates(): ResourceTemplate[] {
    return [...this.live()].flatMap((u) => u.templates);
  }

  // ---- operations, each routed to one server ----

  async callTool(
    t: Pick<FederatedTool, "server" | "upstreamName">,
    args: Record<string, unknown>,
    opts: {
      signal?: AbortSignal;
      onprogress?: (p: { progress: number; total?: number; message?: string }) => void;
      /** The call's trace context, carried on in the request's _meta (SEP-414). */
      traceparent?: string;
    },
  ): Promise<CallToolResult> {
    const meta = opts.traceparent ? { _meta: { traceparent: opts.traceparent } } : {};
    return (await this.withServer(t.server, (c) =>
      c.callTool({ name: t.upstreamName, arguments: args, ...meta }, undefined, {
        signal: opts.signal,
        onprogress: opts.onprogress,
        resetTimeoutOnProgress: true,
        timeout: this.opts.callTimeoutMs ?? 300_000,
      }),
    )) as CallToolResult;
  }

  /**
   * Gets a prompt from its server. The server may ask the client something
   * meanwhile (elicitation, sampling): the caller runs this in a round of
   * prompt-input.ts that says how those are answered; `signal` cancels it.
   */
  async getPrompt(
    name: string,
    args: Record<string, string> | undefined,
    opts: { signal?: AbortSignal } = {},
  ): Promise<GetPromptResult> {
    const p = this.prompts().find((x) => x.name === name);
    if (!p) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
    return this.withServer(
      p.server,
      (c) =>
        c.getPrompt(
          { name: p.upstreamName, arguments: args },
          { signal: opts.signal, timeout: this.opts.callTimeoutMs ?? 300_000 },
        ),
      opts.signal,
    );
  }

  async readResource(uri: string): Promise<ReadResourceResult> {
    const owner = this.ownerOf(uri);
    // SEP-2164: an unknown resource is invalid params, naming the URI.
    if (!owner) throw new McpError(ErrorCode.InvalidParams, `Resource not found: ${uri}`, { uri });
    return this.withServer(owner, (c) => c.readResource({ uri }));
  }

  async complete(params: CompleteRequest["params"]): Promise<CompleteResult> {
    const ref = params.ref;
    if (ref.type === "ref/prompt") {
      const p = this.prompts().find((x) => x.name === ref.name);
      if (!p) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${ref.name}`);
      return this.withServer(p.server, (c) => c.complete({ ...params, ref: { ...ref, name: p.upstreamName } }));
    }
    const owner =
      [...this.live()].find((u) => u.templates.some((t) => t.uriTemplate === ref.uri))?.name ?? this.ownerOf(ref.uri);
    if (!owner) throw new McpError(ErrorCode.InvalidParams, `Unknown resource template: ${ref.uri}`);
    return this.withServer(owner, (c) => c.complete(params));
  }

  /**
   * Subscribes on the server that owns the URI, or on every server that
   * supports subscriptions when no list names it (a resource may exist
   * without being listed). Subscribing twice is one subscription upstream.
   */
  async subscribe(uri: string): Promise<void> {
    const owner = this.ownerOf(uri);
    const targets = [...this.live()].filter(
      (u) => (owner ? u.name === owner : true) && !!u.client?.getServerCapabilities()?.resources?.subscribe,
    );
    await Promise.all(
      targets.map(async (u) => {
        if (u.subscribed.has(uri)) return;
        await u.client?.subscribeResource({ uri });
        u.subscribed.add(uri);
      }),
    );
  }

  async unsubscribe(uri: string): Promise<void> {
    await Promise.all(
      [...this.live()]
        .filter((u) => u.subscribed.has(uri))
        .map(async (u) => {
          u.subscribed.delete(uri);
          await u.client
            ?.unsubscribeResource({ uri })
            .catch(logIgnored(this.log, "Unsubscribing upstream", { mcpServer: u.name, uri }));
        }),
    );
  }

  private ownerOf(uri: string): string | undefined {
    const listed = [...this.live()].filter((u) => u.resources.some((r) => r.uri === uri));
    if (listed.length === 1) return listed[0]?.name;
    if (listed.length > 1) return undefined;
    const templated = [...this.live()].filter((u) =>
      u.templates.some((t) => {
        try {
          return new UriTemplate(t.uriTemplate).match(uri) !== null;
        } catch {
          return false;
        }
      }),
    );
    return templated.length === 1 ? templated[0]?.name : undefined;
  }

  /**
   * Runs one request on a server. The server's own JSON-RPC errors pass
   * through as they are (the server is fine, the request was not); anything
   * else (refused connection, timeout, broken stream) counts towards opening
   * its circuit, except the request's own cancellation (`signal`).
   */
  private async withServer<T>(name: string, fn: (c: Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const u = this.upstreams.get(name);
    if (u?.state !== "ready" || !u.client) throw new ServerUnavailableError(name, "not connected");
    try {
      const out = await fn(u.client);
      u.breaker.succeeded();
      return out;
    } catch (err) {
      if (isMcpError(err) && err.code !== ErrorCode.RequestTimeout && err.code !== ErrorCode.ConnectionClosed)
        throw err;
      if (signal?.aborted) throw err;
      this.failed(u, err as Error);
      throw new ServerUnavailableError(name, (err as Error).message);
    }
  }

  // ---- connections ----

  private async sync(s: MCPServer): Promise<void> {
    const name = s.metadata.name ?? "";
    if (!isServing(s) || s.metadata.deletionTimestamp) {
      if (this.upstreams.has(name)) this.log.info({ mcpServer: name, phase: s.status?.phase }, "No longer federating");
      this.remove(name);
      return;
    }
    const headers = Object.fromEntries(
      Object.entries(s.spec.headers ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
    const url = s.status?.url ?? "";
    const prefix = toolPrefixOf(s);
    const identity = JSON.stringify([url, headers, prefix]);
    const existing = this.upstreams.get(name);
    if (existing?.identity === identity) return;
    if (existing) this.remove(name, false);
    const u: Upstream = {
      name,
      identity,
      url,
      headers,
      prefix,
      state: "connecting",
      breaker: new CircuitBreaker({
        ...this.breaker,
        clock: this.opts.clock,
        // The cool-down ended: one reconnect is the trial.
        onHalfOpen: () => {
          if (this.upstreams.get(u.name) !== u || this.stopped) return;
          u.state = "connecting";
          void this.connect(u);
        },
      }),
      tools: [],
      resources: [],
      templates: [],
      prompts: [],
      subscribed: new Set(),
    };
    this.upstreams.set(name, u);
    await this.connect(u);
  }

  private async connect(u: Upstream): Promise<void> {
    const log = this.log.child({ mcpServer: u.name });
    // The SDK's client comes with the first federated server (mcp-error.ts says why not before).
    const { Client, StreamableHTTPClientTransport, schemas } = await import("./federation-sdk.ts");
    // A server's prompt may ask the client something while it is got: the
    // gateway takes those requests and answers them for the client (prompt-input.ts).
    const client = new Client(
      { name: "mcp-conductor-gateway", version },
      { capabilities: { elicitation: { form: {}, url: {} }, sampling: {} } },
    );
    client.setRequestHandler(schemas.ElicitRequest, (req) =>
      answerServerRequest(req.method, req.params as Record<string, unknown>),
    );
    client.setRequestHandler(schemas.CreateMessageRequest, (req) =>
      answerServerRequest(req.method, req.params as Record<string, unknown>),
    );
    try {
      const transport = new StreamableHTTPClientTransport(new URL(u.url), { requestInit: { headers: u.headers } });
      await client.connect(transport, { timeout: this.opts.connectTimeoutMs ?? 10_000 });
      if (this.upstreams.get(u.name) !== u || this.stopped) {
        await client.close();
        return;
      }
      u.client = client;
      client.setNotificationHandler(schemas.ToolListChangedNotification, () => this.refresh(u, "tools"));
      client.setNotificationHandler(schemas.PromptListChangedNotification, () => this.refresh(u, "prompts"));
      client.setNotificationHandler(schemas.ResourceListChangedNotification, () => this.refresh(u, "resources"));
      client.setNotificationHandler(schemas.ResourceUpdatedNotification, (n) => {
        for (const fn of this.updateListeners) fn(n.params.uri);
      });
      client.onclose = () => {
        if (this.upstreams.get(u.name) === u && u.client === client && u.state === "ready")
          this.failed(u, new Error("connection closed"));
      };
      await Promise.all([this.load(u, "tools"), this.load(u, "resources"), this.load(u, "prompts")]);
      u.state = "ready";
      u.breaker.succeeded();
      log.info(
        { tools: u.tools.length, resources: u.resources.length, prompts: u.prompts.length, prefix: u.prefix },
        "Federating MCP server",
      );
      this.emit("tools", "resources", "prompts");
    } catch (err) {
      await client.close().catch(logIgnored(this.log, "Closing a failed connection", { mcpServer: u.name }));
      if (this.upstreams.get(u.name) !== u) return;
      this.open(u, `connection failed: ${(err as Error).message}`);
    }
  }

  /** Reads one kind of list from the server (every page), if the server has that capability. */
  private async load(u: Upstream, kind: CatalogKind): Promise<void> {
    const c = u.client;
    const caps = c?.getServerCapabilities() ?? {};
    if (!c) return;
    if (kind === "tools") {
      u.tools = caps.tools ? await pages((cursor) => c.listTools({ cursor }).then((r) => [r.tools, r.nextCursor])) : [];
    } else if (kind === "prompts") {
      u.prompts = caps.prompts
        ? await pages((cursor) => c.listPrompts({ cursor }).then((r) => [r.prompts, r.nextCursor]))
        : [];
    } else if (caps.resources) {
      u.resources = await pages((cursor) => c.listResources({ cursor }).then((r) => [r.resources, r.nextCursor]));
      u.templates = await pages((cursor) =>
        c.listResourceTemplates({ cursor }).then((r) => [r.resourceTemplates, r.nextCursor]),
      );
    }
  }

  private async refresh(u: Upstream, kind: CatalogKind): Promise<void> {
    try {
      await this.load(u, kind);
      this.emit(kind);
    } catch (err) {
      this.failed(u, err as Error);
    }
  }

  private failed(u: Upstream, err: Error): void {
    const failures = u.breaker.failures + 1;
    this.log.warn({ mcpServer: u.name, err, failures }, "MCP server call failed");
    const delay = u.breaker.failed({ fatal: err.message === "connection closed" });
    if (delay !== undefined) this.cutOff(u, `${failures} failures, last: ${err.message}`, delay);
  }

  /** Opens the circuit: hides the server; the breaker tries again after the cool-down. */
  private open(u: Upstream, why: string): void {
    this.cutOff(u, why, u.breaker.open());
  }

  private cutOff(u: Upstream, why: string, retryInMs: number): void {
    const wasReady = u.state === "ready";
    u.state = "open";
    const client = u.client;
    u.client = undefined;
    u.subscribed.clear();
    void client?.close().catch(logIgnored(this.log, "Closing a cut-off connection", { mcpServer: u.name }));
    this.log.warn({ mcpServer: u.name, why, retryInMs }, "MCP server cut off");
    if (wasReady) this.emit("tools", "resources", "prompts");
  }

  private remove(name: string, notify = true): void {
    const u = this.upstreams.get(name);
    if (!u) return;
    this.upstreams.delete(name);
    u.breaker.stop();
    const wasReady = u.state === "ready";
    u.state = "open";
    void u.client?.close().catch(logIgnored(this.log, "Closing a connection", { mcpServer: u.name }));
    if (notify && wasReady) this.emit("tools", "resources", "prompts");
  }

  private emit(...kinds: CatalogKind[]): void {
    for (const k of kinds) for (const fn of this.listeners) fn(k);
  }
}

async function pages<T>(page: (cursor: string | undefined) => Promise<[T[], string | undefined]>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const [items, next] = await page(cursor);
    out.push(...items);
    if (!next) break;
    cursor = next;
  }
  return out;
}
