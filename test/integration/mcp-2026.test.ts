// MCP 2026-07-28 beside the 2025 revisions on one /mcp endpoint: the
// conformance suite's 2026-07-28 requirements and tasks extension, clients
// of both eras (SDK 2.x and 1.x, the Inspector CLI in both eras), two gateway
// replicas answering for each other's tasks, a task that outlives its
// gateway, and the protocol's errors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { inspectorLauncher, repoRoot } from "../../lib/control-plane/binaries.ts";
import { silentLogger } from "../../lib/log.ts";
import { version as conductorVersion } from "../../lib/version.ts";
import { Gateway, serveGateway } from "../../services/gateway/gateway.ts";
import { readTokenDir } from "../../services/gateway/security.ts";
import { type ConformanceServer, federateConformanceServer } from "../fixtures/conformance-server.ts";
import { conformanceTools } from "../fixtures/conformance-tools.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";
import { protocol2026, type Request2026Options, rpc2026, tasksExtension } from "../harness/mcp-2026.ts";
import { runBun } from "../harness/run-bun.ts";

let cluster: TestCluster;
let stack: GatewayStack;
let resources: ConformanceServer;
/** Two more replicas of the same domain's gateway, with bearer tokens. */
const replicas: { gateway: Gateway; server: ReturnType<typeof serveGateway>; url: string }[] = [];

const version = protocol2026;
const tasksExt = tasksExtension;

const run = runBun;

const rpc = (url: string, method: string, params: Record<string, unknown> = {}, opts: Request2026Options = {}) =>
  rpc2026(url, method, params, opts);

beforeAll(async () => {
  cluster = await testCluster();
  const ns = await cluster.newNamespace("mcp-2026");
  stack = await startGatewayStack(cluster, ns, conformanceTools);
  resources = await federateConformanceServer(cluster, stack);
  const dir = mkdtempSync(join(tmpdir(), "gw-tokens-"));
  writeFileSync(join(dir, "alice"), "alice-token");
  writeFileSync(join(dir, "bob"), "bob-token");
  for (let i = 0; i < 2; i++) {
    const gateway = new Gateway({
      conn: cluster.conn,
      namespace: ns,
      log: silentLogger,
      security: { tokens: readTokenDir(dir), ratePerSecond: 10_000, burst: 10_000 },
    });
    await gateway.start();
    const server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
    replicas.push({ gateway, server, url: `http://127.0.0.1:${server.port}/mcp` });
  }
  await eventually(() => replicas.every((r) => r.gateway.get("slow_compute")), { message: "tools on the replicas" });
}, 120_000);

afterAll(async () => {
  for (const r of replicas) {
    await r.server.stop(true);
    await r.gateway.stop();
  }
  await stack?.stop();
  await resources?.stop();
});

describe("MCP 2026-07-28 conformance", () => {
  test("passes the 2026-07-28 requirements and the tasks extension but the expected failures it names", async () => {
    const res = await run(
      [
        join(repoRoot, "node_modules", "conformance-next", "dist", "index.js"),
        "server",
        "--url",
        stack.url.toString(),
        "--requirements",
        version,
        "--expected-failures",
        join(repoRoot, "test", "conformance", "expected-failures-2026.yml"),
        "-o",
        join(cluster.cp.dataDir, "conformance-2026"),
      ],
      400_000,
    );
    const total = /Total: (\d+) passed, (\d+) failed/.exec(res.stdout);
    console.log(`conformance 0.2.0-alpha.12 (--requirements ${version}): ${total?.[0] ?? "no total"}`);
    if (res.code !== 0)
      console.log(`${res.stdout.slice(res.stdout.indexOf("=== SUMMARY ==="))}\n${res.stderr.slice(-3000)}`);
    expect(res.stdout).toContain("Baseline check passed");
    expect(res.code).toBe(0);
    // 185 checks pass (159 before the input_required fixtures and synchronous input_required, 183 before prompts asked)
    expect(Number(total?.[1])).toBeGreaterThanOrEqual(180);
  }, 420_000);
});

describe("clients of both eras on one endpoint", () => {
  test("the 2.x SDK client negotiates 2026-07-28 and the 1.x client 2025-11-25; both list and call", async () => {
    const modern = new ModernClient({ name: "modern", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await modern.connect(new ModernTransport(stack.url));
    expect(modern.getProtocolEra()).toBe("modern");
    expect((await modern.listTools()).tools.map((t) => t.name)).toContain("greet");
    const m = await modern.callTool({ name: "greet", arguments: { name: "modern" } });
    expect(m.content).toEqual([{ type: "text", text: "Hello, modern!" }]);
    await modern.close();

    const legacy = new Client({ name: "legacy", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(stack.url);
    await legacy.connect(transport);
    expect(transport.protocolVersion).toBe("2025-11-25");
    expect((await legacy.listTools()).tools.map((t) => t.name)).toContain("greet");
    const l = await legacy.callTool({ name: "greet", arguments: { name: "legacy" } });
    expect(l.content).toEqual([{ type: "text", text: "Hello, legacy!" }]);
    await legacy.close();
  }, 30_000);

  test.each(["modern", "legacy"])(
    "the MCP Inspector CLI lists and calls in the %s era",
    async (era) => {
      const call = await run([
        inspectorLauncher(),
        "--cli",
        stack.url.toString(),
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        "greet",
        "--tool-arg",
        `name=${era}`,
      ]);
      expect(call.code).toBe(0);
      expect(JSON.parse(call.stdout).content).toEqual([{ type: "text", text: `Hello, ${era}!` }]);
      const list = await run([
        inspectorLauncher(),
        "--cli",
        stack.url.toString(),
        "--protocol-era",
        era,
        "--method",
        "tools/list",
      ]);
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout).tools.map((t: { name: string }) => t.name)).toContain("slow_compute");
    },
    60_000,
  );

  test("server/discover advertises both eras and the tasks extension, with caching hints", async () => {
    const { status, body } = await rpc(stack.url.toString(), "server/discover");
    expect(status).toBe(200);
    expect(body.result.supportedVersions).toEqual(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]);
    expect(body.result.capabilities.extensions).toEqual({ [tasksExt]: {} });
    expect(body.result.capabilities.tasks).toBeUndefined();
    expect(body.result.resultType).toBe("complete");
    const list = await rpc(stack.url.toString(), "tools/list");
    expect(list.body.result).toMatchObject({ ttlMs: 5_000, cacheScope: "public", resultType: "complete" });
  });
});

describe("stateless serving with the tasks extension", () => {
  test("a task made on one replica is read, and finished, on the other", async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const created = await rpc(
      a.url,
      "tools/call",
      { name: "slow_compute", arguments: { seconds: 1, label: "replicas" } },
      { token: "alice-token", extensions: true },
    );
    expect(created.status).toBe(200);
    expect(created.body.result).toMatchObject({ resultType: "task", status: "working", pollIntervalMs: 500 });
    const taskId = created.body.result.taskId as string;
    expect(taskId).toMatch(/^call-[0-9a-f]{24}$/);
    // readable at once, from the other replica
    const now = await rpc(b.url, "tasks/get", { taskId }, { token: "alice-token", extensions: true });
    expect(now.body.result.taskId).toBe(taskId);
    const done = await eventually(
      async () => {
        const r = await rpc(b.url, "tasks/get", { taskId }, { token: "alice-token", extensions: true });
        return r.body.result.status === "completed" && r.body.result;
      },
      { message: "the task completed, seen through the other replica" },
    );
    expect(done.result.content).toEqual([{ type: "text", text: "computed replicas in 1s" }]);
    expect(done.result.resultType).toBe("complete");
  }, 30_000);

  test("a task outlives the gateway that started it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-tokens-"));
    writeFileSync(join(dir, "alice"), "alice-token");
    const doomed = new Gateway({
      conn: cluster.conn,
      namespace: stack.gateway.namespace,
      log: silentLogger,
      security: { tokens: readTokenDir(dir), ratePerSecond: 10_000, burst: 10_000 },
    });
    await doomed.start();
    const server = serveGateway(doomed, { port: 0, hostname: "127.0.0.1" });
    await eventually(() => doomed.get("slow_compute"));
    const created = await rpc(
      `http://127.0.0.1:${server.port}/mcp`,
      "tools/call",
      { name: "slow_compute", arguments: { seconds: 2, label: "survivor" } },
      { token: "alice-token", extensions: true },
    );
    const taskId = created.body.result.taskId as string;
    await server.stop(true);
    await doomed.stop();
    const done = await eventually(
      async () => {
        const r = await rpc(
          replicas[1]?.url ?? "",
          "tasks/get",
          { taskId },
          { token: "alice-token", extensions: true },
        );
        return r.body.result.status === "completed" && r.body.result;
      },
      { message: "the task finished after its gateway was gone" },
    );
    expect(done.result.content[0].text).toBe("computed survivor in 2s");
  }, 30_000);

  test("tool errors complete with isError; cancelling ends a task as cancelled", async () => {
    const url = replicas[0]?.url ?? "";
    const opts = { token: "alice-token", extensions: true };
    const failing = await rpc(url, "tools/call", { name: "failing_job", arguments: {} }, opts);
    const failed = await eventually(async () => {
      const r = await rpc(url, "tasks/get", { taskId: failing.body.result.taskId }, opts);
      return r.body.result.status !== "working" && r.body.result;
    });
    expect(failed.status).toBe("completed");
    expect(failed.result.isError).toBe(true);
    const slow = await rpc(url, "tools/call", { name: "slow_compute", arguments: { seconds: 30 } }, opts);
    const cancel = await rpc(url, "tasks/cancel", { taskId: slow.body.result.taskId }, opts);
    expect(cancel.body.result).toEqual({
      resultType: "complete",
      _meta: { "io.modelcontextprotocol/serverInfo": { name: "mcp-conductor-gateway", version: conductorVersion } },
    });
    const after = await rpc(url, "tasks/get", { taskId: slow.body.result.taskId }, opts);
    expect(after.body.result.status).toBe("cancelled");
  }, 30_000);

  test("input_required: the agent's question reaches the client through tasks/get, the answer through tasks/update", async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const opts = { token: "alice-token", extensions: true };
    const created = await rpc(a.url, "tools/call", { name: "multi_input", arguments: {} }, opts);
    const taskId = created.body.result.taskId as string;
    const asking = await eventually(
      async () => {
        const r = await rpc(b.url, "tasks/get", { taskId }, opts);
        const keys = Object.keys(r.body.result.inputRequests ?? {});
        return r.body.result.status === "input_required" && keys.length === 2 && r.body.result;
      },
      { message: "two input requests on the task" },
    );
    // the two questions are asked in parallel, so their order is the agent's; tell them by their message
    const keyOf = (message: string) =>
      Object.keys(asking.inputRequests).find((k) => asking.inputRequests[k].params.message === message) ?? "";
    const [first, second] = [keyOf("Your name?"), keyOf("Confirm?")];
    expect(first).not.toBe("");
    expect(second).not.toBe("");
    expect(asking.inputRequests[first].method).toBe("elicitation/create");
    // one answer: still input_required, only the other key left
    const partial = await rpc(
      b.url,
      "tasks/update",
      { taskId, inputResponses: { [first]: { action: "accept", content: { name: "Ada" } } } },
      opts,
    );
    expect(partial.body.result.resultType).toBe("complete");
    const half = await rpc(a.url, "tasks/get", { taskId }, opts);
    expect(half.body.result.status).toBe("input_required");
    expect(Object.keys(half.body.result.inputRequests)).toEqual([second]);
    await rpc(
      a.url,
      "tasks/update",
      { taskId, inputResponses: { [second]: { action: "accept", content: { confirm: "yes" } } } },
      opts,
    );
    const done = await eventually(async () => {
      const r = await rpc(b.url, "tasks/get", { taskId }, opts);
      return r.body.result.status === "completed" && r.body.result;
    });
    const answers = JSON.parse(done.result.content[0].text);
    expect(answers.name).toMatchObject({ action: "accept", content: { name: "Ada" } });
    expect(answers.confirm).toMatchObject({ action: "accept", content: { confirm: "yes" } });
    // and the Task keeps no questions or answers once they are taken
    const task = await cluster.mcp.tasks.get(stack.gateway.namespace, taskId);
    expect(task.status?.inputRequests).toEqual({});
    expect(task.status?.inputResponses).toEqual({});
  }, 30_000);

  test("a tool that asks, called without tasks: input_required with a requestState; without the capability, -32021 naming it", async () => {
    const call = (capabilities: Record<string, unknown>) =>
      rpc(
        replicas[0]?.url ?? "",
        "tools/call",
        { name: "confirm_delete", arguments: { filename: "x" } },
        {
          token: "alice-token",
          meta: {
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": capabilities,
          },
        },
      );
    const asked = await call({ elicitation: {} });
    expect(asked.status).toBe(200);
    expect(typeof asked.body.result.requestState).toBe("string");
    expect(asked.body.result).toMatchObject({
      resultType: "input_required",
      inputRequests: { confirm: { method: "elicitation/create", params: { message: "Delete x?" } } },
    });
    const refused = await call({});
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { elicitation: {} } },
    });
    expect(refused.body.error.message).toContain("did not declare the elicitation capability");
  }, 30_000);

  test("tasks/cancel ends a task that waits for input", async () => {
    const opts = { token: "alice-token", extensions: true };
    const url = replicas[1]?.url ?? "";
    const created = await rpc(url, "tools/call", { name: "confirm_delete", arguments: { filename: "y" } }, opts);
    const taskId = created.body.result.taskId;
    await eventually(
      async () => (await rpc(url, "tasks/get", { taskId }, opts)).body.result.status === "input_required",
      { message: "the task asking" },
    );
    expect((await rpc(url, "tasks/cancel", { taskId }, opts)).body.result.resultType).toBe("complete");
    expect((await rpc(url, "tasks/get", { taskId }, opts)).body.result.status).toBe("cancelled");
  }, 30_000);

  test("tasks/update on a task that is not waiting: -32602", async () => {
    const opts = { token: "alice-token", extensions: true };
    const url = replicas[0]?.url ?? "";
    const created = await rpc(url, "tools/call", { name: "slow_compute", arguments: { seconds: 0 } }, opts);
    const taskId = created.body.result.taskId;
    await eventually(async () => (await rpc(url, "tasks/get", { taskId }, opts)).body.result.status === "completed");
    const r = await rpc(url, "tasks/update", { taskId, inputResponses: { x: {} } }, opts);
    expect(r).toMatchObject({ status: 400, body: { error: { code: -32602 } } });
  });

  test("authorization on every task request: another client's task is unknown", async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const created = await rpc(
      a.url,
      "tools/call",
      { name: "slow_compute", arguments: { seconds: 0 } },
      { token: "alice-token", extensions: true },
    );
    const taskId = created.body.result.taskId;
    for (const method of ["tasks/get", "tasks/cancel"]) {
      const r = await rpc(b.url, method, { taskId }, { token: "bob-token", extensions: true });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe(-32602);
    }
    const noToken = await rpc(b.url, "tasks/get", { taskId }, { extensions: true });
    expect(noToken.status).toBe(401);
  });
});

describe("2026-07-28 errors", () => {
  const url = () => stack.url.toString();

  test("unknown taskId: -32602; no tasks extension: -32021 naming it; both HTTP 400 with the request's id", async () => {
    const unknown = await rpc(url(), "tasks/get", { taskId: "call-000000000000000000000000" }, { extensions: true });
    expect(unknown).toMatchObject({ status: 400, body: { id: 7, error: { code: -32602 } } });
    const noExt = await rpc(url(), "tasks/get", { taskId: "call-000000000000000000000000" });
    expect(noExt).toMatchObject({
      status: 400,
      body: { id: 7, error: { code: -32021, data: { requiredCapabilities: { extensions: { [tasksExt]: {} } } } } },
    });
  });

  test("a tool call without the extension runs synchronously", async () => {
    const r = await rpc(url(), "tools/call", { name: "slow_compute", arguments: { seconds: 0 } });
    expect(r.body.result).toMatchObject({ resultType: "complete", content: [{ type: "text" }] });
    expect(r.body.result.taskId).toBeUndefined();
  });

  test("headers that disagree with the body: -32020", async () => {
    const method = await rpc(url(), "tools/list", {}, { headers: { "mcp-method": "prompts/list" } });
    expect(method).toMatchObject({ status: 400, body: { error: { code: -32020 } } });
    const name = await rpc(
      url(),
      "tools/call",
      { name: "greet", arguments: { name: "x" } },
      { headers: { "mcp-name": "other" } },
    );
    expect(name).toMatchObject({ status: 400, body: { error: { code: -32020 } } });
  });

  test("missing _meta: -32602; an unknown version: -32022 with the supported ones; removed methods: 404", async () => {
    const noMeta = await rpc(url(), "tools/list", {}, { meta: {} });
    expect(noMeta).toMatchObject({ status: 400, body: { error: { code: -32602 } } });
    const res = await fetch(url(), {
      method: "POST",
      headers: { "content-type": "application/json", "mcp-protocol-version": "2099-01-01", "mcp-method": "tools/list" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 9,
        method: "tools/list",
        params: {
          _meta: {
            "io.modelcontextprotocol/protocolVersion": "2099-01-01",
            "io.modelcontextprotocol/clientCapabilities": {},
          },
        },
      }),
    });
    const body = await res.json();
    expect(res.status).toBe(400);
    expect(body.error).toMatchObject({ code: -32022, data: { requested: "2099-01-01", supported: expect.any(Array) } });
    for (const removed of ["initialize", "ping", "logging/setLevel", "tasks/result"]) {
      const r = await rpc(url(), removed);
      expect(r).toMatchObject({ status: 404, body: { id: 7, error: { code: -32601 } } });
    }
  });
});
