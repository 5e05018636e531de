/**
 * The soak and chaos run: a whole conductor as separate processes on a real
 * local control plane (2 leader-elected controllers, the scheduler, 2
 * gateways, real agent processes, plus Agent objects heartbeated here up to
 * the total), a mixed load of MCP tool calls through the gateways and of
 * Tasks written directly (priorities, deadlines, retry policies), and kill -9
 * of every component in turn while the load runs. It then checks the
 * delivery guarantee from the agents' execution logs and the Task objects:
 * no task lost, no completion recorded twice; and that a call whose Task
 * finished got its answer unless its gateway was killed while it waited.
 * Used by bench/soak.ts and test/chaos/soak.test.ts.
 *
 * This module wires the parts: plan.ts (what the run will do), conductor.ts
 * (the services as processes), task-watch.ts and sampling.ts (what it
 * measures), load.ts (the calls), faults.ts (the kills), verdict.ts (the
 * counts and whether the run passed) and report.ts (the figures as text).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { McpClients } from "../../lib/api/resources.ts";
import { LocalControlPlane } from "../../lib/control-plane/local.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { setUpDomain } from "../control-plane.ts";
import { startHeartbeatedAgents } from "../heartbeated-agents.ts";
import { type SoakConductor, startSoakConductor } from "./conductor.ts";
import { type FaultRecord, type FaultWindow, faultPhaseAt, runFaults } from "./faults.ts";
import { SoakLoad } from "./load.ts";
import { defaultSoakOptions, planSoak, type SoakOptions, type SoakPlan } from "./plan.ts";
import { Prng } from "./prng.ts";
import type { ManagedProcess } from "./processes.ts";
import { progressLine, type SoakReport, soakReport } from "./report.ts";
import { ApiserverWrites, MemorySampler, readExecutionLogs, restartCounts } from "./sampling.ts";
import { TaskWatch } from "./task-watch.ts";

export { allFaults, defaultSoakOptions, type FaultKind, type SoakOptions } from "./plan.ts";
export { formatReport, type SoakReport } from "./report.ts";

const ns = "soak";

/** The run's options, plan and output places, settled before anything starts. */
interface Run {
  o: SoakOptions;
  plan: SoakPlan;
  /** The seed's generator, past the plan. */
  rng: Prng;
  startedAt: number;
  outDir: string;
  logDir: string;
  execDir: string;
  say: (msg: string) => void;
}

/** What the run started, so that its end (or Ctrl-C) stops whatever did start. */
interface Started {
  cp: LocalControlPlane;
  procs: ManagedProcess[];
  timers: ReturnType<typeof setInterval>[];
  watch?: TaskWatch;
  load?: SoakLoad;
}

/** What the run has up once the stage is set. */
interface Stage {
  cp: LocalControlPlane;
  conn: KubeConnection;
  mcp: McpClients;
  watch: TaskWatch;
  conductor: SoakConductor;
  memory: MemorySampler;
  writes: ApiserverWrites;
}

export async function runSoak(given: Partial<SoakOptions> = {}): Promise<SoakReport> {
  const run = prepare(given);
  const started: Started = { cp: await LocalControlPlane.start(), procs: [], timers: [] };
  // Ctrl-C: stop every process this run started before going.
  const onSignal = () => {
    run.say("interrupted; stopping what the run started");
    void Promise.all(started.procs.map((p) => p.stop()))
      .then(() => started.cp.stop())
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const stage = await setStage(run, started);
    const report = await soak(run, started, stage);
    const path = join(run.outDir, "soak-report.json");
    writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
    run.say(`report written to ${path}`);
    return report;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await stop(started);
  }
}

function prepare(given: Partial<SoakOptions>): Run {
  const o: SoakOptions = { ...defaultSoakOptions(), ...given };
  const startedAt = Date.now();
  const say = o.say ?? ((msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`));
  const outDir = o.outDir ?? join(tmpdir(), `mcp-conductor-soak-${Date.now()}`);
  const logDir = join(outDir, "logs");
  const execDir = join(outDir, "executions");
  mkdirSync(logDir, { recursive: true });
  mkdirSync(execDir, { recursive: true });
  say(
    `soak: seed ${o.seed}, ${o.calls} calls, ${o.agentProcesses} agent processes, ${o.totalAgents} agents; output ${outDir}`,
  );
  const rng = new Prng(o.seed);
  return { o, plan: planSoak(o, rng), rng, startedAt, outDir, logDir, execDir, say };
}

/** The domain, the Task watch, the heartbeated agents, the conductor up, and the samplers running. */
async function setStage(run: Run, started: Started): Promise<Stage> {
  const { o, plan, say } = run;
  const { kubeconfig, conn, mcp } = await setUpDomain(started.cp, ns);
  const watch = new TaskWatch(mcp, ns);
  started.watch = watch;
  await watch.start();

  say(`creating ${plan.idleAgents.length} heartbeated Agent objects`);
  const heartbeats = await startHeartbeatedAgents(mcp, ns, {
    names: plan.idleAgents,
    // A capability the load never asks for: they add to every cache, and run nothing.
    spec: () => ({ capabilities: ["soak-idle"], maxConcurrentTasks: 1, tags: ["idle"] }),
    concurrency: 16,
    spacingMs: plan.heartbeatSpacingMs,
  });
  if (heartbeats) started.timers.push(heartbeats);

  const conductor = await startSoakConductor(
    mcp,
    {
      namespace: ns,
      kubeconfig,
      agentProcesses: o.agentProcesses,
      heartbeatTimeoutSeconds: o.heartbeatTimeoutSeconds,
      logDir: run.logDir,
      execDir: run.execDir,
      say,
    },
    started.procs,
  );
  say(`conductor up in ${((Date.now() - run.startedAt) / 1000).toFixed(0)} s`);

  const memory = new MemorySampler(started.procs, started.cp);
  started.timers.push(setInterval(() => memory.sample(), 1000));
  const writes = new ApiserverWrites(started.cp);
  await writes.scrape();
  writes.zero(); // count from the load's start
  started.timers.push(setInterval(() => void writes.scrape(), 2000));
  return { cp: started.cp, conn, mcp, watch, conductor, memory, writes };
}

/** The load under the faults, the settling after, and the report of it all. */
async function soak(run: Run, started: Started, stage: Stage): Promise<SoakReport> {
  const { o, plan, say } = run;
  const { mcp, watch, memory, writes } = stage;
  const windows: FaultWindow[] = [];
  const load = new SoakLoad({
    o,
    plan,
    rng: run.rng,
    mcp,
    namespace: ns,
    watch,
    gateways: stage.conductor.gateways,
    apiUp: () => writes.up,
    phaseAt: (t) => faultPhaseAt(windows, t),
  });
  started.load = load;
  const loadStart = Date.now();
  const running = load.run(loadStart);
  started.timers.push(setInterval(() => say(progressLine(load.records, o.calls, watch.open().length)), 15_000));
  const faults = await injectFaults(run, stage, load, { windows, loadStart });
  say("faults done; waiting for the load to finish");
  // The calls and their tasks get settleSeconds after the last fault, in all.
  const settleBy = Date.now() + o.settleSeconds * 1000;
  await awaitLoad(load, running, watch, o.settleSeconds, say);
  const loadEnd = Date.now();

  // Settle: every task finished (or cancelled and deleted).
  while (watch.open().length > 0 && Date.now() < settleBy) await Bun.sleep(500);
  await writes.scrape();
  memory.sample();
  say(`settled with ${watch.open().length} open tasks`);
  // The authoritative answer comes from the apiserver, not from the watch.
  const listed = new Map((await mcp.tasks.list(ns)).items.map((t) => [t.metadata.uid ?? "", t]));
  for (const t of listed.values()) watch.note(t);

  return soakReport({
    options: o,
    startedAt: run.startedAt,
    loadStart,
    loadEnd,
    collected: {
      records: load.records,
      tracks: [...watch.tracks.values()],
      listed,
      executions: readExecutionLogs(run.execDir),
      designedExecutions: new Map(plan.calls.map((c) => [c.callId, c.designedExecutions])),
    },
    windows,
    faults,
    writes: writes.byResource,
    peakRssMiB: memory.peakMiB(),
    restarts: restartCounts(started.procs),
  });
}

function injectFaults(
  run: Run,
  stage: Stage,
  load: SoakLoad,
  at: { windows: FaultWindow[]; loadStart: number },
): Promise<FaultRecord[]> {
  const targets = {
    conductor: stage.conductor,
    cp: stage.cp,
    conn: stage.conn,
    namespace: ns,
    // Probes running as the apiserver or etcd goes down; memory sampled before it can no longer be.
    beforeControlPlaneDown: async () => {
      await load.startProbes(at.windows.length);
      stage.memory.sample();
    },
  };
  return runFaults(run.o, targets, { ...at, say: run.say });
}

/** Waits for the load and its probes, `seconds` at most; if they are not done, says which calls are still out. */
async function awaitLoad(
  load: SoakLoad,
  running: Promise<void>,
  watch: TaskWatch,
  seconds: number,
  say: (msg: string) => void,
): Promise<void> {
  const timeout = Bun.sleep(seconds * 1000).then(() => "timeout" as const);
  const ended = load.ended(running).then(() => "done" as const);
  if ((await Promise.race([ended, timeout])) === "done") return;
  say("load did not finish in time; still in flight:");
  for (const r of load.inFlight().slice(0, 20)) {
    const trs = watch.byCall.get(r.call.callId) ?? [];
    say(`  ${r.call.kind} ${r.call.callId}: ${trs.map((t) => `${t.name} ${t.last?.status?.phase}`).join(", ")}`);
  }
}

async function stop(s: Started): Promise<void> {
  for (const t of s.timers) clearInterval(t);
  await s.watch?.stop().catch(() => {});
  for (const c of s.load?.clients ?? []) await c.close().catch(() => {});
  await Promise.all(s.procs.map((p) => p.stop()));
  await s.cp.stop();
}
