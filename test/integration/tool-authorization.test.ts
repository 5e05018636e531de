// Who may call which tool, decided by Kubernetes RBAC on the real apiserver:
// the Roles shipped in kustomize/base/tool-access.yaml, service-account
// tokens checked by TokenReview, static tokens; tools/list filtered per
// caller in both eras, a denial as -32003 and a Warning Event, bindings taking
// effect within the decision TTL, task methods refused by the caller's
// identity, and the two limits on Tasks (a caller's in flight, the domain's
// ResourceQuota) as -32004.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parseAllDocuments } from "yaml";
import { defineTool } from "../../lib/agent/tool.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { annotations, clientLabelValue, labels } from "../../services/gateway/task-calls.ts";
import { slowTool } from "../fixtures/slow-tool.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";
import { rpc2026 } from "../harness/mcp-2026.ts";

let cluster: TestCluster;
let ns: string;
let stack: GatewayStack;
let resource: string;
/** A static-token client named like the reader's label value: the lookalike of part 5. */
let lookalike: string;

const tool = (name: string) =>
  defineTool({
    name,
    description: `${name} for the RBAC tests`,
    capability: "rbac",
    inputSchema: { type: "object" },
    handler: () => ({ tool: name }),
  });
const readFile = tool("read_file");
const writeFile = tool("write_file");
const slow = slowTool("rbac");

const tokens = { ops: "ops-token-0123456789", lookalike: "lookalike-token-0123456789" };

async function saToken(name: string): Promise<string> {
  const res = await cluster.conn.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences: [resource], expirationSeconds: 600 },
      },
    },
  );
  return res.status.token;
}

async function create(path: string, body: Record<string, unknown>) {
  await cluster.conn.request("POST", path, { body });
}

const rolebinding = (name: string, role: string, sa: string) =>
  create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role },
    subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }],
  });

const toolNames = async (token: string) => {
  const r = await rpc2026(stack.url, "tools/list", {}, { token });
  expect(r.status).toBe(200);
  return (r.body.result.tools as { name: string }[]).map((t) => t.name).sort();
};

const call = (token: string, name: string, args: Record<string, unknown> = {}, extensions = false) =>
  rpc2026(stack.url, "tools/call", { name, arguments: args }, { token, extensions });

const tasksOf = async (toolName: string) =>
  (await cluster.mcp.tasks.list(ns, { labelSelector: `${labels.createdBy}=gateway,${labels.tool}=${toolName}` })).items;

async function legacyClient(token: string): Promise<Client> {
  const client = new Client({ name: "rbac-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(stack.url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
  );
  return client;
}

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("rbac");
  resource = `http://mcp-gateway.${ns}.svc:8080/mcp`;
  for (const sa of ["reader", "stranger", "late"])
    await create(`/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: sa },
    });
  // The Roles and the binding as shipped.
  for (const doc of parseAllDocuments(readFileSync(join(repoRoot, "kustomize/base/tool-access.yaml"), "utf8"))) {
    const obj = doc.toJS() as { kind: string };
    const plural = obj.kind === "Role" ? "roles" : "rolebindings";
    await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/${plural}`, obj);
  }
  await rolebinding("reader-reads", "mcp-tool-reader", "reader");
  lookalike = clientLabelValue(`system:serviceaccount:${ns}:reader`);
  stack = await startGatewayStack(cluster, ns, [readFile, writeFile, slow], {
    security: {
      ratePerSecond: 10_000,
      burst: 10_000,
      kubernetesTokens: "tokenreview",
      resource,
      tokens: new Map([
        ["ops", tokens.ops],
        [lookalike, tokens.lookalike],
      ]),
    },
    gateway: { authorization: "rbac", authorizationTtlMs: 1_000, maxInFlightPerCaller: 2 },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe("tools/list shows each caller what RBAC lets it call", () => {
  test("2026: the operator sees every tool, the reader the read-only one, a stranger none", async () => {
    expect(await toolNames(tokens.ops)).toEqual(["read_file", "slow", "write_file"]);
    expect(await toolNames(await saToken("reader"))).toEqual(["read_file"]);
    expect(await toolNames(await saToken("stranger"))).toEqual([]);
  });

  test("2025: the same, through the SDK client", async () => {
    const reader = await legacyClient(await saToken("reader"));
    const ops = await legacyClient(tokens.ops);
    try {
      expect((await reader.listTools()).tools.map((t) => t.name)).toEqual(["read_file"]);
      expect((await ops.listTools()).tools.map((t) => t.name).sort()).toEqual(["read_file", "slow", "write_file"]);
    } finally {
      await reader.close();
      await ops.close();
    }
  });
});

describe("a call RBAC does not allow", () => {
  test("is -32003 naming the tool, creates no Task, and is a Warning Event on the tool's Agent", async () => {
    const token = await saToken("reader");
    // What the reader may call runs (so the refusal below can fail).
    const ok = await call(token, "read_file");
    expect(ok.body.result?.structuredContent).toEqual({ tool: "read_file" });
    const r = await call(token, "write_file");
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe(-32003);
    expect(r.body.error.message).toBe(
      `Forbidden: system:serviceaccount:${ns}:reader may not call tool write_file (verb call on tools.mcp.io/write_file)`,
    );
    expect(await tasksOf("write_file")).toEqual([]);
    const event = await eventually(
      async () =>
        (
          await cluster.conn.request<{
            items: { reason: string; type: string; message: string; involvedObject: { kind: string; name: string } }[];
          }>("GET", `/api/v1/namespaces/${ns}/events`)
        ).items.find((e) => e.reason === "ToolCallForbidden"),
      { message: "the ToolCallForbidden Event" },
    );
    expect(event.type).toBe("Warning");
    expect(event.involvedObject).toMatchObject({ kind: "Agent", name: "agent-1" });
    expect(event.message).toContain(`system:serviceaccount:${ns}:reader may not call tool write_file`);
  });

  test("2025: the SDK client gets the same error", async () => {
    const reader = await legacyClient(await saToken("reader"));
    try {
      await expect(reader.callTool({ name: "write_file", arguments: {} })).rejects.toThrow(
        /-32003.*may not call tool write_file/,
      );
    } finally {
      await reader.close();
    }
  });

  test("a RoleBinding made while the gateway runs takes effect within the decision TTL; removed, it ends", async () => {
    const token = await saToken("late");
    expect((await call(token, "read_file")).body.error?.code).toBe(-32003);
    await rolebinding("late-reads", "mcp-tool-reader", "late");
    await eventually(async () => (await call(token, "read_file")).body.result !== undefined, {
      message: "the new binding honoured",
    });
    await cluster.conn.request("DELETE", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/late-reads`);
    await eventually(async () => (await call(token, "read_file")).body.error?.code === -32003, {
      message: "the removed binding honoured",
    });
  });
});

describe("the caller on its Tasks", () => {
  test("user and groups digest are recorded; a lookalike client cannot follow the task; nor can the owner once its tool is revoked", async () => {
    await rolebinding("late-reads-again", "mcp-tool-reader", "late");
    const token = await saToken("late");
    await eventually(async () => (await call(token, "read_file")).body.result !== undefined, {
      message: "late may read",
    });
    const started = await call(token, "slow", { ms: 60_000 }, true);
    // slow is not the reader's: refused before any Task
    expect(started.body.error?.code).toBe(-32003);

    // The reader's own task, then the lookalike whose client label reads the same.
    const reader = await saToken("reader");
    const asTask = await call(reader, "read_file", {}, true);
    const taskId = asTask.body.result?.task?.taskId ?? asTask.body.result?.taskId;
    expect(typeof taskId).toBe("string");
    const t = await cluster.mcp.tasks.get(ns, taskId);
    expect(t.metadata.annotations?.[annotations.callerUser]).toBe(`system:serviceaccount:${ns}:reader`);
    expect(t.metadata.labels?.[labels.client]).toBe(lookalike);
    expect(t.metadata.labels?.[labels.callerGroups]).toMatch(/^[0-9a-f]{16}$/);
    const get = (token: string) => rpc2026(stack.url, "tasks/get", { taskId }, { token, extensions: true });
    expect((await get(reader)).body.result?.taskId).toBe(taskId);
    const stolen = await get(tokens.lookalike);
    expect(stolen.body.error?.code).toBe(-32602);
    expect(stolen.body.error?.message).toContain("Unknown taskId");
    // Its owner, once no Role lets it call the task's tool any more, is refused too.
    await cluster.conn.request(
      "DELETE",
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/reader-reads`,
    );
    await eventually(async () => (await get(reader)).body.error?.code === -32003, {
      message: "the revoked owner refused",
    });
    await rolebinding("reader-reads", "mcp-tool-reader", "reader");
    await eventually(async () => (await get(reader)).body.result?.taskId === taskId, {
      message: "the owner allowed again",
    });
  });
});

describe("limits on Tasks", () => {
  test("a caller's Tasks in flight are capped: -32004 with HTTP 429, counted; another caller is not affected", async () => {
    const held = [
      await call(tokens.ops, "slow", { ms: 30_000 }, true),
      await call(tokens.ops, "slow", { ms: 30_000 }, true),
    ];
    for (const h of held) expect(h.body.result).toBeDefined();
    const third = await call(tokens.ops, "slow", { ms: 30_000 }, true);
    expect(third.status).toBe(429);
    expect(third.body.error).toMatchObject({
      code: -32004,
      data: { reason: "CallerInFlightLimit", limit: 2, inFlight: 2 },
    });
    expect((await call(await saToken("reader"), "read_file")).body.result).toBeDefined();
    const limited = await stack.gateway.metrics.registry.getSingleMetric("mcp_gateway_calls_limited_total")?.get();
    expect(limited?.values.find((v) => v.labels.reason === "caller_in_flight")?.value).toBe(1);
    for (const h of held) {
      const taskId = h.body.result?.task?.taskId ?? h.body.result?.taskId;
      await rpc2026(stack.url, "tasks/cancel", { taskId }, { token: tokens.ops, extensions: true });
    }
    await eventually(async () => (await call(tokens.ops, "read_file")).body.result !== undefined, {
      message: "ops may call again once its tasks finished",
    });
  });

  test("the domain's ResourceQuota on count/tasks.mcp.io refuses a call with -32004 naming it, not a 500", async () => {
    await cluster.ensureControllerManager();
    await create(`/api/v1/namespaces/${ns}/resourcequotas`, {
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: { name: "mcp-tasks" },
      spec: { hard: { "count/tasks.mcp.io": "1000" } },
    });
    type Quota = { status?: { hard?: Record<string, string>; used?: Record<string, string> } };
    const used = await eventually(
      async () =>
        (await cluster.conn.request<Quota>("GET", `/api/v1/namespaces/${ns}/resourcequotas/mcp-tasks`)).status?.used?.[
          "count/tasks.mcp.io"
        ],
      { timeout: 30_000, message: "the quota counted" },
    );
    // Room for exactly one more Task.
    await cluster.conn.request("PATCH", `/api/v1/namespaces/${ns}/resourcequotas/mcp-tasks`, {
      body: { spec: { hard: { "count/tasks.mcp.io": String(Number(used) + 1) } } },
      contentType: "application/merge-patch+json",
    });
    await eventually(
      async () =>
        (await cluster.conn.request<Quota>("GET", `/api/v1/namespaces/${ns}/resourcequotas/mcp-tasks`)).status?.hard?.[
          "count/tasks.mcp.io"
        ] === String(Number(used) + 1),
      { message: "the new hard limit in the quota's status" },
    );
    expect((await call(tokens.ops, "read_file")).body.result).toBeDefined();
    const refused = await call(tokens.ops, "read_file");
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe(-32004);
    expect(refused.body.error.message).toContain(`ResourceQuota mcp-tasks allows ${Number(used) + 1} Tasks`);
    expect(refused.body.error.data).toMatchObject({ reason: "DomainQuota", quota: "mcp-tasks" });
    await cluster.conn.request("DELETE", `/api/v1/namespaces/${ns}/resourcequotas/mcp-tasks`);
  }, 60_000);
});
