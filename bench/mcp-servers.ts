/**
 * The MCPServer operator on a real local control plane (no
 * kube-controller-manager: this measures the operator's own writes).
 *
 * 1. Apply → Deployment and Service: SERVERS (100) MCPServers created one at
 *    a time; for each, the time from its create to a watch seeing both its
 *    Deployment and its Service. Baseline in the same run: a bare client that
 *    creates the MCPServer, then applies the same Deployment and Service
 *    itself, observed the same way.
 * 2. Restart: RESTART_SERVERS (1,000) MCPServers exist, no controller runs;
 *    then a controller starts and the clock runs until every one has its
 *    Deployment, Service and a status at its generation. Baseline: a bare
 *    client doing the same writes (apply, apply, status) with the same
 *    concurrency.
 * Prints figures, then one JSON line of them; asserts nothing.
 *   SERVERS=100 RESTART_SERVERS=1000 bun bench/mcp-servers.ts
 */
import pLimit from "p-limit";
import type { MCPServer } from "../lib/api/resources.ts";
import { LocalControlPlane } from "../lib/control-plane/local.ts";
import { Informer } from "../lib/kube/informer.ts";
import { type KubeObject, ResourceClient } from "../lib/kube/resource-client.ts";
import { createLogger, silentLogger } from "../lib/log.ts";
import { desiredDeployment, desiredService, mcpServerStatus } from "../services/controller/mcp-server-workload.ts";
import { createNamespace, setUpDomain } from "./control-plane.ts";
import { type InProcessConductor, benchLog as log, startInProcessConductor } from "./harness.ts";
import { fmt, printFigures, summarize, table } from "./stats.ts";

const SERVERS = Number(process.env.SERVERS ?? 100);
const RESTART_SERVERS = Number(process.env.RESTART_SERVERS ?? 1000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);

const cp = await LocalControlPlane.start();
const { conn, mcp } = await setUpDomain(cp);
const deployments = new ResourceClient<KubeObject>(conn, {
  group: "apps",
  version: "v1",
  plural: "deployments",
  kind: "Deployment",
  namespaced: true,
});
const services = new ResourceClient<KubeObject>(conn, {
  group: "",
  version: "v1",
  plural: "services",
  kind: "Service",
  namespaced: true,
});
const workload = { bridgeImage: "example/conductor:bench" };
const spec = (i: number): MCPServer["spec"] => ({ image: `example/mcp:${i % 7}`, port: 8080, replicas: 1 });

/** Notes when each server's Deployment and Service are first seen. */
async function workloadWatch(ns: string) {
  const seen = new Map<string, { d?: number; s?: number }>();
  const note = (kind: "d" | "s") => (o: KubeObject) => {
    const e = seen.get(o.metadata.name ?? "") ?? {};
    e[kind] ??= performance.now();
    seen.set(o.metadata.name ?? "", e);
  };
  const di = new Informer(deployments, { namespace: ns }).on({ add: note("d") });
  const si = new Informer(services, { namespace: ns }).on({ add: note("s") });
  await Promise.all([di.start(), si.start()]);
  return {
    both: (name: string) => {
      const e = seen.get(name);
      return e?.d !== undefined && e.s !== undefined ? Math.max(e.d, e.s) : undefined;
    },
    stop: () => Promise.all([di.stop(), si.stop()]),
  };
}

async function until(cond: () => boolean, what: string, timeoutMs = 10 * 60_000) {
  // performance.now(): the wall clock may be stepped while a benchmark runs
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** The operator alone: no Task is placed, so a stand-in takes the scheduler's place. */
function startOperator(ns: string): Promise<InProcessConductor> {
  return startInProcessConductor({
    conn,
    namespace: ns,
    config: {
      identity: `bench-${ns}`,
      concurrency: CONCURRENCY,
      mcpServers: { bridgeImage: workload.bridgeImage, probeIntervalSeconds: 3600, probeTimeoutSeconds: 1 },
    },
    scheduler: { placer: { placeBatch: async () => [] } },
    log: process.env.LOG_LEVEL ? createLogger({ service: "controller", level: process.env.LOG_LEVEL }) : silentLogger,
    // managed servers without ready replicas are never probed; this is never called
    mcpProber: async (url) => ({ ok: false, url, message: "not probed in the benchmark" }),
  });
}

/** The same writes the operator makes for one server, by a bare client. */
async function bareReconcile(s: MCPServer) {
  const ns = s.metadata.namespace ?? "";
  const name = s.metadata.name ?? "";
  const opts = { fieldManager: "bench-bare", force: true };
  await deployments.patch(ns, name, desiredDeployment(s, workload), "apply", opts);
  await services.patch(ns, name, desiredService(s), "apply", opts);
  return mcp.mcpServers.replaceStatus({ ...s, status: mcpServerStatus(s, {}, new Date()) });
}

// ---- 1. apply → Deployment and Service, one server at a time ----

async function applyLatency(mode: "operator" | "bare"): Promise<number[]> {
  const ns = await createNamespace(conn, `bench-apply-${mode}`);
  const operator = mode === "operator" ? await startOperator(ns) : undefined;
  const watch = await workloadWatch(ns);
  // one server first, unmeasured: the first reconcile also warms connections and caches
  const warm = await mcp.mcpServers.create(ns, { metadata: { name: "warm-up" }, spec: spec(0) });
  if (mode === "bare") await bareReconcile(warm);
  await until(() => watch.both("warm-up") !== undefined, "the warm-up server's workload", 30_000);
  const samples: number[] = [];
  for (let i = 0; i < SERVERS; i++) {
    const name = `srv-${i}`;
    const t0 = performance.now();
    const s = await mcp.mcpServers.create(ns, { metadata: { name }, spec: spec(i) });
    if (mode === "bare") await bareReconcile(s);
    await until(() => watch.both(name) !== undefined, `${name}'s workload`, 30_000);
    samples.push((watch.both(name) as number) - t0);
  }
  await watch.stop();
  await operator?.stop();
  return samples;
}

log(`apply → Deployment and Service, ${SERVERS} servers, operator`);
const op = summarize(await applyLatency("operator"));
log("the same with a bare client");
const bare = summarize(await applyLatency("bare"));

// ---- 2. a controller (re)starting over RESTART_SERVERS servers ----

async function restart(mode: "operator" | "bare"): Promise<number> {
  const ns = await createNamespace(conn, `bench-restart-${mode}`);
  const created: MCPServer[] = [];
  const limit = pLimit(32);
  await Promise.all(
    Array.from({ length: RESTART_SERVERS }, (_, i) =>
      limit(async () => {
        created.push(await mcp.mcpServers.create(ns, { metadata: { name: `srv-${i}` }, spec: spec(i) }));
      }),
    ),
  );
  log(`${mode}: ${RESTART_SERVERS} MCPServers exist; starting`);
  const done = new Set<string>();
  const note = (s: MCPServer) => {
    if (s.status?.observedGeneration === s.metadata.generation) done.add(s.metadata.name ?? "");
  };
  const inf = new Informer(mcp.mcpServers, { namespace: ns }).on({ add: note, update: note });
  await inf.start();
  const watch = await workloadWatch(ns);
  const t0 = performance.now();
  let operator: InProcessConductor | undefined;
  if (mode === "operator") {
    operator = await startOperator(ns);
  } else {
    const l = pLimit(CONCURRENCY);
    await Promise.all(created.map((s) => l(() => bareReconcile(s))));
  }
  const progress = setInterval(() => {
    const workloads = created.filter((s) => watch.both(s.metadata.name ?? "") !== undefined).length;
    log(`${mode}: ${done.size} statuses, ${workloads} workloads`);
  }, 5_000);
  await until(
    () => done.size === RESTART_SERVERS && created.every((s) => watch.both(s.metadata.name ?? "") !== undefined),
    "every server reconciled",
  ).finally(() => clearInterval(progress));
  const seconds = (performance.now() - t0) / 1000;
  await operator?.stop();
  await inf.stop();
  await watch.stop();
  return seconds;
}

const restartOp = await restart("operator");
const restartBare = await restart("bare");

console.log(`\nMCPServer apply → Deployment and Service seen, ${SERVERS} servers one at a time (ms)`);
console.log(
  table([
    ["", "p50", "p99", "mean"],
    ["operator", fmt(op.p50, 1), fmt(op.p99, 1), fmt(op.mean, 1)],
    ["bare client", fmt(bare.p50, 1), fmt(bare.p99, 1), fmt(bare.mean, 1)],
    ["ratio", fmt(op.p50 / bare.p50, 2), fmt(op.p99 / bare.p99, 2), fmt(op.mean / bare.mean, 2)],
  ]),
);
console.log(`\nReconciling ${RESTART_SERVERS} MCPServers from a cold start (concurrency ${CONCURRENCY})`);
console.log(
  table([
    ["", "seconds", "servers/s"],
    ["operator", fmt(restartOp, 2), fmt(RESTART_SERVERS / restartOp, 0)],
    ["bare client", fmt(restartBare, 2), fmt(RESTART_SERVERS / restartBare, 0)],
    ["ratio", fmt(restartOp / restartBare, 2), ""],
  ]),
);
const latency = (s: typeof op) => ({ p50_ms: s.p50, p99_ms: s.p99, mean_ms: s.mean });
const restarted = (seconds: number) => ({ seconds, servers_per_s: Math.round(RESTART_SERVERS / seconds) });
printFigures("mcp-servers", {
  servers: SERVERS,
  restart_servers: RESTART_SERVERS,
  concurrency: CONCURRENCY,
  apply: {
    operator: latency(op),
    bare: latency(bare),
    p50_vs_bare: op.p50 / bare.p50,
    p99_vs_bare: op.p99 / bare.p99,
    mean_vs_bare: op.mean / bare.mean,
  },
  restart: {
    operator: restarted(restartOp),
    bare: restarted(restartBare),
    seconds_vs_bare: restartOp / restartBare,
  },
});
await cp.stop();
process.exit(0);
