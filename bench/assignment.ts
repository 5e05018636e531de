/**
 * Tasks placed by the controller through the scheduler, on a real local
 * control plane: 1,000 agents and 10,000 tasks by default. Measures
 * create→Assigned p50/p99 (from the client issuing the create to a watch
 * seeing the task Assigned) and tasks/s in three phases: one task at a time
 * (idle), tasks arriving at a steady rate, and a burst. A bare client making
 * the same writes per task (create, then a status write to Assigned),
 * observed the same way, runs first in the same run: its burst rate sets the
 * steady arrival rate (half of it, so the create and Assigned writes take
 * half the write rate the bare client reached), and its figures are the
 * baseline of each ratio. Each phase also gives how long the creates took to
 * be answered (create answered), the apiserver's own latency as the creating
 * client meets it: what the machine's load adds before placement starts.
 * Prints figures, then one JSON line of them; asserts nothing.
 * Then the path a tool call's Task takes (ADR 0013): the same phases again,
 * each Task bound to an agent when it is created, by the gateway's own
 * decision (lib/scheduling/call-binding.ts, over the 1,000 agents and the
 * loads of the Tasks made so far), with the controller and scheduler running
 * beside it as they do; "Assigned" is then the watch seeing the bound Task,
 * which is Assigned to the controller and its agent. The Tasks of the
 * controller's phases are deleted first, so it runs against no more objects,
 * and the bench waits for the apiserver, etcd and the conductor to go quiet.
 *   AGENTS=1000 TASKS=10000 STEADY_SECONDS=10 CONDUCTOR=processes bun bench/assignment.ts
 * CONDUCTOR=processes (the default) runs the scheduler and the controller each
 * as its own process, as a cluster runs them; CONDUCTOR=in-process runs both
 * in the bench's process, beside the creating client and its watch.
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pLimit from "p-limit";
import type { Agent, Task } from "../lib/api/resources.ts";
import { boundAgentLabel, isBoundUnstarted } from "../lib/api/task-state.ts";
import { freePort, LocalControlPlane } from "../lib/control-plane/local.ts";
import { Informer } from "../lib/kube/informer.ts";
import { chooseBoundAgent } from "../lib/scheduling/call-binding.ts";
import { LoadIndex } from "../lib/scheduling/load-index.ts";
import { kubeCandidateSource } from "../services/scheduler/server.ts";
import { controllerArgs, untilAgentsReady } from "./chaos/conductor.ts";
import { conductorProcesses, ManagedProcess, procCpuMs, procStatusBytes } from "./chaos/processes.ts";
import { parseCounters } from "./chaos/sampling.ts";
import { type CpuTimes, cpuNow, cpuPer, setUpDomain } from "./control-plane.ts";
import { benchLog as log, startInProcessConductor } from "./harness.ts";
import { startHeartbeatedAgents } from "./heartbeated-agents.ts";
import { type Figures, fmt, printFigures, summarize, table } from "./stats.ts";

const AGENTS = Number(process.env.AGENTS ?? 1000);
const TASKS = Number(process.env.TASKS ?? 10000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const IDLE = Number(process.env.IDLE_TASKS ?? 200);
const STEADY_SECONDS = Number(process.env.STEADY_SECONDS ?? 10);
const CONDUCTOR = process.env.CONDUCTOR ?? "processes";
if (CONDUCTOR !== "processes" && CONDUCTOR !== "in-process")
  throw new Error(`CONDUCTOR is processes or in-process, not ${CONDUCTOR}`);

const cp = await LocalControlPlane.start();
const { kubeconfig, conn, mcp } = await setUpDomain(cp, "bench-conductor", "bench-baseline");
/** The conductor's processes (CONDUCTOR=processes), whose CPU time each phase adds up. */
const conductorProcs: ManagedProcess[] = [];
const conductorCpuMs = () => conductorProcs.reduce((sum, p) => sum + (p.pid ? (procCpuMs(p.pid) ?? 0) : 0), 0);
// A run that fails part-way leaves no controller or scheduler running on after it.
process.on("exit", () => {
  for (const p of conductorProcs) if (p.pid) process.kill(p.pid, "SIGKILL");
});
/** The controller's metrics as Prometheus text: from its process's port, or its registry in this process. */
let controllerMetrics: (() => Promise<string>) | undefined;

/**
 * The controller's scheduler calls so far, from its metrics: how many, and their seconds summed;
 * and the full collections it ran when quiet (lib/idle-collection.ts), each a pause.
 */
async function schedulerCalls(): Promise<{ count: number; seconds: number; idleCollections: number } | undefined> {
  if (controllerMetrics === undefined) return undefined;
  const text = await controllerMetrics();
  // Summed over the samples: the controller labels each with its domain.
  const value = (name: string) => parseCounters(text, name).reduce((sum, c) => sum + c.value, 0);
  return {
    count: value("mcp_placement_duration_seconds_count"),
    seconds: value("mcp_placement_duration_seconds_sum"),
    idleCollections: value("mcp_process_idle_collections_total"),
  };
}

async function until(cond: () => boolean, what: string, timeoutMs = 15 * 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/**
 * Watches a namespace and notes when each task is first seen Assigned (or
 * bound to an agent at creation, which is Assigned to the controller and the
 * agent); the load index, when given, is kept from the same watch, as the
 * gateway keeps its own.
 */
async function assignmentWatch(
  ns: string,
  load?: LoadIndex,
): Promise<{ assignedAt: Map<string, number>; inf: Informer<Task>; stop: () => Promise<void> }> {
  const assignedAt = new Map<string, number>();
  const note = (t: Task) => {
    if ((t.status?.phase === "Assigned" || isBoundUnstarted(t)) && !assignedAt.has(t.metadata.name ?? ""))
      assignedAt.set(t.metadata.name ?? "", performance.now());
  };
  const inf = new Informer<Task>(mcp.tasks, { namespace: ns }).on({
    add: (t) => {
      load?.observe(t, undefined);
      note(t);
    },
    update: (t, old) => {
      load?.observe(t, old);
      note(t);
    },
    delete: (t) => load?.remove(t),
  });
  await inf.start();
  return { assignedAt, inf, stop: () => inf.stop() };
}

/**
 * Binds a Task to an agent as it is created, as the gateway does (ADR 0013):
 * the agent chosen, and its load counted until the watch brings the Task.
 */
type Binder = (ns: string, name: string) => { agent?: string; forget: () => void };

/**
 * When each create was answered, by namespace/name: create→answered is the
 * apiserver's own latency as the creating client meets it, the part of
 * create→Assigned that neither placement nor a watch adds.
 */
const createAnsweredAt = new Map<string, number>();

/** The i-th bench task: every agent can take it, priorities 1 to 10 in turn; bound at creation with a binder. */
async function createTask(ns: string, name: string, i: number, bind?: Binder): Promise<Task> {
  const bound = bind?.(ns, name);
  return mcp.tasks
    .create(ns, {
      metadata: { name, ...(bound?.agent ? { labels: { [boundAgentLabel]: bound.agent } } : {}) },
      spec: { requiredCapabilities: ["bench"], priority: 1 + (i % 10) },
    })
    .then((t) => {
      createAnsweredAt.set(`${ns}/${name}`, performance.now());
      return t;
    })
    .catch((err: unknown) => {
      bound?.forget();
      throw err;
    });
}

async function createTasks(
  ns: string,
  opts: { prefix: string; count: number; concurrency: number; bind?: Binder },
  after?: (t: Task, i: number) => Promise<void>,
): Promise<Map<string, number>> {
  const createdAt = new Map<string, number>();
  const limit = pLimit(opts.concurrency);
  await Promise.all(
    Array.from({ length: opts.count }, (_, i) =>
      limit(async () => {
        const name = `${opts.prefix}-${i}`;
        createdAt.set(name, performance.now());
        // Created first: in `after?.(await createTask(…))` a missing `after`
        // skips evaluating its arguments, and the create with them.
        const t = await createTask(ns, name, i, opts.bind);
        await after?.(t, i);
      }),
    ),
  );
  return createdAt;
}

/**
 * Creates `count` tasks at `perSecond`, open loop: each create is sent when
 * its time comes, whether the earlier ones were answered or not, as
 * independent callers would.
 */
async function arriveSteadily(
  ns: string,
  opts: { prefix: string; count: number; perSecond: number; bind?: Binder },
  after?: (t: Task, i: number) => Promise<void>,
): Promise<Map<string, number>> {
  const createdAt = new Map<string, number>();
  const sent: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < opts.count; i++) {
    const due = start + (i * 1000) / opts.perSecond;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const name = `${opts.prefix}-${i}`;
    createdAt.set(name, performance.now());
    sent.push(createTask(ns, name, i, opts.bind).then((t) => after?.(t, i)));
  }
  await Promise.all(sent);
  return createdAt;
}

/**
 * A phase's tasks, when each was created, and the CPU time the phase took:
 * apiserver, etcd, this process, and the conductor's processes when it runs
 * as processes.
 */
interface PhaseRun {
  createdAt: Map<string, number>;
  cpu: CpuTimes & { conductor: number };
  /** The controller's PlaceBatch calls in the phase and their mean time, as its metrics give them. */
  schedulerCalls?: { count: number; mean_ms: number };
  /** The full collections the controller ran in the phase when quiet. */
  controllerIdleCollections?: number;
}

/** Runs a phase that creates tasks and waits until they are Assigned, reading CPU times around it. */
async function timedPhase(run: () => Promise<Map<string, number>>): Promise<PhaseRun> {
  const from = cpuNow(cp);
  const conductorFrom = conductorCpuMs();
  const callsFrom = await schedulerCalls();
  const createdAt = await run();
  const to = cpuNow(cp);
  const conductor = (conductorCpuMs() - conductorFrom) / createdAt.size;
  const callsTo = await schedulerCalls();
  const calls =
    callsFrom && callsTo
      ? {
          count: callsTo.count - callsFrom.count,
          mean_ms: ((callsTo.seconds - callsFrom.seconds) * 1000) / (callsTo.count - callsFrom.count),
        }
      : undefined;
  return {
    createdAt,
    cpu: { ...cpuPer(from, to, createdAt.size), conductor },
    schedulerCalls: calls,
    controllerIdleCollections: callsFrom && callsTo ? callsTo.idleCollections - callsFrom.idleCollections : undefined,
  };
}

function measure(
  ns: string,
  { createdAt, cpu, schedulerCalls, controllerIdleCollections }: PhaseRun,
  assignedAt: Map<string, number>,
) {
  const lat = [...createdAt].map(([name, c]) => (assignedAt.get(name) ?? Number.NaN) - c);
  const first = Math.min(...createdAt.values());
  const last = Math.max(...[...createdAt.keys()].map((n) => assignedAt.get(n) ?? Number.NaN));
  const rate = createdAt.size / ((last - first) / 1000);
  const create = summarize(
    [...createdAt].map(([name, c]) => (createAnsweredAt.get(`${ns}/${name}`) ?? Number.NaN) - c),
  );
  return { ...summarize(lat), rate, create, cpuPerTask: cpu, schedulerCalls, controllerIdleCollections };
}

type Phase = "idle" | "steady" | "burst";
type Measured = ReturnType<typeof measure>;

/**
 * The three phases in one namespace: one task at a time (latency when idle),
 * a steady arrival rate (when given; else after the burst, from its rate),
 * then the burst (throughput under load). Each phase ends when all its tasks
 * are Assigned.
 */
async function runPhases(
  ns: string,
  assignedAt: Map<string, number>,
  steadyRate: number | undefined,
  after?: (t: Task, i: number) => Promise<void>,
  bind?: Binder,
): Promise<Record<Phase, Measured> & { steadyRate: number }> {
  let expected = 0;
  const allAssigned = (what: string) => until(() => assignedAt.size === expected, `${what} in ${ns} Assigned`);
  const idleCreated = await timedPhase(async () => {
    const created = await createTasks(ns, { prefix: "idle", count: IDLE, concurrency: 1, bind }, async (t, i) => {
      await after?.(t, i);
      await until(() => assignedAt.has(t.metadata.name ?? ""), "an idle task Assigned");
    });
    expected += IDLE;
    return created;
  });
  const steadyAt = (perSecond: number) =>
    timedPhase(async () => {
      const count = Math.round(perSecond * STEADY_SECONDS);
      log(`${ns}: ${count} tasks at ${fmt(perSecond, 0)}/s`);
      const created = await arriveSteadily(ns, { prefix: "steady", count, perSecond, bind }, after);
      expected += count;
      await allAssigned("the steady tasks");
      return created;
    });
  const steadyCreated = steadyRate === undefined ? undefined : await steadyAt(steadyRate);
  const burstCreated = await timedPhase(async () => {
    const created = await createTasks(ns, { prefix: "task", count: TASKS, concurrency: CONCURRENCY, bind }, after);
    expected += TASKS;
    await allAssigned("the burst");
    return created;
  });
  const burst = measure(ns, burstCreated, assignedAt);
  const rate = steadyRate ?? burst.rate / 2;
  const steady = measure(ns, steadyCreated ?? (await steadyAt(rate)), assignedAt);
  return { idle: measure(ns, idleCreated, assignedAt), steady, burst, steadyRate: rate };
}

// ---- the baseline first: a bare client doing the same writes; its burst rate sets the steady rate ----
log("baseline: a bare client");
const watchBaseline = await assignmentWatch("bench-baseline");
const baseline = await runPhases("bench-baseline", watchBaseline.assignedAt, undefined, async (t, i) => {
  await mcp.tasks.replaceStatus({
    ...t,
    status: { phase: "Assigned", assignedAgent: `agent-${i % AGENTS}`, attempts: 1 },
  });
});
await watchBaseline.stop();
const steadyRate = baseline.steadyRate;
// Tasks never finish here, so the agents must hold every one: idle, steady and burst.
const capacity = Math.ceil((IDLE + Math.round(steadyRate * STEADY_SECONDS) + TASKS) / AGENTS) + 1;

/** The scheduler and the controller in this process; resolves once the controller sees every agent Ready. */
async function startConductorInProcess(): Promise<() => Promise<void>> {
  const { controller, stop } = await startInProcessConductor({
    conn,
    namespace: "bench-conductor",
    config: { heartbeatTimeoutSeconds: 3600, unknownAfterSeconds: 7200 },
    scheduler: { candidates: kubeCandidateSource(conn) },
  });
  await until(
    () => controller.agents.list().filter((a) => a.status?.phase === "Ready").length === AGENTS,
    "agents Ready",
  );
  controllerMetrics = () => controller.metrics.registry.metrics();
  return stop;
}

/**
 * The scheduler and the controller as their own processes, as in a cluster
 * (logs in a temporary directory); resolves once every agent is Ready.
 */
async function startConductorProcesses(): Promise<() => Promise<void>> {
  const logDir = mkdtempSync(join(tmpdir(), "bench-assignment-"));
  const env = { KUBECONFIG: kubeconfig, LOG_LEVEL: "warn" };
  const managed = (spec: ManagedProcess["spec"]) => {
    const p = new ManagedProcess(spec, logDir, log);
    conductorProcs.push(p);
    return p;
  };
  const stop = async () => {
    for (const p of conductorProcs.reverse()) await p.stop();
  };
  try {
    const schedulerPort = await freePort();
    const metricsPort = await freePort();
    controllerMetrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    await managed(conductorProcesses.scheduler({ port: schedulerPort, env })).start();
    await managed(
      conductorProcesses.controller({
        name: "controller",
        namespace: "bench-conductor",
        schedulerPort,
        metricsPort,
        args: controllerArgs(3600),
        env,
      }),
    ).start();
    await untilAgentsReady(
      mcp,
      "bench-conductor",
      Array.from({ length: AGENTS }, (_, i) => `agent-${i}`),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  log(`conductor processes' logs: ${logDir}`);
  return stop;
}

/**
 * Waits until the apiserver, etcd and the conductor have taken in what came
 * before (a deletion of thousands of Tasks): their CPU time together under a
 * tenth of a core for a second, at most 60 s.
 */
async function untilQuiet(): Promise<void> {
  const busyMs = () => {
    const cpu = cpuNow(cp);
    return cpu.apiserver + cpu.etcd + (CONDUCTOR === "processes" ? conductorCpuMs() : cpu.bench);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const from = busyMs();
    await Bun.sleep(1000);
    if (busyMs() - from < 100 || Date.now() > deadline) return;
  }
}

// ---- the conductor ----
log(`creating ${AGENTS} agents (maxConcurrentTasks ${capacity})`);
// Heartbeated once: the controller's timeout (an hour) outlasts the run.
await startHeartbeatedAgents(mcp, "bench-conductor", {
  names: Array.from({ length: AGENTS }, (_, i) => `agent-${i}`),
  spec: (i) => ({ capabilities: ["bench"], maxConcurrentTasks: capacity, tags: i % 2 ? ["odd"] : ["even"] }),
  concurrency: CONCURRENCY,
});
const stopConductor = CONDUCTOR === "processes" ? await startConductorProcesses() : await startConductorInProcess();
log("agents Ready; creating tasks");
/** Resident memory of what runs the conductor: its processes, or this one. */
const conductorRss = () =>
  CONDUCTOR === "processes"
    ? conductorProcs.reduce((sum, p) => sum + (p.pid ? (procStatusBytes(p.pid, "VmRSS") ?? 0) : 0), 0)
    : process.memoryUsage().rss;
const rssBefore = conductorRss();
const watchConductor = await assignmentWatch("bench-conductor");
const conductor = await runPhases("bench-conductor", watchConductor.assignedAt, steadyRate);
const rssAfter = conductorRss();
await watchConductor.stop();

// ---- the calls' path: Tasks bound to an agent at creation (ADR 0013), the controller and scheduler running ----
log("the controller's Tasks deleted; Tasks bound at creation");
await conn.request("DELETE", mcp.tasks.path("bench-conductor"));
await untilQuiet();
let boundWatch: Awaited<ReturnType<typeof assignmentWatch>> | undefined;
const boundLoad = new LoadIndex((key) => boundWatch?.inf.getByKey(key));
boundWatch = await assignmentWatch("bench-conductor", boundLoad);
// The agents as the gateway's cache holds them: Ready, each with its capacity.
const readyAgents = (await mcp.agents.listAll("bench-conductor")).items as Agent[];
let boundCount = 0;
const bindAsTheGatewayDoes: Binder = (ns, name) => {
  const key = `${ns}/${name}`;
  const agent = chooseBoundAgent({ name, capability: "bench", namespace: ns }, readyAgents, boundLoad.loads());
  if (agent) {
    boundLoad.assume(key, agent);
    boundCount++;
  }
  return { agent, forget: () => boundLoad.forget(key) };
};
const bound = await runPhases("bench-conductor", boundWatch.assignedAt, steadyRate, undefined, bindAsTheGatewayDoes);
await boundWatch.stop();
await stopConductor();
await cp.stop();

console.log(
  `\n${AGENTS} agents; ${IDLE} tasks one at a time, ${Math.round(steadyRate * STEADY_SECONDS)} arriving at ${fmt(steadyRate, 0)}/s (half the bare client's burst rate), ${TASKS} in a burst of ${CONCURRENCY} concurrent creates\n`,
);
const rows: (string | number)[][] = [
  [
    "",
    "create→Assigned p50 ms",
    "p99 ms",
    "tasks/s",
    "create answered p50 / p99 ms",
    "CPU ms/task: apiserver",
    "etcd",
    "bench",
    "conductor",
  ],
];
const cpuCells = (r: { cpuPerTask: CpuTimes & { conductor: number } }) => [
  fmt(r.cpuPerTask.apiserver, 2),
  fmt(r.cpuPerTask.etcd, 2),
  fmt(r.cpuPerTask.bench, 2),
  CONDUCTOR === "processes" ? fmt(r.cpuPerTask.conductor, 2) : "",
];
/** A path's row in a phase: create→Assigned, its rate, its creates answered, its CPU. */
const cells = (r: Measured) => [
  fmt(r.p50, 1),
  fmt(r.p99, 1),
  fmt(r.rate, 0),
  `${fmt(r.create.p50, 1)} / ${fmt(r.create.p99, 1)}`,
  ...cpuCells(r),
];
const figures: Figures = {
  conductor: CONDUCTOR,
  agents: AGENTS,
  idle_tasks: IDLE,
  tasks: TASKS,
  concurrency: CONCURRENCY,
  steady_per_s: Math.round(steadyRate),
  steady_seconds: STEADY_SECONDS,
};
const ratioRow = (label: string, x: Measured, b: Measured) => [
  label,
  fmt(x.p50 / b.p50, 2),
  fmt(x.p99 / b.p99, 2),
  fmt(x.rate / b.rate, 2),
  "",
  "",
  "",
  "",
  "",
];
for (const phase of ["idle", "steady", "burst"] as const) {
  const c = conductor[phase];
  const b = baseline[phase];
  const k = bound[phase];
  rows.push([`${phase}: controller + scheduler`, ...cells(c)]);
  rows.push([`${phase}: bare client, same writes`, ...cells(b)]);
  rows.push(ratioRow(`${phase}: ratio (controller / bare)`, c, b));
  rows.push([`${phase}: bound at creation (calls)`, ...cells(k)]);
  rows.push(ratioRow(`${phase}: ratio (bound / bare)`, k, b));
  const run = (r: typeof c) => ({
    p50_ms: r.p50,
    p99_ms: r.p99,
    tasks_per_s: Math.round(r.rate),
    create_answered: { p50_ms: r.create.p50, p99_ms: r.create.p99 },
    cpu_ms_per_task: { ...r.cpuPerTask },
    ...(r.schedulerCalls?.count ? { scheduler_calls: r.schedulerCalls } : {}),
    ...(r.controllerIdleCollections !== undefined ? { controller_idle_collections: r.controllerIdleCollections } : {}),
  });
  figures[phase] = {
    conductor: run(c),
    bare: run(b),
    p50_vs_bare: c.p50 / b.p50,
    p99_vs_bare: c.p99 / b.p99,
    rate_vs_bare: c.rate / b.rate,
    bound_at_creation: run(k),
    bound_p50_vs_bare: k.p50 / b.p50,
    bound_p99_vs_bare: k.p99 / b.p99,
    bound_rate_vs_bare: k.rate / b.rate,
  };
}
console.log(table(rows));
for (const phase of ["idle", "steady", "burst"] as const) {
  const calls = conductor[phase].schedulerCalls;
  if (calls)
    console.log(`${phase}: the controller's PlaceBatch calls ${calls.count}, mean ${fmt(calls.mean_ms, 2)} ms each`);
}
console.log(
  `\n${CONDUCTOR === "processes" ? "controller and scheduler processes' RSS" : "bench process RSS (controller, scheduler and watch in-process)"}: ${fmt(rssBefore / 2 ** 20, 0)} MiB before tasks, ${fmt(rssAfter / 2 ** 20, 0)} MiB after`,
);
figures.rss_mib = { before: Math.round(rssBefore / 2 ** 20), after: Math.round(rssAfter / 2 ** 20) };
const boundTotal = IDLE + Math.round(steadyRate * STEADY_SECONDS) + TASKS;
console.log(`Tasks bound at creation: ${boundCount} of ${boundTotal} (the rest placed by the controller)`);
figures.bound_at_creation_tasks = { bound: boundCount, of: boundTotal };
printFigures("assignment", figures);
