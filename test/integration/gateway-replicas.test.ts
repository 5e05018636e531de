// Any gateway replica serves any 2025 session (docs/adr/0007): two gateways of
// one domain, sharing the session key through its Secret, behind a client
// whose requests land on either of them, as behind a plain Service.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes, randomUUID } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import {
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ReadResourceRequestSchema,
  ResourceUpdatedNotificationSchema,
  SubscribeRequestSchema,
  ToolListChangedNotificationSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { silentLogger } from "../../lib/log.ts";
import { tools as dataTools } from "../../services/agents/data-processor/tools.ts";
import { Gateway, type GatewayOptions, serveGateway } from "../../services/gateway/gateway.ts";
import { SessionKeys } from "../../services/gateway/sealed-sessions.ts";
import { SharedSubscriptions, sessionRef } from "../../services/gateway/shared-subscriptions.ts";
import { labels, sessionLabelValue } from "../../services/gateway/task-calls.ts";
import { slowTool } from "../fixtures/slow-tool.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, ocrAgent, startGatewayStack } from "../harness/gateway-stack.ts";

const slow = slowTool("data-processing");

const tokens = new Map([
  ["alice", "alice-token"],
  ["bob", "bob-token"],
]);

interface Replica {
  name: string;
  gateway: Gateway;
  server: ReturnType<typeof serveGateway>;
  /** "<HTTP method> <JSON-RPC method>" of every request a test client sent it. */
  seen: string[];
}

let cluster: TestCluster;
let ns: string;
let stack: GatewayStack;
let notes: NotesServer;
const replicas: Replica[] = [];

async function startReplica(name: string, sessions?: GatewayOptions["sessions"]): Promise<Replica> {
  const gateway = new Gateway({
    conn: cluster.conn,
    namespace: ns,
    log: silentLogger,
    security: { tokens, ratePerSecond: 10_000, burst: 10_000 },
    sessions,
  });
  await gateway.start();
  const server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
  await eventually(() => gateway.get("slow"), { message: `the tools on ${name}` });
  return { name, gateway, server, seen: [] };
}

async function stopReplica(r: Replica) {
  await r.server.stop(true);
  await r.gateway.stop();
}

const rpcMethod = (body: unknown) => {
  try {
    const m = JSON.parse(String(body)) as { method?: string };
    return m.method ?? "response";
  } catch {
    return "";
  }
};

type Route = (n: number, method: string, rpc: string) => Replica;
/** Alternates between A and B, request by request. */
const roundRobin: Route = (n) => replicas[n % 2] as Replica;

/** A fetch that sends each request to the replica the route picks (by count, HTTP method and JSON-RPC method). */
function routed(route: Route) {
  let n = 0;
  return (url: string | URL, init?: RequestInit) => {
    const method = init?.method ?? "GET";
    const rpc = rpcMethod(init?.body);
    const r = route(n++, method, rpc);
    r.seen.push(`${method} ${rpc}`.trim());
    const to = new URL(url);
    to.port = String(r.server.port);
    return fetch(to, init);
  };
}

async function connect(route: Route, token = "alice-token", name = "replicas-test") {
  const client = new Client({ name, version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${replicas[0]?.server.port}/mcp`), {
    fetch: routed(route),
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return { client, transport, sessionId: transport.sessionId as string };
}

/** A raw POST of one JSON-RPC message to a replica: its status and the JSON-RPC answer, if any. */
async function post(r: Replica, sessionId: string, message: object, token = "alice-token") {
  const res = await fetch(`http://127.0.0.1:${r.server.port}/mcp`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      Authorization: `Bearer ${token}`,
      "Mcp-Session-Id": sessionId,
      "Mcp-Protocol-Version": "2025-11-25",
    },
    body: JSON.stringify({ jsonrpc: "2.0", ...message }),
  });
  const text = await res.text();
  const data = text.includes("data:") ? (text.split("data: ")[1] ?? "").split("\n")[0] : text;
  return { status: res.status, body: data ? (JSON.parse(data) as { result?: unknown; error?: { code: number } }) : {} };
}

const toolsList = (r: Replica, sessionId: string, token?: string) =>
  post(r, sessionId, { id: randomUUID(), method: "tools/list" }, token);

const rehydrations = async (r: Replica) => {
  const text = await (await fetch(`http://127.0.0.1:${r.server.port}/metrics`)).text();
  return Number(/mcp_gateway_session_rehydrations_total\{[^}]*outcome="rehydrated"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
};

const A = () => replicas[0] as Replica;
const B = () => replicas[1] as Replica;

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("gateway-replicas");
  notes = startNotesServer();
  stack = await startGatewayStack(cluster, ns, [...dataTools, slow], { agentName: "dp-1" });
  // Both replicas at once: one creates the key Secret, the other reads it (or loses the race and reads it).
  replicas.push(
    ...(await Promise.all([startReplica("A", { keyRefreshMs: 300 }), startReplica("B", { idleSeconds: 2 })])),
  );
  await cluster.mcp.mcpServers.create(ns, { metadata: { name: "notes" }, spec: { url: notes.url.toString() } });
  await eventually(() => replicas.every((r) => r.gateway.federation.states().notes === "ready"), {
    timeout: 20_000,
    message: "both replicas federating the notes server",
  });
}, 120_000);

afterAll(async () => {
  for (const r of replicas) await stopReplica(r).catch(() => {});
  await stack?.stop();
  await notes?.stop();
});

describe("two gateway replicas, one session", () => {
  beforeEach(() => {
    for (const r of replicas) r.seen.length = 0;
  });

  test("the replicas share one session key, created in a Secret of the domain", async () => {
    const secret = await cluster.conn.request<{ data: Record<string, string> }>(
      "GET",
      `/api/v1/namespaces/${ns}/secrets/mcp-gateway-session-key`,
    );
    expect(Buffer.from(secret.data.key ?? "", "base64").toString()).toMatch(/^[0-9a-f]{64}$/);
  });

  test("requests alternate between the replicas and each serves the session", async () => {
    const before = await rehydrations(B());
    const { client, sessionId } = await connect(roundRobin);
    try {
      // visible ASCII, as the spec asks of session ids
      expect(sessionId).toMatch(/^[\x21-\x7e]+$/);
      expect((await client.listTools()).tools.map((t) => t.name)).toContain("slow");
      const one = await client.callTool({ name: "csv_to_json", arguments: { csv: "a\n1\n" } });
      const two = await client.callTool({ name: "slow", arguments: { ms: 10 } });
      expect(one.structuredContent).toEqual({ rows: [{ a: "1" }], count: 1 });
      expect(two.structuredContent).toEqual({ sleptMs: 10 });
      expect(A().seen).toContain("POST initialize");
      expect(B().seen).not.toContain("POST initialize");
      expect(B().seen).toContain("POST tools/list");
      expect(A().seen.filter((s) => s === "POST tools/call")).toHaveLength(1);
      expect(B().seen.filter((s) => s === "POST tools/call")).toHaveLength(1);
      // B rebuilt the session from its id
      expect((await rehydrations(B())) - before).toBeGreaterThanOrEqual(1);
      const tasks = await cluster.mcp.tasks.list(ns, {
        labelSelector: `${labels.session}=${sessionLabelValue(sessionId)}`,
      });
      expect(tasks.items.map((t) => t.spec.tool).sort()).toEqual(["csv_to_json", "slow"]);
    } finally {
      await client.close();
    }
  });

  test("list_changed reaches the GET stream on the replica that opened the session and on one that rebuilt it", async () => {
    const onA = await connect((n, method) => (method === "GET" ? A() : replicas[n % 2]) as Replica);
    const onB = await connect((n, method) => (method === "GET" ? B() : replicas[n % 2]) as Replica);
    const changed = { onA: 0, onB: 0 };
    onA.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed.onA++;
    });
    onB.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed.onB++;
    });
    const extra = ocrAgent(cluster, ns);
    try {
      // each stream is open before the tools change
      await eventually(() => A().seen.includes("GET") && B().seen.includes("GET"), { message: "the GET streams" });
      await Bun.sleep(200);
      await extra.start();
      await eventually(() => changed.onA > 0 && changed.onB > 0, {
        message: `notifications/tools/list_changed on both streams (${JSON.stringify(changed)})`,
      });
      expect((await onB.client.listTools()).tools.map((t) => t.name)).toContain("ocr");
    } finally {
      await extra.shutdown();
      await onA.client.close();
      await onB.client.close();
    }
  });

  test("concurrent first requests on a replica rebuild the session once", async () => {
    const { client, sessionId } = await connect(() => A());
    try {
      const before = await rehydrations(B());
      const answers = await Promise.all(Array.from({ length: 6 }, () => toolsList(B(), sessionId)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect((await rehydrations(B())) - before).toBe(1);
    } finally {
      await client.close();
    }
  });

  test("a call cancelled through the other replica stops its Task", async () => {
    // calls go to A, the cancellation to B
    const { client, sessionId } = await connect((_n, _m, rpc) => (rpc === "notifications/cancelled" ? B() : A()));
    try {
      const abort = new AbortController();
      const call = client
        .callTool({ name: "slow", arguments: { ms: 30_000 } }, undefined, { signal: abort.signal })
        .catch((e: unknown) => e);
      const selector = `${labels.session}=${sessionLabelValue(sessionId)}`;
      const running = await eventually(async () =>
        (await cluster.mcp.tasks.list(ns, { labelSelector: selector })).items.find(
          (t) => t.status?.phase === "Running",
        ),
      );
      abort.abort();
      await call;
      expect(B().seen).toContain("POST notifications/cancelled");
      await eventually(
        async () =>
          !(await cluster.mcp.tasks.list(ns, { labelSelector: selector })).items.some(
            (t) => t.metadata.name === running.metadata.name,
          ),
        { message: "the Task deleted" },
      );
      await eventually(() => stack.agent.inFlight === 0, { message: "the agent stopped the work" });
    } finally {
      await client.close();
    }
  });

  test("a resource subscription taken by one replica reaches the GET stream on the other", async () => {
    // the stream on B, everything else on A
    const { client } = await connect((_n, method) => (method === "GET" ? B() : A()));
    let updates = 0;
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      if (n.params.uri === "test://note") updates++;
    });
    try {
      await eventually(() => B().seen.includes("GET"), { message: "the GET stream on B" });
      await client.subscribeResource({ uri: "test://note" });
      expect(A().seen).toContain("POST resources/subscribe");
      expect(B().seen).not.toContain("POST resources/subscribe");
      // B learns it from the shared ConfigMap and subscribes upstream itself
      await eventually(() => notes.subscribers("test://note") === 2, { message: "both replicas subscribed upstream" });
      await eventually(
        () => {
          notes.update("test://note");
          return updates > 0;
        },
        { interval: 200, message: "notifications/resources/updated on the stream held by B" },
      );
      await client.unsubscribeResource({ uri: "test://note" });
      await eventually(() => notes.subscribers("test://note") === 0, { message: "both replicas unsubscribed" });
      const cm = await cluster.conn.request<{ data?: Record<string, string> }>(
        "GET",
        `/api/v1/namespaces/${ns}/configmaps/mcp-gateway-subscriptions`,
      );
      expect(cm.data ?? {}).toEqual({});
    } finally {
      await client.close();
    }
  });

  test("DELETE ends the session on the replica that got it", async () => {
    const { client, transport, sessionId } = await connect((_n, method) => (method === "DELETE" ? B() : A()));
    expect((await toolsList(B(), sessionId)).status).toBe(200);
    await transport.terminateSession();
    expect(B().seen).toContain("DELETE");
    expect(await toolsList(B(), sessionId)).toMatchObject({ status: 404, body: { error: { code: -32001 } } });
    // The other replicas may serve it until it expires: only its own client can, as before (ADR 0007).
    expect((await toolsList(A(), sessionId)).status).toBe(200);
    await client.close();
  });

  test("a tampered or made-up session id is not found on any replica", async () => {
    const { client, sessionId } = await connect(() => A());
    try {
      const mid = Math.floor(sessionId.length * 0.75);
      const tampered = sessionId.slice(0, mid) + (sessionId[mid] === "A" ? "B" : "A") + sessionId.slice(mid + 1);
      for (const id of [tampered, `${sessionId.slice(0, 9)}${"0".repeat(56)}.${sessionId.split(".")[2]}`, "nope"])
        for (const r of replicas)
          expect(await toolsList(r, id)).toMatchObject({ status: 404, body: { error: { code: -32001 } } });
      expect((await toolsList(B(), sessionId)).status).toBe(200);
    } finally {
      await client.close();
    }
  });

  test("another client's session id is not found, on the replica holding it or not", async () => {
    const alice = await connect(() => A());
    try {
      for (const r of replicas) expect((await toolsList(r, alice.sessionId, "bob-token")).status).toBe(404);
      expect((await toolsList(B(), alice.sessionId)).status).toBe(200);
    } finally {
      await alice.client.close();
    }
  });

  test("an idle session leaves a replica's memory and comes back on its next request", async () => {
    const { client, sessionId } = await connect(() => A());
    try {
      expect((await toolsList(B(), sessionId)).status).toBe(200);
      const before = await rehydrations(B());
      await Bun.sleep(4_500); // B forgets sessions idle for 2 s, sweeping every second
      expect((await toolsList(B(), sessionId)).status).toBe(200);
      expect((await rehydrations(B())) - before).toBe(1);
    } finally {
      await client.close();
    }
  });

  test("a restarted gateway serves the sessions opened before", async () => {
    const { client, sessionId } = await connect(roundRobin);
    try {
      await stopReplica(A());
      replicas[0] = await startReplica("A2", { keyRefreshMs: 300 });
      // the client's next requests go to the new A and to B
      expect((await client.listTools()).tools.map((t) => t.name)).toContain("slow");
      expect((await client.callTool({ name: "slow", arguments: { ms: 5 } })).structuredContent).toEqual({ sleptMs: 5 });
      expect(A().seen.length).toBeGreaterThan(0);
      expect((await toolsList(A(), sessionId)).status).toBe(200);
    } finally {
      await client.close();
    }
  });

  test("a rotated key seals new sessions; the one it replaced still opens old ones", async () => {
    const old = await connect(() => A());
    try {
      const path = `/api/v1/namespaces/${ns}/secrets/mcp-gateway-session-key`;
      const secret = await cluster.conn.request<{ data: Record<string, string> }>("GET", path);
      const fresh = Buffer.from(randomBytes(32).toString("hex")).toString("base64");
      await cluster.conn.request("PATCH", path, {
        body: { data: { key: fresh, previous: secret.data.key } },
        contentType: "application/merge-patch+json",
      });
      // A re-reads the Secret every 300 ms; B (every minute) reads it when it meets the new key id
      const rotated = await eventually(async () => {
        const c = await connect(() => A());
        if (c.sessionId.slice(0, 8) !== old.sessionId.slice(0, 8)) return c;
        await c.client.close();
        return undefined;
      });
      try {
        expect((await toolsList(B(), rotated.sessionId)).status).toBe(200);
        for (const r of replicas) expect((await toolsList(r, old.sessionId)).status).toBe(200);
        // and a replica started after the rotation opens both, through `previous`
        const late = await startReplica("C");
        try {
          expect((await toolsList(late, old.sessionId)).status).toBe(200);
          expect((await toolsList(late, rotated.sessionId)).status).toBe(200);
        } finally {
          await stopReplica(late);
        }
      } finally {
        await rotated.client.close();
      }
    } finally {
      await old.client.close();
    }
  }, 30_000);
});

/** The rules ADR 0007 adds to the gateway's Role. */
const sessionRules = [
  { apiGroups: [""], resources: ["secrets"], resourceNames: ["mcp-gateway-session-key"], verbs: ["get"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
  {
    apiGroups: [""],
    resources: ["configmaps"],
    resourceNames: ["mcp-gateway-subscriptions"],
    verbs: ["get", "list", "watch", "patch"],
  },
  { apiGroups: [""], resources: ["configmaps"], verbs: ["create"] },
];

/** A service account of the namespace with a Role of these rules, and a connection with its token. */
async function identity(namespace: string, name: string, rules: object[]): Promise<KubeConnection> {
  const api = `/api/v1/namespaces/${namespace}`;
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  await cluster.conn.request("POST", `${api}/serviceaccounts`, { body: { metadata: { name } } });
  await cluster.conn.request("POST", `${rbac}/roles`, { body: { metadata: { name }, rules } });
  await cluster.conn.request("POST", `${rbac}/rolebindings`, {
    body: {
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
  });
  const res = await cluster.conn.request<{ status: { token: string } }>(
    "POST",
    `${api}/serviceaccounts/${name}/token`,
    { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } } },
  );
  return KubeConnection.fromOptions({ kubeconfigYaml: cluster.cp.kubeconfig({ token: res.status.token }) });
}

describe("the gateway's RBAC for shared sessions", () => {
  test("with the rules of ADR 0007, replicas create and share the key and the subscriptions", async () => {
    const domain = await cluster.newNamespace("gateway-rbac");
    const conn = await identity(domain, "mcp-gateway", sessionRules);
    // the Role in force: a missing Secret reads as 404, not 403
    await eventually(
      () =>
        conn
          .request("GET", `/api/v1/namespaces/${domain}/secrets/mcp-gateway-session-key`)
          .then(() => false)
          .catch((e: { statusCode?: number }) => e.statusCode === 404),
      { message: "the Role in force" },
    );
    const keys = () =>
      new SessionKeys({ source: { secret: "mcp-gateway-session-key" }, conn, namespace: domain, log: silentLogger });
    const [one, two] = [keys(), keys()];
    await Promise.all([one.start(), two.start()]);
    expect(one.signing.kid).toBe(two.signing.kid);
    one.stop();
    two.stop();
    const shared = [0, 1].map(() => new SharedSubscriptions({ conn, namespace: domain, log: silentLogger }));
    const seen: string[] = [];
    shared[1]?.onChange((ref, uri, on) => seen.push(`${ref} ${uri} ${on}`));
    for (const s of shared) s.start();
    try {
      await eventually(() => shared.every((s) => s.hasSynced), { message: "the ConfigMap watched by name" });
      const ref = sessionRef("some-session");
      expect(await shared[0]?.add(ref, "test://a", Math.floor(Date.now() / 1000) + 60)).toBe(true);
      await eventually(() => seen.includes(`${ref} test://a true`), { message: "the other replica told" });
      expect(shared[1]?.urisOf(ref)).toEqual(["test://a"]);
      await shared[0]?.remove(ref, "test://a");
      await eventually(() => seen.includes(`${ref} test://a false`), { message: "and told of the removal" });
    } finally {
      for (const s of shared) await s.stop();
    }
  });

  test("without them, the gateway still starts, with a key of its own process", async () => {
    const domain = await cluster.newNamespace("gateway-norbac");
    const conn = await identity(domain, "mcp-gateway", []);
    await eventually(() =>
      conn
        .request("GET", `/api/v1/namespaces/${domain}/secrets/mcp-gateway-session-key`)
        .then(() => false)
        .catch((e: { statusCode?: number }) => e.statusCode === 403),
    );
    const keys = new SessionKeys({
      source: { secret: "mcp-gateway-session-key" },
      conn,
      namespace: domain,
      log: silentLogger,
    });
    await keys.start();
    expect(keys.ready).toBe(true);
    keys.stop();
  });
});

interface NotesServer {
  url: URL;
  /** How many upstream sessions (one per gateway replica) subscribe to the URI. */
  subscribers(uri: string): number;
  /** Tells every subscribed session the resource changed. */
  update(uri: string): void;
  stop(): Promise<void>;
}

/** A federated MCP server with one subscribable resource whose updates the test sends. */
function startNotesServer(): NotesServer {
  const sessions = new Map<
    string,
    { server: Server; transport: WebStandardStreamableHTTPServerTransport; uris: Set<string> }
  >();
  const http = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      const sid = req.headers.get("mcp-session-id");
      if (sid) {
        const s = sessions.get(sid);
        return s
          ? s.transport.handleRequest(req)
          : Response.json(
              { jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null },
              { status: 404 },
            );
      }
      const server = new Server(
        { name: "notes", version: "1.0.0" },
        { capabilities: { resources: { subscribe: true } } },
      );
      const uris = new Set<string>();
      server.setRequestHandler(ListResourcesRequestSchema, async () => ({
        resources: [{ uri: "test://note", name: "note", mimeType: "text/plain" }],
      }));
      server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: [] }));
      server.setRequestHandler(ReadResourceRequestSchema, async (r) => ({
        contents: [{ uri: r.params.uri, mimeType: "text/plain", text: "a note" }],
      }));
      server.setRequestHandler(SubscribeRequestSchema, async (r) => {
        uris.add(r.params.uri);
        return {};
      });
      server.setRequestHandler(UnsubscribeRequestSchema, async (r) => {
        uris.delete(r.params.uri);
        return {};
      });
      const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, { server, transport, uris });
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await server.connect(transport);
      return transport.handleRequest(req);
    },
  });
  return {
    url: new URL(`http://127.0.0.1:${http.port}/mcp`),
    subscribers: (uri) => [...sessions.values()].filter((s) => s.uris.has(uri)).length,
    update(uri) {
      for (const s of sessions.values())
        if (s.uris.has(uri)) void s.server.sendResourceUpdated({ uri }).catch(() => {});
    },
    async stop() {
      await http.stop(true);
    },
  };
}
