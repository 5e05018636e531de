// The apiserver writes a tools/call costs (ADR 0013), counted from a watch of
// the domain's Tasks: every write of a Task is one event there. A call the
// gateway places itself is created bound to its agent and has one status
// write, its result; a call that outlives the agent's runningAfterMs writes
// Running too; with binding off, the controller's placement write comes back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { defineTool } from "../../lib/agent/tool.ts";
import type { Task } from "../../lib/api/resources.ts";
import { silentLogger } from "../../lib/log.ts";
import { Gateway, serveGateway } from "../../services/gateway/gateway.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";

let cluster: TestCluster;
let ns: string;
let stack: GatewayStack;
const abort = new AbortController();
/** Every watch event of each Task, by name, as "TYPE phase". */
const seen = new Map<string, { type: string; task: Task }[]>();

const quick = defineTool({
  name: "quick",
  description: "Answers at once.",
  capability: "writes",
  inputSchema: { type: "object" },
  handler: () => ({ ok: true }),
});
const slow = defineTool({
  name: "slow",
  description: "Answers after 1.5 s, past the agent's runningAfterMs (1 s).",
  capability: "writes",
  inputSchema: { type: "object" },
  handler: async () => {
    await Bun.sleep(1_500);
    return { ok: true };
  },
});

async function call(url: URL, tool: string): Promise<string> {
  const client = new Client({ name: "call-writes", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url));
  try {
    const before = new Set(seen.keys());
    const res = await client.callTool({ name: tool, arguments: {} });
    expect(res.isError).toBeFalsy();
    // Its Task is the one that appeared during the call.
    const name = await eventually(() => [...seen.keys()].find((n) => !before.has(n)), { message: "the call's Task" });
    return name;
  } finally {
    await client.close();
  }
}

/** The call's Task's events once it settled (nothing more for 500 ms after its final one). */
async function eventsOf(name: string): Promise<string[]> {
  await eventually(() => seen.get(name)?.some((e) => e.task.status?.phase === "Completed"), {
    message: `${name} Completed on the watch`,
  });
  await Bun.sleep(500);
  return (seen.get(name) ?? []).map((e) => `${e.type} ${e.task.status?.phase ?? "(no status)"}`);
}

const eventsAbout = async (name: string) =>
  (
    await cluster.conn.request<{ items: { reason: string; involvedObject: { name: string } }[] }>(
      "GET",
      `/api/v1/namespaces/${ns}/events`,
    )
  ).items
    .filter((e) => e.involvedObject.name === name)
    .map((e) => e.reason);

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("call-writes");
  stack = await startGatewayStack(cluster, ns, [quick, slow]);
  void (async () => {
    for await (const e of cluster.mcp.tasks.watch(ns, { signal: abort.signal })) {
      const name = e.object.metadata.name ?? "";
      seen.set(name, [...(seen.get(name) ?? []), { type: e.type, task: e.object }]);
    }
  })().catch(() => {});
}, 120_000);

afterAll(async () => {
  abort.abort();
  await stack?.stop();
});

describe("apiserver writes per call", () => {
  test("a short call: the Task created bound to its agent, then its result: two writes, no Event", async () => {
    const name = await call(stack.url, "quick");
    expect(await eventsOf(name)).toEqual(["ADDED (no status)", "MODIFIED Completed"]);
    const [created, completed] = seen.get(name) ?? [];
    expect(created?.task.metadata.labels?.["mcp.io/bound-agent"]).toBe("agent-1");
    expect(completed?.task.status).toMatchObject({ assignedAgent: "agent-1", attempts: 1, result: { ok: true } });
    expect(completed?.task.status?.startTime).toBeDefined();
    expect(await eventsAbout(name)).toEqual([]);
  });

  test("a call that outlives runningAfterMs is marked Running on the way: three writes", async () => {
    const name = await call(stack.url, "slow");
    expect(await eventsOf(name)).toEqual(["ADDED (no status)", "MODIFIED Running", "MODIFIED Completed"]);
  });

  test("with binding off, the controller places the Task: its Assigned write comes back, an Event does not (a first placement without a wait)", async () => {
    const unbound = new Gateway({
      conn: cluster.conn,
      namespace: ns,
      log: silentLogger,
      security: { ratePerSecond: 10_000, burst: 10_000, allowUnauthenticated: true },
      bindCalls: false,
    });
    await unbound.start();
    const server = serveGateway(unbound, { port: 0, hostname: "127.0.0.1" });
    try {
      await eventually(() => unbound.get("quick"), { message: "quick in the second gateway's registry" });
      const name = await call(new URL(`http://127.0.0.1:${server.port}/mcp`), "quick");
      expect(await eventsOf(name)).toEqual(["ADDED (no status)", "MODIFIED Assigned", "MODIFIED Completed"]);
      expect(seen.get(name)?.[0]?.task.metadata.labels?.["mcp.io/bound-agent"]).toBeUndefined();
      // The placement is in the Task's Scheduled condition; Events are for waits and later attempts.
      expect(seen.get(name)?.[1]?.task.status?.conditions?.find((c) => c.type === "Scheduled")).toMatchObject({
        status: "True",
        reason: "AgentFound",
      });
      expect(await eventsAbout(name)).toEqual([]);
    } finally {
      await server.stop(true);
      await unbound.stop();
    }
  });
});
