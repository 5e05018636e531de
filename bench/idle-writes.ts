/**
 * The apiserver's load at idle with 1,000 agents, before and after agents'
 * heartbeats moved from their Agent's status to a Lease each, in one run: the
 * same Agent objects first write status.lastHeartbeat every INTERVAL seconds
 * (as agents of the previous release do, which the controller still
 * accepts), then renew their Leases as agents now do (lib/agent/lease.ts).
 * A controller, the scheduler and a gateway run as processes and watch, as
 * they would in a domain. For each way, over WINDOW seconds: the apiserver's
 * writes/s by resource, the watch events it sent by kind (each one a watcher
 * woken, with its bytes), the controller's reconciles by queue, and the
 * gateway's tool-registry rebuilds. Ends with one JSON line of the figures.
 *   AGENTS=1000 bun bench/idle-writes.ts
 */
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, LocalControlPlane } from "../lib/control-plane/local.ts";
import { conductorProcesses, ManagedProcess } from "./chaos/processes.ts";
import { ApiserverWrites, parseCounters } from "./chaos/sampling.ts";
import { setUpDomain } from "./control-plane.ts";
import { createAgents, type HeartbeatMode, heartbeatAgents } from "./heartbeated-agents.ts";
import { printFigures, summarize } from "./stats.ts";

const AGENTS = Number(process.env.AGENTS ?? 1000);
/** Each agent's heartbeat interval (s): the runtime's default. */
const INTERVAL = Number(process.env.INTERVAL ?? 10);
/** How long each way is measured (s), after a full interval of warm-up. */
const WINDOW = Number(process.env.WINDOW ?? 60);
const ns = "idle";
const say = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

const outDir = join(tmpdir(), `mcp-conductor-idle-writes-${Date.now()}`);
mkdirSync(outDir, { recursive: true });
const cp = await LocalControlPlane.start();
const procs: ManagedProcess[] = [];
let timer: ReturnType<typeof setInterval> | undefined;
const stopAll = async () => {
  clearInterval(timer);
  await Promise.all(procs.map((p) => p.stop()));
  await cp.stop();
};
process.once("SIGINT", () => void stopAll().finally(() => process.exit(130)));

/** A /metrics text; a machine too busy to answer in time gets a few more tries, then the bench fails. */
async function metricsText(url: string, init: RequestInit = {}): Promise<string> {
  for (let tries = 1; ; tries++) {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
      if (res.ok) return await res.text();
      if (tries >= 3) throw new Error(`${url}: HTTP ${res.status}`);
    } catch (err) {
      if (tries >= 3) throw err;
    }
    await Bun.sleep(1000);
  }
}
const apiserverMetrics = () =>
  metricsText(`${cp.server}/metrics`, {
    tls: { ca: cp.pki.ca.cert, cert: cp.admin.cert, key: cp.admin.key },
  } as RequestInit);

/** Sums of a counter's samples by one label (or "" when the sample has none). */
function sumBy(text: string, metric: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { labels, value } of parseCounters(text, metric)) {
    const key = labels[label] ?? "";
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}
const minus = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
/** Per second, largest first, without those that round to 0. */
const perSecond = (counts: Record<string, number>, seconds: number) =>
  Object.fromEntries(
    Object.entries(counts)
      .map(([k, v]) => [k, round(v / seconds)] as const)
      .filter(([, v]) => v > 0)
      .sort(([, a], [, b]) => b - a),
  );

try {
  const { kubeconfig, mcp } = await setUpDomain(cp, ns);
  const env = { KUBECONFIG: kubeconfig, LOG_LEVEL: "warn" };
  const schedulerPort = await freePort();
  const controllerPort = await freePort();
  const gatewayMetricsPort = await freePort();
  const gatewaySpec = conductorProcesses.gateway({ name: "gateway", namespace: ns, port: await freePort(), env });
  const specs = [
    conductorProcesses.scheduler({ port: schedulerPort, env }),
    conductorProcesses.controller({
      name: "controller",
      namespace: ns,
      schedulerPort,
      metricsPort: controllerPort,
      args: [],
      env,
    }),
    // Its metrics on a port of ours, to read its registry rebuilds.
    {
      ...gatewaySpec,
      cmd: [...gatewaySpec.cmd.filter((a) => a !== "--metrics-port=0"), `--metrics-port=${gatewayMetricsPort}`],
    },
  ];
  for (const spec of specs) {
    const p = new ManagedProcess(spec, outDir, say);
    procs.push(p);
    await p.start();
  }

  say(`creating ${AGENTS} agents`);
  const names = Array.from({ length: AGENTS }, (_, i) => `agent-${i}`);
  const agents = await createAgents(mcp, ns, {
    names,
    // Each offers a tool, as agents do: the Agent objects every watcher is sent are their real size.
    spec: (i) => ({
      capabilities: ["idle"],
      tools: [
        {
          name: `tool-${i}`,
          description: "A tool nobody calls, there for the size of the Agent object.",
          capability: "idle",
          inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
        },
      ],
      maxConcurrentTasks: 5,
    }),
    concurrency: 32,
  });

  const controllerText = () => metricsText(`http://127.0.0.1:${controllerPort}/metrics`);
  const gatewayText = () => metricsText(`http://127.0.0.1:${gatewayMetricsPort}/metrics`);
  const readyAgents = async () =>
    Number(/^mcp_agents\{[^}]*phase="Ready"[^}]*\} (\S+)$/m.exec(await controllerText())?.[1] ?? 0);
  const until = async (what: string, cond: () => Promise<boolean>, timeoutMs = 10 * 60_000) => {
    const by = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
      await Bun.sleep(500);
    }
  };

  /** Heartbeats the agents this way, waits a full interval and all Ready, then measures WINDOW seconds. */
  async function measure(mode: HeartbeatMode) {
    clearInterval(timer);
    say(`heartbeating ${AGENTS} agents by ${mode === "lease" ? "their Leases" : "their status"}, every ${INTERVAL} s`);
    const beats = await heartbeatAgents(mcp, ns, agents, {
      mode,
      concurrency: 32,
      spacingMs: (INTERVAL * 1000) / AGENTS,
    });
    timer = beats.timer;
    await Bun.sleep(INTERVAL * 1000 + 5000);
    await until("every agent Ready", async () => (await readyAgents()) >= AGENTS);
    const writes = new ApiserverWrites(cp);
    await writes.scrape();
    writes.zero();
    const [api0, ctl0, gw0] = await Promise.all([apiserverMetrics(), controllerText(), gatewayText()]);
    const t0 = Date.now();
    const beats0 = { ...beats.stats, timed: beats.stats.durationsMs.length };
    say(`measuring for ${WINDOW} s`);
    await Bun.sleep(WINDOW * 1000);
    await writes.scrape();
    const [api1, ctl1, gw1] = await Promise.all([apiserverMetrics(), controllerText(), gatewayText()]);
    const seconds = (Date.now() - t0) / 1000;
    const took = summarize(beats.stats.durationsMs.slice(beats0.timed));
    const ready = await readyAgents();
    const byResource = Object.fromEntries(writes.byResource);
    const total = Object.values(byResource).reduce((a, b) => a + b, 0);
    // The apiserver's watch events sent, by resource (each one a watcher woken): their number and bytes.
    const events = minus(
      sumBy(api1, "apiserver_watch_events_total", "resource"),
      sumBy(api0, "apiserver_watch_events_total", "resource"),
    );
    const eventBytes = minus(
      sumBy(api1, "apiserver_watch_events_sizes_sum", "resource"),
      sumBy(api0, "apiserver_watch_events_sizes_sum", "resource"),
    );
    const reconcile = "mcp_controller_reconcile_duration_seconds_count";
    const reconciles = minus(sumBy(ctl1, reconcile, "controller"), sumBy(ctl0, reconcile, "controller"));
    const rebuilds =
      (sumBy(gw1, "mcp_gateway_tool_registry_rebuilds_total", "domain")[ns] ?? 0) -
      (sumBy(gw0, "mcp_gateway_tool_registry_rebuilds_total", "domain")[ns] ?? 0);
    return {
      mode,
      seconds: round(seconds),
      readyAgents: ready,
      // What the agents got done: asked for AGENTS / INTERVAL a second.
      heartbeatsPerSecond: round((beats.stats.done - beats0.done) / seconds),
      heartbeatsSkipped: beats.stats.skipped - beats0.skipped,
      heartbeatsFailed: beats.stats.failed - beats0.failed,
      heartbeatMs: { p50: round(took.p50), p99: round(took.p99) },
      writesPerSecond: round(total / seconds),
      writesPerSecondByResource: perSecond(byResource, seconds),
      watchEventsPerSecondByResource: perSecond(events, seconds),
      watchKiBPerSecondByResource: perSecond(
        Object.fromEntries(Object.entries(eventBytes).map(([k, v]) => [k, v / 1024])),
        seconds,
      ),
      reconcilesPerSecondByQueue: perSecond(reconciles, seconds),
      registryRebuilds: rebuilds,
    };
  }

  const before = await measure("status");
  const after = await measure("lease");
  const row = (r: typeof before) =>
    [
      `${r.mode === "status" ? "before (status.lastHeartbeat)" : "after (Leases)"}: ${r.writesPerSecond} writes/s`,
      `  heartbeats/s:             ${r.heartbeatsPerSecond} of ${AGENTS / INTERVAL} (skipped ${r.heartbeatsSkipped}, failed ${r.heartbeatsFailed}; p50 ${r.heartbeatMs.p50} ms, p99 ${r.heartbeatMs.p99} ms)`,
      `  writes/s by resource:     ${JSON.stringify(r.writesPerSecondByResource)}`,
      `  watch events/s:           ${JSON.stringify(r.watchEventsPerSecondByResource)}`,
      `  watch KiB/s:              ${JSON.stringify(r.watchKiBPerSecondByResource)}`,
      `  controller reconciles/s:  ${JSON.stringify(r.reconcilesPerSecondByQueue)}`,
      `  gateway registry rebuilds: ${r.registryRebuilds}; agents Ready: ${r.readyAgents}/${AGENTS}`,
    ].join("\n");
  console.log(`\n${AGENTS} agents at idle, each heartbeating every ${INTERVAL} s, ${WINDOW} s each way\n`);
  console.log(row(before));
  console.log(row(after));
  printFigures("idle-writes", {
    agents: AGENTS,
    interval_s: INTERVAL,
    window_s: WINDOW,
    before,
    after,
    writes_per_s_vs_status: after.writesPerSecond / before.writesPerSecond,
  });
} finally {
  await stopAll();
}
process.exit(0);
