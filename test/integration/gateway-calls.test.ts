// One call core for both protocol eras (services/gateway/calls/), on the real
// apiserver: a call refused for its form leaves no Task, a client that goes
// away cancels its Task in both eras, an internal error reaches the client only
// as -32603 with a correlation id (the full error is in the log under it), and
// a federated tool called in the 2026 era has progress, cancellation and
// metrics as in the 2025 one.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateTaskResultSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import pino from "pino";
import { defineTool } from "../../lib/agent/tool.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { leaseClient } from "../../lib/kube/leases.ts";
import { Gateway, serveGateway } from "../../services/gateway/gateway.ts";
import { labels } from "../../services/gateway/task-calls.ts";
import { slowTool } from "../fixtures/slow-tool.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type EverythingServer, startEverythingServer } from "../harness/everything-server.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";
import { type Request2026Options, request2026, rpc2026, tasksExtension } from "../harness/mcp-2026.ts";

let cluster: TestCluster;
let ns: string;
let stack: GatewayStack;
let ref: EverythingServer;

const tasksExt = tasksExtension;

const slow = slowTool("calls");
const onlyTask = defineTool({
  name: "only_task",
  description: "Runs only as a task.",
  capability: "calls",
  taskSupport: "required",
  inputSchema: { type: "object" },
  handler: () => ({ ran: true }),
});
const neverTask = defineTool({
  name: "never_task",
  description: "Never runs as a task.",
  capability: "calls",
  taskSupport: "forbidden",
  inputSchema: { type: "object" },
  handler: () => ({ ran: true }),
});

/** Reports its own progress: `n` steps of `ms` each. */
const steps = defineTool({
  name: "steps",
  description: "Counts to n, a step every ms, saying so.",
  capability: "calls",
  inputSchema: { type: "object", properties: { n: { type: "integer" }, ms: { type: "integer" } } },
  handler: async ({ n, ms }: { n: number; ms: number }, ctx) => {
    for (let i = 1; i <= n; i++) {
      ctx.progress(i, n, `step ${i} of ${n}`);
      await Bun.sleep(ms);
    }
    return { steps: n };
  },
});

/** Tells the client what it does (ctx.log), at three levels. */
const chatty = defineTool({
  name: "chatty",
  description: "Logs to the client at debug, info and error.",
  capability: "calls",
  inputSchema: { type: "object" },
  handler: async (_args: Record<string, unknown>, ctx) => {
    ctx.log("debug", { step: "details" }, "chatty");
    ctx.log("info", "working");
    ctx.log("error", "something to see", "chatty");
    await Bun.sleep(700);
    return { done: true };
  },
});

/** Logs at once, and again just before it returns: inside the 500 ms between two writes of its Task. */
const lastWords = defineTool({
  name: "last_words",
  description: "Logs twice, the second time as it returns.",
  capability: "calls",
  inputSchema: { type: "object" },
  handler: async (_args: Record<string, unknown>, ctx) => {
    ctx.log("info", "starting");
    await Bun.sleep(100);
    ctx.log("info", "done soon");
    return { done: true };
  },
});

const tasksOf = async (tool: string) =>
  (await cluster.mcp.tasks.list(ns, { labelSelector: `${labels.createdBy}=gateway,${labels.tool}=${tool}` })).items;

/** One 2026-07-28 request (ids 1 here). */
const modern = (method: string, params: Record<string, unknown>, opts: Request2026Options = {}) =>
  request2026(method, params, { id: 1, ...opts });

const rpc = (url: URL | string, method: string, params: Record<string, unknown>, token?: string) =>
  rpc2026(url, method, params, { id: 1, token });

async function legacyClient(url: URL, token?: string): Promise<Client> {
  const client = new Client({ name: "calls-test", version: "1.0.0" });
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  return client;
}

/** A sample of a counter or histogram series from the gateway's metrics. */
async function metric(name: string, match: Record<string, string>): Promise<number> {
  const m = await stack.gateway.metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find(
    (x) =>
      Object.entries(match).every(([k, want]) => String(x.labels[k]) === want) &&
      (!("metricName" in x) || !name.endsWith("_seconds") || x.metricName === `${name}_count`),
  );
  return v?.value ?? 0;
}

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("gateway-calls");
  ref = await startEverythingServer();
  stack = await startGatewayStack(cluster, ns, [slow, onlyTask, neverTask, steps, chatty, lastWords], {
    federation: { callTimeoutMs: 20_000 },
  });
  await cluster.mcp.mcpServers.create(ns, { metadata: { name: "ref" }, spec: { url: ref.url.toString() } });
  await eventually(() => stack.gateway.federation.states().ref === "ready", {
    timeout: 20_000,
    message: "the gateway federating ref",
  });
  await eventually(() => stack.gateway.get("ref__echo"), { message: "ref's tools in the registry" });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await ref?.stop();
});

describe("a call refused for its form leaves no Task", () => {
  test("2026: a task-only tool called without the tasks extension is -32021 and creates no Task", async () => {
    // Called as it may be (with the extension), the same tool makes a Task the selector finds: the check can fail.
    const allowed = await rpc2026(stack.url, "tools/call", { name: "only_task", arguments: {} }, { extensions: true });
    expect(allowed.status).toBe(200);
    await eventually(async () => (await tasksOf("only_task")).length === 1, { message: "the allowed call's Task" });
    await cluster.mcp.tasks.delete(ns, (await tasksOf("only_task"))[0]?.metadata.name ?? "");
    await eventually(async () => (await tasksOf("only_task")).length === 0, {
      message: "the allowed call's Task gone",
    });
    const r = await rpc(stack.url, "tools/call", { name: "only_task", arguments: {} });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: { [tasksExt]: {} } } },
    });
    // what would have been created is created at once; give the watch a moment anyway
    await Bun.sleep(500);
    expect(await tasksOf("only_task")).toEqual([]);
  });

  test("2025: a forbidden tool as a task, or a task-only tool without one, is -32602 and creates no Task", async () => {
    const client = await legacyClient(stack.url);
    // In their allowed forms the same calls make Tasks the selector finds: the check below can fail.
    const tasks = async () => (await tasksOf("never_task")).length + (await tasksOf("only_task")).length;
    const start = await tasks();
    await client.callTool({ name: "never_task", arguments: {} });
    await client.request(
      { method: "tools/call", params: { name: "only_task", arguments: {}, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    await eventually(async () => (await tasks()) === start + 2, { message: "the allowed calls' Tasks" });
    const before = await tasks();
    try {
      const asTask = await client
        .request(
          { method: "tools/call", params: { name: "never_task", arguments: {}, task: { ttl: 60_000 } } },
          CreateTaskResultSchema,
        )
        .catch((e: { code: number; message: string }) => e);
      expect(asTask).toMatchObject({ code: -32602 });
      const sync = await client
        .callTool({ name: "only_task", arguments: {} })
        .catch((e: { code: number; message: string }) => e);
      expect(sync).toMatchObject({ code: -32602 });
    } finally {
      await client.close();
    }
    await Bun.sleep(500);
    expect((await tasksOf("never_task")).length + (await tasksOf("only_task")).length).toBe(before);
  });
});

describe("a client that goes away cancels its call", () => {
  const runningTask = (label: string) =>
    eventually(
      async () =>
        (await tasksOf("slow")).find(
          (t) => t.spec.payload?.ms === 30_000 + Number(label) && t.status?.phase === "Running",
        ),
      { message: `the ${label} call's Task running` },
    );
  const gone = (name: string | undefined) =>
    eventually(async () => !(await tasksOf("slow")).some((t) => t.metadata.name === name), {
      message: "the Task deleted",
    });

  test("2026: an aborted synchronous request deletes its Task, which stops the agent's work", async () => {
    const abort = new AbortController();
    const call = fetch(stack.url, {
      ...modern("tools/call", { name: "slow", arguments: { ms: 30_001 } }),
      signal: abort.signal,
    }).catch((e: unknown) => e);
    const running = await runningTask("1");
    abort.abort();
    await call;
    await gone(running.metadata.name);
    await eventually(() => stack.agent.inFlight === 0, { message: "the agent stopped the work" });
  }, 30_000);

  test("2026: a cancelled progress stream deletes its Task too", async () => {
    const abort = new AbortController();
    const res = await fetch(stack.url, {
      ...modern("tools/call", { name: "slow", arguments: { ms: 30_002 }, _meta: { progressToken: "p" } }),
      signal: abort.signal,
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    // Read the stream as a client does: an unread response may be collected, closing the connection early.
    const reading = res.body?.pipeTo(new WritableStream()).catch(() => {});
    const running = await runningTask("2");
    abort.abort();
    await reading;
    await gone(running.metadata.name);
  }, 30_000);

  test("2025: notifications/cancelled deletes its Task", async () => {
    const client = await legacyClient(stack.url);
    try {
      const abort = new AbortController();
      const call = client
        .callTool({ name: "slow", arguments: { ms: 30_003 } }, undefined, { signal: abort.signal })
        .catch((e: unknown) => e);
      const running = await runningTask("3");
      abort.abort();
      await call;
      await gone(running.metadata.name);
    } finally {
      await client.close();
    }
  }, 30_000);
});

describe("an internal error reaches the client only as -32603 with a correlation id", () => {
  test("an apiserver refusal to create the Task: generic to the client in both eras, in full in the log", async () => {
    // A gateway whose service account may read Agents, Tasks and MCPServers but not create Tasks.
    const api = `/api/v1/namespaces/${ns}`;
    const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}`;
    const name = "read-only-gateway";
    const read = ["get", "list", "watch"];
    await cluster.conn.request("POST", `${api}/serviceaccounts`, { body: { metadata: { name } } });
    await cluster.conn.request("POST", `${rbac}/roles`, {
      body: {
        metadata: { name },
        rules: [{ apiGroups: ["mcp.io"], resources: ["agents", "tasks", "mcpservers"], verbs: read }],
      },
    });
    await cluster.conn.request("POST", `${rbac}/rolebindings`, {
      body: {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: [{ kind: "ServiceAccount", name, namespace: ns }],
      },
    });
    const token = await cluster.conn.request<{ status: { token: string } }>(
      "POST",
      `${api}/serviceaccounts/${name}/token`,
      { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } } },
    );
    const conn = KubeConnection.fromOptions({ kubeconfigYaml: cluster.cp.kubeconfig({ token: token.status.token }) });
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
        done();
      },
    });
    const gateway = new Gateway({
      conn,
      namespace: ns,
      log: pino({ level: "info" }, sink),
      security: { tokens: new Map([["alice", "alice-token"]]), ratePerSecond: 10_000, burst: 10_000 },
      sessions: { key: { key: randomBytes(32) }, shareSubscriptions: false },
    });
    await eventually(
      () =>
        conn
          .request("GET", `/apis/mcp.io/v1/namespaces/${ns}/tasks`)
          .then(() => true)
          .catch(() => false),
      { message: "the Role in force" },
    );
    await gateway.start();
    const server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
    const url = new URL(`http://127.0.0.1:${server.port}/mcp`);
    try {
      await eventually(() => gateway.get("slow"), { message: "the tools on the read-only gateway" });
      const loggedWith = (id: string) =>
        lines.find((l) => l.correlationId === id && JSON.stringify(l.err ?? {}).includes("forbidden"));

      const r = await rpc(url, "tools/call", { name: "slow", arguments: { ms: 0 } }, "alice-token");
      expect(r.status).toBe(500);
      expect(r.body.error.code).toBe(-32603);
      const id2026 = r.body.error.data?.correlationId as string;
      expect(id2026).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.body.error.message).toBe(`Internal error (correlation id ${id2026})`);
      expect(JSON.stringify(r.body)).not.toMatch(/forbidden|serviceaccount|tasks\.mcp\.io/i);
      const logged = loggedWith(id2026) as { level: number; err: { message: string; stack?: string } };
      expect(logged).toBeDefined();
      expect(logged.level).toBe(50);
      expect(logged.err.message).toContain("forbidden");
      expect(logged.err.stack).toBeDefined();

      const client = await legacyClient(url, "alice-token");
      try {
        const e = (await client.callTool({ name: "slow", arguments: { ms: 0 } }).catch((x: unknown) => x)) as {
          code: number;
          message: string;
          data?: { correlationId?: string };
        };
        expect(e.code).toBe(-32603);
        const id2025 = e.data?.correlationId as string;
        expect(id2025).toMatch(/^[0-9a-f-]{36}$/);
        expect(e.message).toContain(`Internal error (correlation id ${id2025})`);
        expect(e.message).not.toMatch(/forbidden|serviceaccount/i);
        expect(loggedWith(id2025)).toBeDefined();
      } finally {
        await client.close();
      }
    } finally {
      await server.stop(true);
      await gateway.stop();
    }
  }, 60_000);
});

describe("the tool's own progress (ctx.progress)", () => {
  test("2025: reaches the SDK client's onprogress with the tool's messages, in order, and is on the Task", async () => {
    const client = await legacyClient(stack.url);
    try {
      const seen: { progress: number; message?: string }[] = [];
      const res = await client.callTool({ name: "steps", arguments: { n: 6, ms: 200 } }, undefined, {
        onprogress: (p) => void seen.push(p),
      });
      expect(res.structuredContent).toEqual({ steps: 6 });
      const own = seen.filter((p) => p.message?.startsWith("step "));
      // at most a write every 500 ms over 1.2 s: the first step at once, a later one or two
      expect(own[0]?.message).toBe("step 1 of 6");
      expect(own.length).toBeGreaterThanOrEqual(2);
      expect(own.length).toBeLessThanOrEqual(4);
      const values = seen.map((p) => p.progress);
      expect(values).toEqual([...values].sort((a, b) => a - b));
      expect(new Set(values).size).toBe(values.length);
      expect(values.at(-1)).toBe(4);
      const task = (await tasksOf("steps")).at(-1);
      expect(task?.status?.progress?.total).toBe(6);
    } finally {
      await client.close();
    }
  });

  test("2026: a synchronous call with a progress token streams the tool's progress before its result", async () => {
    const res = await fetch(
      stack.url,
      modern("tools/call", { name: "steps", arguments: { n: 3, ms: 300 }, _meta: { progressToken: "own" } }),
    );
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const messages = (await res.text())
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)));
    const progress = messages.filter((m) => m.method === "notifications/progress").map((m) => m.params);
    expect(progress.map((p) => p.message)).toContain("step 1 of 3");
    expect(progress.every((p) => p.progressToken === "own")).toBe(true);
    expect(messages.at(-1)).toMatchObject({
      id: 1,
      result: { resultType: "complete", structuredContent: { steps: 3 } },
    });
  });
});

describe("the tool's messages to the client (ctx.log)", () => {
  test("2025: notifications/message at the level logging/setLevel asked for and above", async () => {
    const client = await legacyClient(stack.url);
    try {
      const got: { level: string; data: unknown; logger?: string }[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void got.push(n.params));
      await client.setLoggingLevel("info");
      const res = await client.callTool({ name: "chatty", arguments: {} });
      expect(res.structuredContent).toEqual({ done: true });
      expect(got).toEqual([
        { level: "info", data: "working" },
        { level: "error", data: "something to see", logger: "chatty" },
      ]);
    } finally {
      await client.close();
    }
  });

  test("2025: a message logged just before the tool returns still reaches the client, before the result", async () => {
    const client = await legacyClient(stack.url);
    try {
      const got: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void got.push(n.params.data));
      await client.setLoggingLevel("info");
      const res = await client.callTool({ name: "last_words", arguments: {} });
      // The second message was never written on its own (the writer waits 500 ms between
      // writes): it came with the Task's final status, and reached the client before the result.
      const atResult = [...got];
      expect(res.structuredContent).toEqual({ done: true });
      expect(atResult).toEqual(["starting", "done soon"]);
    } finally {
      await client.close();
    }
  });

  test("2026: only a request whose _meta asks for messages gets them, in its stream, at that level and above", async () => {
    const messagesOf = async (meta: Record<string, unknown>) => {
      const res = await fetch(stack.url, modern("tools/call", { name: "chatty", arguments: {}, _meta: meta }));
      const text = await res.text();
      if (!res.headers.get("content-type")?.includes("text/event-stream"))
        return { messages: [], last: JSON.parse(text) };
      const all = text
        .split("\n")
        .filter((l) => l.startsWith("data: "))
        .map((l) => JSON.parse(l.slice(6)));
      return {
        messages: all.filter((m) => m.method === "notifications/message").map((m) => m.params),
        last: all.at(-1),
      };
    };
    const debug = await messagesOf({ "io.modelcontextprotocol/logLevel": "debug" });
    expect(debug.messages.map((m) => m.level)).toEqual(["debug", "info", "error"]);
    expect(debug.last).toMatchObject({ id: 1, result: { structuredContent: { done: true } } });
    const errorsOnly = await messagesOf({ "io.modelcontextprotocol/logLevel": "error" });
    expect(errorsOnly.messages).toEqual([{ level: "error", logger: "chatty", data: "something to see" }]);
    const none = await messagesOf({});
    expect(none.messages).toEqual([]);
    expect(none.last).toMatchObject({ result: { structuredContent: { done: true } } });
  });
});

describe("the tool registry", () => {
  test("heartbeats rebuild nothing; a change of what an agent offers does", async () => {
    const rebuilds = () => metric("mcp_gateway_tool_registry_rebuilds_total", {});
    const renewTime = async () => (await leaseClient(cluster.conn).get(ns, "agent-1")).spec.renewTime;
    const before = await rebuilds();
    const renewed = await renewTime();
    // the agent renews its Lease every 500 ms, which the gateway does not watch
    await eventually(async () => (await renewTime()) !== renewed, { message: "a heartbeat written" });
    // an update of the Agent that offers the same (here an annotation) rebuilds nothing either
    await cluster.mcp.agents.patch(ns, "agent-1", { metadata: { annotations: { "example.com/note": "x" } } }, "merge");
    await Bun.sleep(1_500);
    expect(await rebuilds()).toBe(before);
    await cluster.conn.request("PATCH", `/apis/mcp.io/v1/namespaces/${ns}/agents/agent-1`, {
      body: { spec: { capabilities: ["calls", "registry-test"] } },
      contentType: "application/merge-patch+json",
    });
    await eventually(async () => (await rebuilds()) > before, { message: "the registry rebuilt" });
    await eventually(() => stack.gateway.get("capability.registry-test"), { message: "the new generic tool" });
  });
});

describe("a federated tool in the 2026 era", () => {
  test("progress from the server reaches the client as an SSE stream, and the call is metered", async () => {
    const before = await metric("mcp_gateway_tool_call_duration_seconds", {
      tool: "ref__trigger-long-running-operation",
    });
    const res = await fetch(
      stack.url,
      modern("tools/call", {
        name: "ref__trigger-long-running-operation",
        arguments: { duration: 1, steps: 3 },
        _meta: { progressToken: "fed" },
      }),
    );
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const messages = (await res.text())
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => JSON.parse(l.slice(6)));
    const progress = messages.filter((m) => m.method === "notifications/progress");
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((p) => p.params.progressToken === "fed")).toBe(true);
    expect(messages.at(-1)).toMatchObject({ id: 1, result: { resultType: "complete" } });
    expect(
      await metric("mcp_gateway_tool_call_duration_seconds", { tool: "ref__trigger-long-running-operation" }),
    ).toBeGreaterThan(before);
    expect(
      await metric("mcp_gateway_tool_calls_total", {
        tool: "ref__trigger-long-running-operation",
        outcome: "completed",
      }),
    ).toBeGreaterThanOrEqual(1);
  }, 30_000);

  test("a client that goes away cancels the upstream request", async () => {
    const cancelled = () =>
      metric("mcp_gateway_tool_calls_total", { tool: "ref__trigger-long-running-operation", outcome: "cancelled" });
    const before = await cancelled();
    const abort = new AbortController();
    const call = fetch(stack.url, {
      ...modern("tools/call", { name: "ref__trigger-long-running-operation", arguments: { duration: 15, steps: 5 } }),
      signal: abort.signal,
    }).catch((e: unknown) => e);
    await Bun.sleep(1_000);
    const started = Date.now();
    abort.abort();
    await call;
    await eventually(async () => (await cancelled()) > before, { message: "the federated call counted cancelled" });
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 30_000);
});
