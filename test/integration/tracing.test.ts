// Traces of calls, exported as OTLP to a real Jaeger and read back through
// its query API: one call is one trace, from the client's span through the
// gateway to the agent that ran it; the controller's placement and the
// scheduler's answer are a trace of their own linked to each call they
// placed; a federated call carries the trace on to its MCPServer.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { defineTool } from "../../lib/agent/tool.ts";
import { traceparentAnnotation } from "../../lib/trace-context.ts";
import { startTracing, type Tracing, tracedServices } from "../../lib/tracing.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";
import { type JaegerSpan, type JaegerTrace, startJaeger, type TestJaeger } from "../harness/jaeger.ts";

let cluster: TestCluster;
let ns: string;
let jaeger: TestJaeger;
let stack: GatewayStack;
let client: Client;
let upstream: ReturnType<typeof Bun.serve>;
const tracings: Tracing[] = [];
/** The _meta of each tools/call the federated server received. */
const upstreamMeta: Record<string, unknown>[] = [];

const echo = defineTool({
  name: "echo",
  description: "Says its arguments back, after a moment.",
  capability: "echo",
  inputSchema: { type: "object" },
  handler: async (args) => {
    await Bun.sleep(20);
    return { said: args };
  },
});

/** A federated MCP server that keeps the _meta of every call it gets. */
function startUpstream() {
  return Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const server = new McpServer({ name: "probe", version: "1.0.0" });
      server.registerTool("meta", { description: "Says ok." }, (extra) => {
        upstreamMeta.push({ ...(extra._meta ?? {}) });
        return { content: [{ type: "text", text: "ok" }] };
      });
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      await server.connect(transport);
      return transport.handleRequest(req);
    },
  });
}

const service = (t: JaegerTrace, s: JaegerSpan) => t.processes[s.processID]?.serviceName;
const named = (t: JaegerTrace, name: string) => {
  const s = t.spans.find((x) => x.operationName === name);
  if (!s) throw new Error(`no span ${name} in ${t.spans.map((x) => x.operationName).join(", ")}`);
  return s;
};
const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === "CHILD_OF")?.spanID;
const newTraceparent = () => {
  const hex = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("hex");
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
};

/** Makes a call of echo and gives back its Task (the one that appeared during the call). */
async function callEcho(args: Record<string, unknown>, meta?: Record<string, unknown>) {
  const before = new Set((await cluster.mcp.tasks.list(ns)).items.map((t) => t.metadata.uid));
  const res = await client.callTool({ name: "echo", arguments: args, ...(meta ? { _meta: meta } : {}) });
  expect(res.isError).toBeFalsy();
  const task = (await cluster.mcp.tasks.list(ns)).items.find((t) => !before.has(t.metadata.uid));
  if (!task) throw new Error("the call made no Task");
  return task;
}

beforeAll(async () => {
  jaeger = await startJaeger();
  for (const name of Object.values(tracedServices)) {
    const t = await startTracing(name, { endpoint: jaeger.otlpTracesUrl, exportDelayMs: 100 });
    if (t) tracings.push(t);
  }
  cluster = await testCluster();
  ns = await cluster.newNamespace("tracing");
  upstream = startUpstream();
  // Calls left to the controller's placement, so that the scheduler is asked.
  stack = await startGatewayStack(cluster, ns, [echo], { gateway: { bindCalls: false } });
  await cluster.mcp.mcpServers.create(ns, {
    metadata: { name: "probe" },
    spec: { url: `http://127.0.0.1:${upstream.port}/mcp` },
  });
  await eventually(() => stack.gateway.federation.states().probe === "ready", {
    timeout: 20_000,
    message: "the gateway federating probe",
  });
  client = new Client({ name: "tracing-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(stack.url));
}, 300_000);

afterAll(async () => {
  await client?.close();
  await stack?.stop();
  upstream?.stop(true);
  for (const t of tracings) await t.shutdown();
  await jaeger?.stop();
});

describe("traces", () => {
  test("a call is one trace from the client's span through the gateway to the agent's run", async () => {
    const { traceId, spanId, traceparent } = newTraceparent();
    const task = await callEcho({ n: 1 }, { traceparent });
    const trace = await jaeger.trace(traceId, 2);
    const call = named(trace, "tools/call echo");
    const run = named(trace, "execute_tool echo");
    expect(service(trace, call)).toBe("mcp-gateway");
    expect(service(trace, run)).toBe("mcp-agent");
    expect(parentOf(call)).toBe(spanId);
    expect(parentOf(run)).toBe(call.spanID);
    // the run began while the client waited (it ends once its result is written, which the
    // gateway may see on its watch, and answer, a moment before the agent's write returns)
    expect(run.startTime).toBeGreaterThanOrEqual(call.startTime);
    expect(run.startTime).toBeLessThanOrEqual(call.startTime + call.duration);
    const tags = Object.fromEntries(run.tags.map((t) => [t.key, t.value]));
    expect(tags["gen_ai.tool.name"]).toBe("echo");
    expect(tags["mcp.task.outcome"]).toBe("completed");
    // the Task carries the gateway's span, which is where the agent continued
    expect(task.metadata.annotations?.[traceparentAnnotation]).toBe(`00-${traceId}-${call.spanID}-01`);
    expect(tags["mcp.task"]).toBe(task.metadata.name);
    console.info(
      `trace ${traceId}: ${trace.spans
        .sort((a, b) => a.startTime - b.startTime)
        .map((s) => `${service(trace, s)} "${s.operationName}" +${s.startTime - call.startTime} µs, ${s.duration} µs`)
        .join("; ")}`,
    );
  });

  test("the controller's placement and the scheduler's answer are a trace linked to the call they placed", async () => {
    const { traceId } = newTraceparent();
    await client.callTool({
      name: "echo",
      arguments: { n: 2 },
      _meta: { traceparent: `00-${traceId}-${"1".repeat(16)}-01` },
    });
    const call = named(await jaeger.trace(traceId, 2), "tools/call echo");
    const placement = await eventually(
      async () => {
        for (const t of await jaeger.traces("mcp-controller", "place tasks")) {
          const place = t.spans.find(
            (s) =>
              s.operationName === "place tasks" &&
              s.references.some(
                (r) => r.refType === "FOLLOWS_FROM" && r.traceID === traceId && r.spanID === call.spanID,
              ),
          );
          if (place && t.spans.length >= 2) return { trace: t, place };
        }
      },
      { message: "a placement trace linked to the call" },
    );
    expect(placement.trace.traceID).not.toBe(traceId);
    const answer = named(placement.trace, "mcp.conductor.scheduler.v1.SchedulerService/PlaceBatch");
    expect(service(placement.trace, answer)).toBe("mcp-scheduler");
    expect(parentOf(answer)).toBe(placement.place.spanID);
    const t = placement.trace;
    console.info(
      `placement trace ${t.traceID}: ${t.spans
        .sort((a, b) => a.startTime - b.startTime)
        .map(
          (s) =>
            `${service(t, s)} "${s.operationName}" +${s.startTime - placement.place.startTime} µs, ${s.duration} µs`,
        )
        .join("; ")}`,
    );
  });

  test("a call without a trace starts one at the gateway, and its Task carries it", async () => {
    const tp = (await callEcho({ n: 3 })).metadata.annotations?.[traceparentAnnotation];
    expect(tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const trace = await jaeger.trace(tp?.slice(3, 35) ?? "", 2);
    const call = named(trace, "tools/call echo");
    expect(call.references).toEqual([]);
    expect(parentOf(named(trace, "execute_tool echo"))).toBe(call.spanID);
  });

  test("a federated call carries the trace on to its MCP server", async () => {
    const { traceId, traceparent } = newTraceparent();
    const res = await client.callTool({ name: "probe__meta", arguments: {}, _meta: { traceparent } });
    expect(res.isError).toBeFalsy();
    const trace = await jaeger.trace(traceId, 2);
    const call = named(trace, "tools/call probe__meta");
    const out = named(trace, "tools/call meta");
    expect(parentOf(out)).toBe(call.spanID);
    expect(upstreamMeta.at(-1)?.traceparent).toBe(`00-${traceId}-${out.spanID}-01`);
  });
});
