/**
 * tools/call round trip for an echo tool through the gateway (each call a
 * Task on a real local control plane, run by an agent), at 1, 10 and 100
 * concurrent clients, against baselines measured in the same run:
 *
 *   plain    the same tool on a plain SDK server over Streamable HTTP;
 *   bare     a client doing what a bound call costs the apiserver, and
 *            observing it the same way: create a Task, see it on a watch,
 *            write its status, see that on the watch (two writes, two hops);
 *   bare-same  the same, writing the very objects a gateway call writes: a
 *            Task with the labels, annotations and spec a call through the
 *            shipped gateway created, then the status its agent wrote;
 *   before   the gateway as it was: every Task placed by the controller
 *            (binding off) and marked Running by its agent at once;
 *   after    the gateway as shipped: calls bound at creation, Running only
 *            past runningAfterMs (ADR 0013).
 *
 * Apiserver writes per call come from the apiserver's request counters.
 * Each level runs its paths ROUNDS times (3), the order turned by one each
 * round, and a path's figures pool its rounds: this machine's speed drifts
 * within a run, and a path always run in the same place would meet its own
 * share of the drift, not the others'.
 * Prints a table and, last, one JSON line of the figures; asserts nothing.
 *   bun bench/gateway-call.ts
 */
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { mcpClients, type Task } from "../lib/api/resources.ts";
import { LocalControlPlane } from "../lib/control-plane/local.ts";
import { ApiserverWrites } from "./chaos/sampling.ts";
import { type CpuTimes, cpuNow, cpuPer, setUpDomain, watchTasks } from "./control-plane.ts";
import { echoTool, benchLog as log, serveBenchGateway, startInProcessConductor } from "./harness.ts";
import { fmt, poolRounds, summarize, table, turned } from "./stats.ts";

const allLevels = [
  [1, 200],
  [10, 30],
  [100, 5],
] as const;
/** CLIENTS=100 runs one level, PATHS=bare,after some paths (to profile one: bun --cpu-prof-md ...). */
const onlyClients = process.env.CLIENTS?.split(",").map(Number);
const callsTimes = Number(process.env.CALLS_TIMES ?? 1); // CALLS_TIMES=4: four times the calls per client
const levels = allLevels
  .filter(([c]) => !onlyClients || onlyClients.includes(c))
  .map(([c, n]) => [c, n * callsTimes] as const);
const paths = new Set((process.env.PATHS ?? "plain,bare,bare-same,before,after").split(","));
const rounds = Math.max(1, Number(process.env.ROUNDS ?? 3));

const cp = await LocalControlPlane.start();
const namespaces = ["bench-before", "bench-after", "bench-bare"];
const { conn } = await setUpDomain(cp, ...namespaces);
const writes = new ApiserverWrites(cp);

/** A domain with 4 agents and a gateway, configured as `before` or `after`. */
async function startDomain(ns: string, shipped: boolean) {
  const conductor = await startInProcessConductor({
    conn,
    namespace: ns,
    agents: {
      names: Array.from({ length: 4 }, (_, i) => `${ns}-agent-${i}`),
      tools: [echoTool],
      maxConcurrentTasks: 50,
      // before: Running written as the agent starts a task, as agents did
      runningAfterMs: shipped ? undefined : 0,
    },
  });
  while (conductor.controller.agents.list().filter((a) => a.status?.phase === "Ready").length < 4) await Bun.sleep(50);
  const served = await serveBenchGateway(conn, ns, { bindCalls: shipped });
  return {
    url: served.url,
    async stop() {
      await served.stop();
      await conductor.stop();
    },
  };
}

// ---- the plain SDK server ----
const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
const plain = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(req) {
    const id = req.headers.get("mcp-session-id");
    if (id) return (sessions.get(id) as WebStandardStreamableHTTPServerTransport).handleRequest(req);
    const body = await req.json();
    if (!isInitializeRequest(body)) return new Response("bad request", { status: 400 });
    const server = new McpServer({ name: "plain", version: "1.0.0" });
    server.registerTool(
      "echo",
      { description: "Echoes its message.", inputSchema: { message: z.string() } },
      async ({ message }) => ({ content: [{ type: "text", text: message }] }),
    );
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (sid) => {
        sessions.set(sid, transport);
      },
    });
    await server.connect(transport);
    return transport.handleRequest(req, { parsedBody: body });
  },
});

// ---- the bare client: create, see it, write its status, see that ----
const bareTasks = mcpClients(conn).tasks;
const bareWatch = await watchTasks(conn, "bench-bare");
const seen = bareWatch.seen;
/** What the bare client writes: a Task's metadata and spec, then its status. */
interface BareBody {
  metadata: Pick<Task["metadata"], "labels" | "annotations">;
  spec: Task["spec"];
  status: NonNullable<Task["status"]>;
}
const minimalBody: BareBody = {
  metadata: {},
  spec: { requiredCapabilities: ["echo"], tool: "echo", payload: { message: "hello" } },
  status: { phase: "Completed", assignedAgent: "bare", attempts: 1, result: { value: "hello" } },
};
async function bareCall(i: number, body: BareBody = minimalBody): Promise<void> {
  const name = `bare-${randomBytes(8).toString("hex")}-${i}`;
  const created = seen(name, () => true);
  const t = await bareTasks.create("bench-bare", { metadata: { name, ...body.metadata }, spec: body.spec });
  await created;
  const done = seen(name, (x) => x.status?.phase === "Completed");
  await bareTasks.replaceStatus({ ...t, status: body.status });
  await done;
}

/**
 * The objects one call through the shipped gateway wrote, as the bare client
 * writes them again: the Task's labels, annotations and spec as the gateway
 * created it, and the status its agent wrote at the end.
 */
async function gatewayCallBody(url: string): Promise<BareBody> {
  const c = new Client({ name: "bench-template", version: "1.0.0" });
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  await c.callTool({ name: "echo", arguments: { message: "hello" } });
  await c.close();
  const tasks = await mcpClients(conn).tasks.list("bench-after");
  const t = tasks.items.find(
    (x) => x.status?.phase === "Completed" && (x.spec.payload as { message?: string })?.message === "hello",
  );
  if (!t?.status) throw new Error("the template call's Task is not Completed");
  const { labels, annotations } = t.metadata;
  return { metadata: { labels, annotations }, spec: t.spec, status: t.status };
}

interface Run {
  lat: number[];
  calls: number;
  seconds: number;
  rate: number;
  writesPerCall: number;
  /** CPU time per call, ms: the apiserver, etcd and this process (clients, gateways, agents, controllers). */
  cpuPerCall: CpuTimes;
}

/** Waits until the apiserver has taken no write for 500 ms (at most 10 s): an earlier path's Events, sent in the background, are not this one's. */
async function quiet(): Promise<void> {
  const total = () => [...writes.byResource.values()].reduce((a, b) => a + b, 0);
  for (let i = 0; i < 20; i++) {
    await writes.scrape();
    const before = total();
    await Bun.sleep(500);
    await writes.scrape();
    if (total() === before) return;
  }
}

/**
 * Deletes the Tasks earlier paths left (a deletecollection per namespace), so
 * that no path runs against an apiserver and etcd holding more objects than
 * the one before it did: the paths run in a fixed order.
 */
async function clearTasks(): Promise<void> {
  for (const ns of namespaces) await conn.request("DELETE", bareTasks.path(ns));
}

async function measure(calls: number, go: () => Promise<number[]>): Promise<Run> {
  await clearTasks();
  await quiet();
  writes.zero();
  const cpu0 = cpuNow(cp);
  const t0 = performance.now();
  const lat = await go();
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuNow(cp);
  await Bun.sleep(300); // the last result writes land
  await writes.scrape();
  const total = [...writes.byResource.values()].reduce((a, b) => a + b, 0);
  return {
    lat,
    calls,
    seconds,
    rate: calls / seconds,
    writesPerCall: total / calls,
    cpuPerCall: cpuPer(cpu0, cpu1, calls),
  };
}

/** One path's rounds as one run: every latency, the rate over all its time, writes and CPU per call over all its calls. */
function poolRuns(runs: Run[]): Run {
  const { perCall, ...pooled } = poolRounds(runs);
  return {
    ...pooled,
    writesPerCall: perCall((r) => r.writesPerCall),
    cpuPerCall: {
      apiserver: perCall((r) => r.cpuPerCall.apiserver),
      etcd: perCall((r) => r.cpuPerCall.etcd),
      bench: perCall((r) => r.cpuPerCall.bench),
    },
  };
}

async function mcpRun(url: string, clients: number, callsEach: number): Promise<Run> {
  const cs = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const c = new Client({ name: `bench-${i}`, version: "1.0.0" });
      await c.connect(new StreamableHTTPClientTransport(new URL(url)));
      await c.callTool({ name: "echo", arguments: { message: "warm-up" } });
      return c;
    }),
  );
  const run = await measure(clients * callsEach, async () => {
    const lat: number[] = [];
    await Promise.all(
      cs.map(async (c, i) => {
        for (let k = 0; k < callsEach; k++) {
          const s = performance.now();
          await c.callTool({ name: "echo", arguments: { message: `hello ${i}/${k}` } });
          lat.push(performance.now() - s);
        }
      }),
    );
    return lat;
  });
  await Promise.all(cs.map((c) => c.close()));
  return run;
}

const bareRun = (clients: number, callsEach: number, body?: BareBody) =>
  measure(clients * callsEach, async () => {
    const lat: number[] = [];
    await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        for (let k = 0; k < callsEach; k++) {
          const s = performance.now();
          await bareCall(i, body);
          lat.push(performance.now() - s);
        }
      }),
    );
    return lat;
  });

log("starting the two domains");
const before = await startDomain("bench-before", false);
const after = await startDomain("bench-after", true);
await bareCall(0); // warm the bare path
const sameBody = await gatewayCallBody(after.url);

const rows: (string | number)[][] = [
  [
    "clients",
    "path",
    "p50 ms",
    "p99 ms",
    "calls/s",
    "writes/call",
    "CPU ms/call: apiserver",
    "etcd",
    "bench",
    "rate vs bare / bare-same",
    "calls/s by round",
  ],
];
const figures: Record<string, unknown> = { rounds };
const runPath: Record<string, (clients: number, callsEach: number) => Promise<Run>> = {
  plain: (clients, callsEach) => mcpRun(`http://127.0.0.1:${plain.port}/mcp`, clients, callsEach),
  bare: (clients, callsEach) => bareRun(clients, callsEach),
  "bare-same": (clients, callsEach) => bareRun(clients, callsEach, sameBody),
  before: (clients, callsEach) => mcpRun(before.url, clients, callsEach),
  after: (clients, callsEach) => mcpRun(after.url, clients, callsEach),
};
const pathOrder = Object.keys(runPath).filter((p) => paths.has(p));
for (const [clients, callsEach] of levels) {
  log(`${clients} clients`);
  const byRound = new Map<string, Run[]>(pathOrder.map((p) => [p, []]));
  for (let round = 0; round < rounds; round++) {
    for (const path of turned(pathOrder, round)) {
      const run = await runPath[path]?.(clients, callsEach);
      if (run) byRound.get(path)?.push(run);
    }
  }
  const runs: [string, Run][] = pathOrder.map((p) => [p, poolRuns(byRound.get(p) ?? [])]);
  const bare = runs.find(([p]) => p === "bare")?.[1];
  const bareSame = runs.find(([p]) => p === "bare-same")?.[1];
  for (const [path, r] of runs) {
    const s = summarize(r.lat);
    const gatewayPath = path === "before" || path === "after";
    const rateVsBare = bare && gatewayPath ? r.rate / bare.rate : undefined;
    const rateVsSame = bareSame && gatewayPath ? r.rate / bareSame.rate : undefined;
    rows.push([
      clients,
      path,
      fmt(s.p50, 1),
      fmt(s.p99, 1),
      fmt(r.rate, 0),
      path === "plain" ? "0" : fmt(r.writesPerCall, 2),
      fmt(r.cpuPerCall.apiserver, 2),
      fmt(r.cpuPerCall.etcd, 2),
      fmt(r.cpuPerCall.bench, 2),
      gatewayPath ? `${fmt(rateVsBare ?? Number.NaN, 2)} / ${fmt(rateVsSame ?? Number.NaN, 2)}` : "",
      (byRound.get(path) ?? []).map((x) => fmt(x.rate, 0)).join(" "),
    ]);
    figures[`c${clients}_${path}`] = {
      p50_ms: Number(fmt(s.p50, 2)),
      p99_ms: Number(fmt(s.p99, 2)),
      calls_per_s: Math.round(r.rate),
      calls_per_s_by_round: (byRound.get(path) ?? []).map((x) => Math.round(x.rate)),
      writes_per_call: Number(fmt(r.writesPerCall, 2)),
      cpu_ms_per_call: {
        apiserver: Number(fmt(r.cpuPerCall.apiserver, 3)),
        etcd: Number(fmt(r.cpuPerCall.etcd, 3)),
        bench: Number(fmt(r.cpuPerCall.bench, 3)),
      },
      ...(rateVsBare === undefined ? {} : { rate_vs_bare: Number(fmt(rateVsBare, 3)) }),
      ...(rateVsSame === undefined ? {} : { rate_vs_bare_same: Number(fmt(rateVsSame, 3)) }),
    };
  }
}
console.log(`\n${table(rows)}`);
console.log(JSON.stringify({ bench: "gateway-call", ...figures }));

await plain.stop(true);
await bareWatch.stop();
await before.stop();
await after.stop();
await cp.stop();
process.exit(0);
