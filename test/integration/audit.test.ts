// The audit trail (docs/operations.md#audit): every tool call leaves one
// record on the audit stream when it finishes, an agent's (written by the
// controller's leader, with a ToolCallAudited Event on its Task) and a
// federated one (written by the gateway, with the Event on its MCPServer);
// a new leader records no call twice, and records one nobody recorded; and a
// client cannot keep its Tasks for less than the operator's minimum.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import pino from "pino";
import { defineTool } from "../../lib/agent/tool.ts";
import { type AuditRecord, argumentsDigest, auditEventReason } from "../../lib/audit/record.ts";
import type { Logger } from "../../lib/log.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { startConductor, type TestConductor } from "../harness/conductor.ts";
import { eventually } from "../harness/eventually.ts";
import { type EverythingServer, startEverythingServer } from "../harness/everything-server.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";

/** An audit stream whose records a test reads. */
function auditStream(): { log: Logger; records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  const log = pino(
    { level: "info", base: { log: "audit" } },
    { write: (line: string) => records.push(JSON.parse(line)) },
  );
  return { log, records };
}

interface CoreEvent {
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string; uid?: string };
}

let cluster: TestCluster;
let ns: string;
let stack: GatewayStack;
let ref: EverythingServer;
let client: Client;
const controllerAudit = auditStream();
const gatewayAudit = auditStream();
/** The controller after a restart, when a test made one. */
let restarted: TestConductor | undefined;
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const echo = defineTool({
  name: "echo",
  description: "Says its arguments back.",
  capability: "echo",
  inputSchema: { type: "object" },
  handler: (args) => ({ said: args }),
});

const auditEvents = async (namespace: string): Promise<CoreEvent[]> =>
  (
    await cluster.conn.request<{ items: CoreEvent[] }>(
      "GET",
      `/api/v1/namespaces/${namespace}/events?fieldSelector=reason%3D${auditEventReason}`,
    )
  ).items;

/** Calls echo and gives back its Task's uid, from the record the call left. */
async function callEcho(args: Record<string, unknown>, meta: Record<string, unknown> = {}): Promise<string> {
  const before = new Set((await cluster.mcp.tasks.list(ns)).items.map((t) => t.metadata.uid));
  const res = await client.callTool({ name: "echo", arguments: args, _meta: meta });
  expect(res.isError).toBeFalsy();
  const task = (await cluster.mcp.tasks.list(ns)).items.find((t) => !before.has(t.metadata.uid));
  expect(task).toBeDefined();
  return task?.metadata.uid ?? "";
}

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("audit");
  ref = await startEverythingServer();
  const tokens = mkdtempSync(join(tmpdir(), "audit-tokens-"));
  writeFileSync(join(tokens, "alice"), "alice-token-123\n");
  stack = await startGatewayStack(cluster, ns, [echo], {
    audit: controllerAudit.log,
    security: { tokensDir: tokens, ratePerSecond: 10_000, burst: 10_000 },
    gateway: { audit: gatewayAudit.log, plans: true },
  });
  await cluster.mcp.mcpServers.create(ns, { metadata: { name: "ref" }, spec: { url: ref.url.toString() } });
  await eventually(() => stack.gateway.federation.states().ref === "ready", {
    timeout: 20_000,
    message: "the gateway federating ref",
  });
  client = new Client({ name: "audit-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(stack.url, {
      requestInit: { headers: { authorization: "Bearer alice-token-123" } },
    }),
  );
}, 120_000);

afterAll(async () => {
  await client?.close();
  await stack?.server.stop(true);
  await stack?.gateway.stop();
  await stack?.agent.shutdown();
  await (restarted ?? stack?.conductor)?.stop();
  await ref?.stop();
});

describe("the audit trail", () => {
  test("an agent's call leaves one record, with who, what, how it ended and its trace, and one Event on its Task", async () => {
    const uid = await callEcho({ b: 2, a: "x" }, { traceparent });
    const record = await eventually(() => controllerAudit.records.find((r) => r.uid === uid), {
      message: "the call's audit record",
    });
    const task = (await cluster.mcp.tasks.list(ns)).items.find((t) => t.metadata.uid === uid);
    expect(record).toMatchObject({
      log: "audit",
      audit: "tool-call",
      namespace: ns,
      task: task?.metadata.name,
      tool: "echo",
      caller: { user: "alice", client: "alice" },
      createdBy: "gateway",
      argumentsDigest: argumentsDigest({ a: "x", b: 2 }),
      outcome: "completed",
      agent: "agent-1",
      attempts: 1,
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    } as Partial<AuditRecord>);
    expect(record.caller.groupsDigest).toBeString();
    expect(record.durationMs).toBeGreaterThanOrEqual(0);
    expect(task?.metadata.annotations?.["mcp.io/traceparent"]).toBe(traceparent);
    const events = await eventually(
      async () => {
        const e = (await auditEvents(ns)).filter((x) => x.involvedObject.uid === uid);
        return e.length ? e : undefined;
      },
      { message: "the call's ToolCallAudited Event" },
    );
    expect(events).toHaveLength(1);
    expect(events[0]?.message).toContain("tools/call echo by alice");
    expect(events[0]?.message).toContain(argumentsDigest({ a: "x", b: 2 }));
    await Bun.sleep(300);
    expect(controllerAudit.records.filter((r) => r.uid === uid)).toHaveLength(1);
  });

  test("a federated call leaves a record from the gateway, and an Event on its MCPServer", async () => {
    const res = await client.callTool({ name: "ref__echo", arguments: { message: "hi" }, _meta: { traceparent } });
    expect(res.isError).toBeFalsy();
    const record = await eventually(() => gatewayAudit.records.find((r) => r.tool === "ref__echo"), {
      message: "the federated call's record",
    });
    expect(record).toMatchObject({
      log: "audit",
      mcpServer: "ref",
      upstreamTool: "echo",
      caller: { user: "alice", client: "alice" },
      argumentsDigest: argumentsDigest({ message: "hi" }),
      outcome: "completed",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    } as Partial<AuditRecord>);
    expect(record.task).toBeUndefined();
    await eventually(
      async () =>
        (await auditEvents(ns)).some(
          (e) =>
            e.involvedObject.kind === "MCPServer" && e.involvedObject.name === "ref" && e.message.includes("ref__echo"),
        ),
      { message: "the ToolCallAudited Event on the MCPServer" },
    );
    // the controller records no federated call: it has no Task
    expect(controllerAudit.records.some((r) => r.tool === "ref__echo")).toBe(false);
  });

  test("a plan run with conductor__run_plan leaves a record of the call, and each step one naming the plan", async () => {
    const res = await client.callTool({
      name: "conductor__run_plan",
      arguments: {
        name: "audited",
        steps: [
          { name: "one", tool: "echo", payload: { step: 1 } },
          { name: "two", tool: "echo", dependsOn: ["one"], payload: { step: 2 } },
        ],
      },
    });
    expect(res.isError).toBeFalsy();
    const planRecord = await eventually(
      () => controllerAudit.records.find((r) => r.tool === "conductor__run_plan" && r.plan?.startsWith("audited")),
      { message: "the plan call's record" },
    );
    expect(planRecord).toMatchObject({ caller: { user: "alice", client: "alice" }, outcome: "completed" });
    expect(planRecord.task).toBeUndefined();
    const steps = await eventually(
      () => {
        const r = controllerAudit.records.filter((x) => x.plan === planRecord.plan && x.tool === "echo");
        return r.length === 2 ? r : undefined;
      },
      { message: "a record of each step's Task" },
    );
    expect(steps.map((r) => r.argumentsDigest).sort()).toEqual(
      [argumentsDigest({ step: 1 }), argumentsDigest({ step: 2 })].sort(),
    );
    await eventually(
      async () =>
        (await auditEvents(ns)).some(
          (e) => e.involvedObject.kind === "Plan" && e.involvedObject.uid === planRecord.uid,
        ),
      { message: "the ToolCallAudited Event on the Plan" },
    );
  });

  test("a new leader records the calls nobody recorded, and none twice", async () => {
    const kept = await callEcho({ n: 1 });
    const lost = await callEcho({ n: 2 });
    await eventually(
      async () => {
        const uids = (await auditEvents(ns)).map((e) => e.involvedObject.uid);
        return uids.includes(kept) && uids.includes(lost);
      },
      { message: "both calls recorded" },
    );
    await stack.conductor.stop();
    // As if the Event of one had expired (--event-ttl) before a new leader came.
    const lostEvent = (await auditEvents(ns)).find((e) => e.involvedObject.uid === lost) as CoreEvent & {
      metadata: { name: string };
    };
    await cluster.conn.request("DELETE", `/api/v1/namespaces/${ns}/events/${lostEvent.metadata.name}`);
    // A call while no controller runs: the gateway binds it, the agent runs it.
    const unseen = await callEcho({ n: 3 });
    const fresh = auditStream();
    restarted = await startConductor(cluster, ns, {}, { audit: fresh.log });
    await eventually(() => [lost, unseen].every((uid) => fresh.records.some((r) => r.uid === uid)), {
      message: "the new leader recording the calls without an Event",
    });
    await Bun.sleep(500);
    const recorded = fresh.records.map((r) => r.uid);
    expect(recorded.sort()).toEqual([lost, unseen].sort());
    expect(recorded).not.toContain(kept);
  }, 60_000);
});

describe("the minimum TTL", () => {
  /** A Task that asks to be deleted the moment it finishes, finished. */
  async function finishedAtOnce(namespace: string, name: string) {
    await cluster.mcp.tasks.create(namespace, {
      metadata: { name },
      spec: { requiredCapabilities: ["nothing-here"], payload: {}, ttlSecondsAfterFinished: 0 },
    });
    // A merge patch, not a replace from the created version: the controller may have written the
    // Task's status (Pending, no agent for it) in between, and a replace would then conflict.
    await cluster.mcp.tasks.patch(
      namespace,
      name,
      { status: { phase: "Completed", completionTime: new Date().toISOString(), result: { content: [] } } },
      "merge",
      { subresource: "status" },
    );
  }
  const exists = (namespace: string, name: string) =>
    cluster.mcp.tasks.get(namespace, name).then(
      () => true,
      () => false,
    );

  test("a Task asking for none is kept the operator's minimum; without one it goes at once", async () => {
    const open = await cluster.newNamespace("audit-no-min");
    const floored = await cluster.newNamespace("audit-min");
    const a = await startConductor(cluster, open);
    const b = await startConductor(cluster, floored, { minTtlSecondsAfterFinished: 3 });
    try {
      await finishedAtOnce(open, "t");
      await finishedAtOnce(floored, "t");
      await eventually(async () => !(await exists(open, "t")), { message: "the Task without a floor deleted" });
      await Bun.sleep(1_500);
      expect(await exists(floored, "t")).toBe(true);
      await eventually(async () => !(await exists(floored, "t")), {
        timeout: 15_000,
        message: "the Task deleted after the floor",
      });
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 30_000);
});
