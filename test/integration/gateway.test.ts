// The gateway with the official MCP SDK client over Streamable HTTP, against
// the real apiserver with the controller, scheduler and an agent running.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import { defineTool, ToolError } from "../../lib/agent/tool.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { silentLogger } from "../../lib/log.ts";
import { codeRunnerTools } from "../../services/agents/code-runner/tools.ts";
import { tools as dataTools } from "../../services/agents/data-processor/tools.ts";
import { filesystemTools } from "../../services/agents/filesystem/tools.ts";
import { httpTools } from "../../services/agents/http-client/tools.ts";
import { Gateway, serveGateway } from "../../services/gateway/gateway.ts";
import { labels, sessionLabelValue } from "../../services/gateway/task-calls.ts";
import { slowTool } from "../fixtures/slow-tool.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, ocrAgent, startGatewayStack } from "../harness/gateway-stack.ts";

let cluster: TestCluster;
let ns: string;
let stack: GatewayStack;
let agent: AgentRuntime;
let server: ReturnType<typeof serveGateway>;
let client: Client;

const slow = slowTool("data-processing", 60000);
const boom = defineTool({
  name: "boom",
  description: "Always fails.",
  capability: "data-processing",
  inputSchema: { type: "object" },
  handler: () => {
    throw new ToolError("Exploded", "the tool blew up on purpose");
  },
});

const url = () => new URL(`http://127.0.0.1:${server.port}/mcp`);
const gatewayTasks = async () =>
  (await cluster.mcp.tasks.list(ns, { labelSelector: `${labels.createdBy}=gateway` })).items;

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("gateway");
  stack = await startGatewayStack(cluster, ns, [...dataTools, slow, boom], { agentName: "dp-1" });
  ({ agent, server } = stack);
  client = new Client({ name: "test-client", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url()));
}, 120_000);

afterAll(async () => {
  await client?.close();
  await stack?.stop();
});

describe("gateway over Streamable HTTP with the SDK client", () => {
  test("lists the agents' tools with their schemas", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      "boom",
      "csv_to_json",
      "json_to_csv",
      "query_records",
      "slow",
      "validate_json",
    ]);
    const csv = tools.find((t) => t.name === "csv_to_json");
    expect(csv?.inputSchema).toMatchObject({
      type: "object",
      required: ["csv"],
      properties: { csv: { type: "string" } },
    });
    expect(csv?.description).toContain("CSV");
  });

  test("calls a tool through a durable Task and returns its result", async () => {
    const res = await client.callTool({ name: "csv_to_json", arguments: { csv: "city,pop\nOslo,700000\n" } });
    expect(res.isError).toBeUndefined();
    expect(res.structuredContent).toEqual({ rows: [{ city: "Oslo", pop: "700000" }], count: 1 });
    expect(JSON.parse((res.content as { text: string }[])[0]?.text ?? "")).toEqual(res.structuredContent);
    const task = (await gatewayTasks()).find((t) => t.spec.tool === "csv_to_json");
    expect(task?.status).toMatchObject({ phase: "Completed", assignedAgent: "dp-1" });
    expect(task?.metadata.labels?.[labels.session]).toBe(sessionLabelValue(client.transport?.sessionId ?? "missing"));
  });

  test("a tool that fails returns isError with its reason", async () => {
    const res = await client.callTool({ name: "boom", arguments: {} });
    expect(res.isError).toBe(true);
    expect((res.content as { text: string }[])[0]?.text).toBe("Exploded: the tool blew up on purpose");
  });

  test("bad arguments and unknown tools are JSON-RPC errors and create no Task", async () => {
    const before = (await gatewayTasks()).length;
    const bad = await client
      .callTool({ name: "query_records", arguments: { rows: "nope" } })
      .catch((e: unknown) => e as { code: number; message: string });
    expect(bad).toMatchObject({ code: -32602 });
    expect((bad as { message: string }).message).toContain("arguments.rows: must be array");
    const unknown = await client
      .callTool({ name: "no_such_tool", arguments: {} })
      .catch((e: unknown) => e as { code: number; message: string });
    expect(unknown).toMatchObject({ code: -32602 });
    expect((unknown as { message: string }).message).toContain("Unknown tool: no_such_tool");
    expect((await gatewayTasks()).length).toBe(before);
  });

  test("sends progress while the task runs", async () => {
    const seen: string[] = [];
    // Past the agent's runningAfterMs (1 s) its Task is marked Running (ADR 0013); a shorter call
    // goes from created to finished.
    const res = await client.callTool({ name: "slow", arguments: { ms: 1_500 } }, undefined, {
      onprogress: (p) => {
        seen.push(p.message ?? "");
      },
    });
    expect(res.structuredContent).toEqual({ sleptMs: 1_500 });
    expect(seen).toEqual(["task created", "task running", "task finished"]);
  });

  test("a cancelled call deletes its Task, which stops the agent's work", async () => {
    const abort = new AbortController();
    const call = client
      .callTool({ name: "slow", arguments: { ms: 30_000 } }, undefined, { signal: abort.signal })
      .catch((e: unknown) => e);
    const running = await eventually(async () =>
      (await gatewayTasks()).find((t) => t.spec.tool === "slow" && t.status?.phase === "Running"),
    );
    abort.abort();
    await call;
    await eventually(async () => !(await gatewayTasks()).some((t) => t.metadata.name === running.metadata.name), {
      message: "the Task deleted",
    });
    await eventually(() => agent.inFlight === 0, { message: "the agent stopped the work" });
  });

  test("a call longer than Bun's default 10 s idle timeout is not cut", async () => {
    const res = await client.callTool({ name: "slow", arguments: { ms: 11_000 } }, undefined, { timeout: 30_000 });
    expect(res.structuredContent).toEqual({ sleptMs: 11_000 });
  }, 30_000);

  test("tells clients when the tool list changes", async () => {
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    const extra = ocrAgent(cluster, ns);
    await extra.start();
    try {
      await eventually(() => changed > 0, { message: "notifications/tools/list_changed" });
      expect((await client.listTools()).tools.map((t) => t.name)).toContain("ocr");
    } finally {
      await extra.shutdown();
    }
  });

  test("answers malformed JSON and a missing session with HTTP errors", async () => {
    const bad = await fetch(url(), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const noSession = await fetch(url(), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(noSession.status).toBe(400);
    const unknownSession = await fetch(url(), {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        "Mcp-Session-Id": "nope",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(unknownSession.status).toBe(404);
  });

  test("counts calls in its metrics", async () => {
    const text = await (await fetch(new URL("/metrics", url()))).text();
    expect(text).toMatch(/mcp_gateway_tool_calls_total\{[^}]*tool="csv_to_json",outcome="completed"[^}]*\} 1/);
    expect(text).toMatch(/mcp_gateway_tool_calls_total\{[^}]*tool="boom",outcome="tool_error"[^}]*\} 1/);
    expect(text).toMatch(/mcp_gateway_rpc_messages_total\{[^}]*method="tools\/call"[^}]*\} \d+/);
    expect(text).toContain(`mcp_gateway_tasks_in_flight{domain="${ns}"} 0`);
  });
});

describe("gateway with bearer tokens", () => {
  let secured: Gateway;
  let securedServer: ReturnType<typeof serveGateway>;
  const securedUrl = () => new URL(`http://127.0.0.1:${securedServer.port}/mcp`);
  const connect = async (token?: string) => {
    const c = new Client({ name: "secured-client", version: "1.0.0" });
    await c.connect(
      new StreamableHTTPClientTransport(
        securedUrl(),
        token ? { requestInit: { headers: { Authorization: `Bearer ${token}` } } } : {},
      ),
    );
    return c;
  };

  beforeAll(async () => {
    secured = new Gateway({
      conn: cluster.conn,
      namespace: ns,
      log: silentLogger,
      security: {
        tokens: new Map([
          ["alice", "alice-token"],
          ["bob", "bob-token"],
        ]),
        maxBodyBytes: 4096,
      },
    });
    await secured.start();
    securedServer = serveGateway(secured, { port: 0, hostname: "127.0.0.1" });
  });
  afterAll(async () => {
    await securedServer?.stop(true);
    await secured?.stop();
  });

  test("a known token gets through, and its Task records the client", async () => {
    const alice = await connect("alice-token");
    try {
      const res = await alice.callTool({ name: "json_to_csv", arguments: { rows: [{ a: 1 }] } });
      expect(res.structuredContent).toEqual({ csv: "a\n1\n", count: 1 });
      const t = (await gatewayTasks()).find((x) => x.spec.tool === "json_to_csv");
      expect(t?.metadata.labels?.[labels.client]).toBe("alice");
    } finally {
      await alice.close();
    }
  });

  test("no token or a wrong one is refused with 401, and creates no Task", async () => {
    const before = (await gatewayTasks()).length;
    // The SDK client surfaces the 401 body; the status itself is checked with fetch.
    expect(await connect().catch((e: unknown) => String(e))).toContain("Unauthorized: a bearer token is required");
    expect(await connect("mallory-token").catch((e: unknown) => String(e))).toContain("Unauthorized: invalid token");
    const raw = await fetch(securedUrl(), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    expect(raw.status).toBe(401);
    expect(raw.headers.get("www-authenticate")).toContain("resource_metadata=");
    expect((await gatewayTasks()).length).toBe(before);
  });

  test("one client cannot use another's session", async () => {
    const alice = await connect("alice-token");
    try {
      const res = await fetch(securedUrl(), {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
          Authorization: "Bearer bob-token",
          "Mcp-Session-Id": alice.transport?.sessionId ?? "",
          "Mcp-Protocol-Version": "2025-11-25",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }),
      });
      expect(res.status).toBe(404);
    } finally {
      await alice.close();
    }
  });

  test("an oversized body gets 413 and creates no Task", async () => {
    const before = (await gatewayTasks()).length;
    const res = await fetch(securedUrl(), {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        Authorization: "Bearer alice-token",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "csv_to_json", arguments: { csv: "x".repeat(10_000) } },
      }),
    });
    expect(res.status).toBe(413);
    expect((await gatewayTasks()).length).toBe(before);
  });

  test("a task-augmented call returns at once and is finished through tasks/get and tasks/result", async () => {
    const alice = await connect("alice-token");
    try {
      const created = await alice.request(
        { method: "tools/call", params: { name: "slow", arguments: { ms: 400 }, task: { ttl: 600_000 } } },
        CreateTaskResultSchema,
      );
      const taskId = created.task.taskId;
      expect(taskId).toMatch(/^call-[0-9a-f]{24}$/);
      expect(created.task.status).toBe("working");
      // backed by the Task object of that name
      expect((await cluster.mcp.tasks.get(ns, taskId)).spec).toMatchObject({
        tool: "slow",
        ttlSecondsAfterFinished: 600,
      });
      const done = await eventually(async () => {
        const t = await alice.experimental.tasks.getTask(taskId);
        return t.status === "completed" && t;
      });
      expect(done.statusMessage).toBeUndefined();
      const result = await alice.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
      expect(result.structuredContent).toEqual({ sleptMs: 400 });
      expect((await alice.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(taskId);

      // another client can neither see nor fetch it
      const bob = await connect("bob-token");
      try {
        expect((await bob.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).not.toContain(taskId);
        const err = await bob.experimental.tasks.getTask(taskId).catch((e: unknown) => e as { code: number });
        expect(err).toMatchObject({ code: -32602 });
      } finally {
        await bob.close();
      }
    } finally {
      await alice.close();
    }
  });

  test("tasks/cancel stops the work and the task reads cancelled", async () => {
    const alice = await connect("alice-token");
    try {
      const { task } = await alice.request(
        { method: "tools/call", params: { name: "slow", arguments: { ms: 30_000 }, task: { ttl: 60_000 } } },
        CreateTaskResultSchema,
      );
      await eventually(async () => (await cluster.mcp.tasks.get(ns, task.taskId)).status?.phase === "Running");
      const cancelled = await alice.experimental.tasks.cancelTask(task.taskId);
      expect(cancelled.status).toBe("cancelled");
      await eventually(() => agent.inFlight === 0, { message: "the agent stopped the work" });
      expect((await cluster.mcp.tasks.get(ns, task.taskId)).status?.error).toMatchObject({
        reason: "Cancelled",
        retryable: false,
      });
    } finally {
      await alice.close();
    }
  });

  test("a restarted gateway still answers for tasks started before the restart", async () => {
    const alice = await connect("alice-token");
    const { task } = await alice.request(
      { method: "tools/call", params: { name: "slow", arguments: { ms: 1500 }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    await alice.close().catch(() => {});
    // The gateway goes away with everything in its memory; a new one starts.
    await securedServer.stop(true);
    await secured.stop();
    secured = new Gateway({
      conn: cluster.conn,
      namespace: ns,
      log: silentLogger,
      security: { tokens: new Map([["alice", "alice-token"]]) },
    });
    await secured.start();
    securedServer = serveGateway(secured, { port: 0, hostname: "127.0.0.1" });
    const again = await connect("alice-token");
    try {
      const result = await eventually(async () => {
        const t = await again.experimental.tasks.getTask(task.taskId);
        return t.status === "completed" && again.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
      });
      expect(result.structuredContent).toEqual({ sleptMs: 1500 });
    } finally {
      await again.close();
    }
  });

  test("a foreign Origin gets 403", async () => {
    const res = await fetch(securedUrl(), {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Origin: "https://evil.example",
        Authorization: "Bearer alice-token",
      },
      body: "{}",
    });
    expect(res.status).toBe(403);
  });
});

describe("gateway over stdio", () => {
  test("a client that launches the gateway as a command lists and calls the same tools", async () => {
    const stdio = new Client({ name: "desktop-client", version: "1.0.0" });
    await stdio.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(repoRoot, "services", "gateway", "stdio.ts"), `--namespace=${ns}`],
        env: { ...(process.env as Record<string, string>), KUBECONFIG: cluster.kubeconfigPath },
        stderr: "ignore",
      }),
    );
    try {
      const names = (await stdio.listTools()).tools.map((t) => t.name);
      expect(names).toContain("csv_to_json");
      const res = await stdio.callTool({
        name: "query_records",
        arguments: { rows: [{ n: 2 }, { n: 5 }], aggregate: [{ op: "max", field: "n", as: "top" }] },
      });
      expect(res.structuredContent).toEqual({ rows: [{ top: 5 }], count: 1 });
    } finally {
      await stdio.close();
    }
  }, 30_000);
});

describe("every example agent through the gateway", () => {
  test("data-processor, filesystem, http-client and code-runner tools answer over MCP", async () => {
    const root = mkdtempSync(join(tmpdir(), "gw-fs-"));
    writeFileSync(join(root, "notes.txt"), "remember the milk");
    const web = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ from: "web" }) });
    const agents = [
      new AgentRuntime({
        name: "fs-1",
        namespace: ns,
        conn: cluster.conn,
        tools: filesystemTools({ root }),
        heartbeatIntervalMs: 500,
        log: silentLogger,
      }),
      new AgentRuntime({
        name: "http-1",
        namespace: ns,
        conn: cluster.conn,
        tools: httpTools({ allowedHosts: [`127.0.0.1:${web.port}`] }),
        heartbeatIntervalMs: 500,
        log: silentLogger,
      }),
      new AgentRuntime({
        name: "code-1",
        namespace: ns,
        conn: cluster.conn,
        tools: codeRunnerTools(),
        heartbeatIntervalMs: 500,
        log: silentLogger,
      }),
    ];
    for (const a of agents) await a.start();
    try {
      await eventually(
        async () =>
          (await client.listTools()).tools.some((t) => t.name === "run_code") &&
          (await client.listTools()).tools.some((t) => t.name === "http_get"),
      );
      const calls = {
        csv_to_json: { csv: "k\nv\n" },
        read_file: { path: "notes.txt" },
        http_get: { url: `http://127.0.0.1:${web.port}/` },
        run_code: { language: "python", code: "print(6 * 7)" },
      };
      const out: Record<string, unknown> = {};
      for (const [name, args] of Object.entries(calls))
        out[name] = (await client.callTool({ name, arguments: args })).structuredContent;
      expect(out.csv_to_json).toEqual({ rows: [{ k: "v" }], count: 1 });
      expect(out.read_file).toMatchObject({ content: "remember the milk" });
      expect(JSON.parse((out.http_get as { body: string }).body)).toEqual({ from: "web" });
      expect(out.run_code).toMatchObject({ exitCode: 0, stdout: "42\n" });
    } finally {
      for (const a of agents) await a.shutdown();
      await web.stop(true);
    }
  }, 60_000);
});

describe("gateway process restart", () => {
  test("kill -9 mid-call: the task still completes, its result is fetched from the restarted gateway, and a plain call's stream resumes there", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-tokens-"));
    writeFileSync(join(dir, "carol"), "carol-token");
    const port = await freePort();
    const start = () =>
      Bun.spawn(
        [
          process.execPath,
          join(repoRoot, "services", "gateway", "main.ts"),
          `--namespace=${ns}`,
          `--port=${port}`,
          "--host=127.0.0.1",
          `--tokens-dir=${dir}`,
          // about restarts, not who may call: tests/integration/tool-authorization.test.ts
          "--authorization=none",
        ],
        {
          env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, LOG_LEVEL: "warn" },
          stdout: "ignore",
          stderr: "inherit",
        },
      );
    const ready = () =>
      eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, { timeout: 15_000 });
    const connect = async () => {
      const c = new Client({ name: "carol", version: "1.0.0" });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), {
          requestInit: { headers: { Authorization: "Bearer carol-token" } },
          // a broken stream is resumed once the gateway is back (every retry interval, for 20 of them)
          reconnectionOptions: {
            maxRetries: 20,
            initialReconnectionDelay: 1000,
            maxReconnectionDelay: 1000,
            reconnectionDelayGrowFactor: 1,
          },
        }),
      );
      return c;
    };
    let gw = start();
    try {
      await ready();
      const first = await connect();
      const { task } = await first.request(
        { method: "tools/call", params: { name: "slow", arguments: { ms: 2500 }, task: { ttl: 60_000 } } },
        CreateTaskResultSchema,
      );
      // and a plain call in flight at the moment of the kill
      const plain = first.callTool({ name: "slow", arguments: { ms: 2500 } }, undefined, { timeout: 45_000 });
      await eventually(async () => (await cluster.mcp.tasks.get(ns, task.taskId)).status?.phase === "Running");
      // the plain call's Task exists before the kill (on a loaded machine its create may trail)
      await eventually(async () =>
        (await gatewayTasks()).some(
          (t) => t.metadata.labels?.[labels.client] === "carol" && t.metadata.name !== task.taskId,
        ),
      );
      gw.kill("SIGKILL");
      await gw.exited;
      gw = start();
      await ready();
      // that call's stream died with the gateway: the client resumes it on the new process, which
      // holds none of its events and answers it from its Task (services/gateway/resume-elsewhere.ts)
      expect((await plain).structuredContent).toEqual({ sleptMs: 2500 });
      const second = await connect();
      try {
        const result = await second.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
        expect(result.structuredContent).toEqual({ sleptMs: 2500 });
        // the plain call's Task also ran to completion on the agent
        const plainTask = (await gatewayTasks()).filter(
          (t) => t.metadata.labels?.[labels.client] === "carol" && t.metadata.name !== task.taskId,
        );
        expect(plainTask).toHaveLength(1);
        await eventually(
          async () =>
            (await cluster.mcp.tasks.get(ns, plainTask[0]?.metadata.name ?? "")).status?.phase === "Completed",
          { message: "the plain call's Task completed" },
        );
      } finally {
        await second.close();
      }
      await first.close().catch(() => {});
    } finally {
      gw.kill("SIGKILL");
    }
  }, 60_000);
});
