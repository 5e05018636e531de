/**
 * Scale figures: 1,000 agents and 10,000 tasks on a local control plane, the
 * services as processes (2 leader-elected controllers, the scheduler, a
 * gateway, a real agent). Reports each process's RSS (5 s after the Tasks are
 * all Assigned, and at steady state 30 s after), the controllers'
 * reconcile queue depth (mcp_controller_queue_depth) while the tasks arrive,
 * and the time to steady state after a controller restart: a kill -9 of the
 * leader with a warm standby, then a cold restart (both killed, one started
 * again, resyncing every object). Writes JSON when OUT is set.
 *   AGENTS=1000 TASKS=10000 bun bench/scale.ts
 *
 * The agents beyond the real one are Agent objects heartbeated here; nobody
 * runs the tasks, so they stay Assigned and every one is in every cache.
 * The tasks carry the gateway's labels, as if MCP calls had made them, so the
 * gateway's Task cache holds them too.
 */
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pLimit from "p-limit";
import { freePort, LocalControlPlane } from "../lib/control-plane/local.ts";
import { conductorProcesses, leaseHolder, ManagedProcess, procStatusBytes } from "./chaos/processes.ts";
import { setUpDomain } from "./control-plane.ts";
import { startHeartbeatedAgents } from "./heartbeated-agents.ts";
import { printFigures } from "./stats.ts";

const AGENTS = Number(process.env.AGENTS ?? 1000);
const TASKS = Number(process.env.TASKS ?? 10_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const ns = "scale";
const say = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const mib = (b: number | undefined) => Math.round(((b ?? 0) / 2 ** 20) * 10) / 10;

const outDir = join(tmpdir(), `mcp-conductor-scale-${Date.now()}`);
mkdirSync(outDir, { recursive: true });
const cp = await LocalControlPlane.start();
const procs: ManagedProcess[] = [];
const timers: ReturnType<typeof setInterval>[] = [];
const stopAll = async () => {
  for (const t of timers) clearInterval(t);
  await Promise.all(procs.map((p) => p.stop()));
  await cp.stop();
};
process.once("SIGINT", () => void stopAll().finally(() => process.exit(130)));

try {
  const { kubeconfig, conn, mcp } = await setUpDomain(cp, ns);

  const capacity = Math.ceil(TASKS / AGENTS) + 1;
  say(`creating ${AGENTS - 1} heartbeated agents (maxConcurrentTasks ${capacity})`);
  const names = Array.from({ length: AGENTS - 1 }, (_, i) => `agent-${i}`);
  const heartbeats = await startHeartbeatedAgents(mcp, ns, {
    names,
    spec: (i) => ({ capabilities: ["scale"], maxConcurrentTasks: capacity, tags: i % 2 ? ["odd"] : ["even"] }),
    concurrency: CONCURRENCY,
    // Every agent once per 40 s (a 120 s timeout).
    spacingMs: 40_000 / names.length,
  });
  if (heartbeats) timers.push(heartbeats);

  const env = { KUBECONFIG: kubeconfig, LOG_LEVEL: "warn" };
  const schedulerPort = await freePort();
  const scheduler = new ManagedProcess(conductorProcesses.scheduler({ port: schedulerPort, env }), outDir, say);
  procs.push(scheduler);
  await scheduler.start();
  const controllers = new Map<string, { proc: ManagedProcess; port: number }>();
  for (const id of ["controller-a", "controller-b"]) {
    const port = await freePort();
    const proc = new ManagedProcess(
      conductorProcesses.controller({
        name: id,
        namespace: ns,
        schedulerPort,
        metricsPort: port,
        args: [
          "--heartbeat-timeout-seconds=120",
          "--unknown-after-seconds=360",
          "--default-ttl-seconds-after-finished=86400",
        ],
        env,
      }),
      outDir,
      say,
    );
    controllers.set(id, { proc, port });
    procs.push(proc);
    await proc.start();
  }
  const gatewayPort = await freePort();
  const gateway = new ManagedProcess(
    conductorProcesses.gateway({ name: "gateway", namespace: ns, port: gatewayPort, env }),
    outDir,
    say,
  );
  procs.push(gateway);
  await gateway.start();
  const agent = new ManagedProcess(
    conductorProcesses.soakAgent({
      name: "agent",
      agentName: "soak-agent",
      namespace: ns,
      execDir: join(outDir, "executions"),
      env,
    }),
    outDir,
    say,
  );
  procs.push(agent);
  await agent.start();

  const holder = () => leaseHolder(conn, ns);
  /** The leader's queue depths and task phases, from its /metrics. */
  const leaderMetrics = async (id: string) => {
    const c = controllers.get(id);
    const text = await fetch(`http://127.0.0.1:${c?.port}/metrics`, { signal: AbortSignal.timeout(5000) })
      .then((r) => r.text())
      .catch(() => "");
    const queues: Record<string, number> = {};
    const phases: Record<string, number> = {};
    for (const m of text.matchAll(/^mcp_controller_queue_depth\{[^}]*queue="([^"]+)"[^}]*\} (\S+)$/gm))
      queues[m[1] as string] = Number(m[2]);
    for (const m of text.matchAll(/^mcp_tasks\{[^}]*phase="([^"]+)"[^}]*\} (\S+)$/gm))
      phases[m[1] as string] = Number(m[2]);
    const leader = /^mcp_controller_leader\{[^}]*\} 1$/m.test(text);
    const readyAgents = Number(/^mcp_agents\{[^}]*phase="Ready"[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0);
    const heapMiB = mib(Number(/^mcp_process_heap_bytes\{[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0));
    const idleCollections = Number(/^mcp_process_idle_collections_total\{[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0);
    const depth = Object.values(queues).reduce((a, b) => a + b, 0);
    return { queues, phases, leader, readyAgents, depth, heapMiB, idleCollections };
  };
  const until = async (what: string, cond: () => Promise<boolean>, timeoutMs = 30 * 60_000) => {
    const by = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
      await Bun.sleep(250);
    }
  };
  await until("a leader", async () => (await holder()) !== undefined);
  let leader = (await holder()) as string;
  await until("every agent Ready", async () => (await leaderMetrics(leader)).readyAgents >= AGENTS);

  // ---- 10,000 tasks, watching the leader's queues ----
  say(`creating ${TASKS} tasks, ${CONCURRENCY} at a time`);
  const peakQueue: Record<string, number> = {};
  let peakDepth = 0;
  const watchQueues = setInterval(async () => {
    const m = await leaderMetrics(leader);
    for (const [q, n] of Object.entries(m.queues)) peakQueue[q] = Math.max(peakQueue[q] ?? 0, n);
    peakDepth = Math.max(peakDepth, m.depth);
  }, 500);
  timers.push(watchQueues);
  const t0 = Date.now();
  const limit = pLimit(CONCURRENCY);
  await Promise.all(
    Array.from({ length: TASKS }, (_, i) =>
      limit(() =>
        mcp.tasks.create(ns, {
          metadata: {
            name: `task-${i}`,
            labels: {
              "mcp.io/created-by": "gateway",
              "mcp.io/mcp-client": "anonymous",
              "mcp.io/tool": "capability.scale",
            },
          },
          spec: { requiredCapabilities: ["scale"], priority: 1 + (i % 10), payload: { i } },
        }),
      ),
    ),
  );
  const createdIn = (Date.now() - t0) / 1000;
  await until("every task Assigned", async () => {
    const m = await leaderMetrics(leader);
    return (m.phases.Assigned ?? 0) >= TASKS && m.depth === 0;
  });
  const assignedIn = (Date.now() - t0) / 1000;
  clearInterval(watchQueues);
  say(
    `created in ${createdIn.toFixed(0)} s, all Assigned in ${assignedIn.toFixed(0)} s; peak queue depth ${peakDepth}`,
  );
  /** Every process's RSS now. */
  const rssNow = () => {
    const rss: Record<string, number> = {};
    for (const p of procs) {
      p.sample();
      rss[p.spec.name] = mib(p.lastRssBytes);
    }
    for (const [name, pid] of Object.entries(cp.pids)) if (pid) rss[name] = mib(procStatusBytes(pid, "VmRSS"));
    return rss;
  };
  // Twice: 5 s after the burst, and settled, 30 s after it, once the services had time to
  // collect the burst's garbage (lib/idle-collection.ts). Nothing but heartbeats happens between.
  await Bun.sleep(5000);
  const rssAfterBurst = rssNow();
  const heapAfterBurst = await leaderMetrics(leader);
  await Bun.sleep(25_000);
  const rssSteady = rssNow();
  const heapSteady = await leaderMetrics(leader);
  say(
    `leader: RSS ${rssAfterBurst[leader]} MiB and heap ${heapAfterBurst.heapMiB} MiB 5 s after the burst, ` +
      `${rssSteady[leader]} and ${heapSteady.heapMiB} MiB 30 s after (${heapSteady.idleCollections} idle collections)`,
  );

  // ---- failover: kill -9 the leader, the warm standby takes over ----
  const steady = async (id: string) => {
    const m = await leaderMetrics(id);
    return m.leader && m.depth === 0 && (m.phases.Assigned ?? 0) >= TASKS;
  };
  const killed = controllers.get(leader) as { proc: ManagedProcess };
  const killedAt = Date.now();
  await killed.proc.kill9();
  const standby = [...controllers.keys()].find((k) => k !== leader) as string;
  let sawDepth = 0;
  await until("the standby leading", async () => (await holder()) === standby, 120_000);
  const takeoverMs = Date.now() - killedAt;
  await until("the new leader steady", async () => {
    sawDepth = Math.max(sawDepth, (await leaderMetrics(standby)).depth);
    return steady(standby);
  });
  const failoverSteadyMs = Date.now() - killedAt;
  say(`failover: leader after ${takeoverMs} ms, steady after ${failoverSteadyMs} ms (peak queue ${sawDepth})`);
  await killed.proc.restart();

  // ---- cold restart: both controllers killed, one started again, resyncing everything ----
  await Promise.all([...controllers.values()].map((c) => c.proc.kill9()));
  leader = standby;
  const coldAt = Date.now();
  const cold = controllers.get(standby) as { proc: ManagedProcess; port: number };
  await cold.proc.restart(); // resolves once /readyz: caches synced
  const readyMs = Date.now() - coldAt;
  let coldDepth = 0;
  await until("the restarted controller steady", async () => {
    const m = await leaderMetrics(standby);
    coldDepth = Math.max(coldDepth, m.depth);
    return steady(standby);
  });
  const coldSteadyMs = Date.now() - coldAt;
  say(
    `cold restart: caches synced after ${readyMs} ms, leading and steady after ${coldSteadyMs} ms (peak queue ${coldDepth})`,
  );
  await (
    controllers.get(standby === "controller-a" ? "controller-b" : "controller-a") as { proc: ManagedProcess }
  ).proc.restart();

  for (const p of procs) p.sample();
  const peak: Record<string, number> = {};
  for (const p of procs) peak[p.spec.name] = mib(p.peakBytes);
  for (const [name, pid] of Object.entries(cp.pids)) if (pid) peak[name] = mib(procStatusBytes(pid, "VmHWM"));
  const report = {
    agents: AGENTS,
    tasks: TASKS,
    createSeconds: Math.round(createdIn),
    allAssignedSeconds: Math.round(assignedIn),
    peakQueueDepth: { total: peakDepth, ...peakQueue },
    rssMiB5sAfterBurst: rssAfterBurst,
    rssMiBSteady: rssSteady,
    leaderHeapMiB: { after5s: heapAfterBurst.heapMiB, steady: heapSteady.heapMiB },
    leaderIdleCollections: heapSteady.idleCollections,
    peakRssMiB: peak,
    failover: { leaderAfterMs: takeoverMs, steadyAfterMs: failoverSteadyMs, peakQueueDepth: sawDepth },
    coldRestart: { cachesSyncedAfterMs: readyMs, steadyAfterMs: coldSteadyMs, peakQueueDepth: coldDepth },
  };
  printFigures("scale", report);
  if (process.env.OUT) await Bun.write(process.env.OUT, `${JSON.stringify(report, null, 2)}\n`);
} finally {
  await stopAll();
}
process.exit(0);
