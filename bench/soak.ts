/**
 * Soak and chaos run, one command: a whole conductor as processes on a local
 * control plane, a mixed load through the gateways, kill -9 of every
 * component in turn. Prints the figures, writes them all as JSON to
 * soak-report.json in its output folder, ends with the main ones as one JSON
 * line, and exits 1 when a task was lost, a completion recorded twice, or a
 * call's answer lost although its gateway stayed up.
 *   bun bench/soak.ts
 *   CALLS=300 AGENTS=1000 AGENT_PROCESSES=10 CLIENTS=24 HOLD=12 GAP=10 FAULTS=controller,etcd SEED=7 OUT=dir bun bench/soak.ts
 */
import { allFaults, defaultSoakOptions, type FaultKind, formatReport, runSoak } from "./chaos/soak.ts";
import { printFigures } from "./stats.ts";

const d = defaultSoakOptions();
const num = (name: string, dflt: number) => {
  const v = process.env[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`soak: ${name} must be a non-negative number, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const faults = (process.env.FAULTS ?? allFaults.join(","))
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean) as FaultKind[];
for (const f of faults) {
  if (!allFaults.includes(f)) {
    console.error(`soak: unknown fault ${f}; known: ${allFaults.join(", ")}`);
    process.exit(2);
  }
}

const report = await runSoak({
  calls: num("CALLS", d.calls),
  clients: num("CLIENTS", d.clients),
  agentProcesses: num("AGENT_PROCESSES", d.agentProcesses),
  totalAgents: num("AGENTS", d.totalAgents),
  holdSeconds: num("HOLD", d.holdSeconds),
  gapSeconds: num("GAP", d.gapSeconds),
  settleSeconds: num("SETTLE", d.settleSeconds),
  heartbeatTimeoutSeconds: num("HEARTBEAT_TIMEOUT", d.heartbeatTimeoutSeconds),
  seed: process.env.SEED ? num("SEED", 1) : Math.floor(Math.random() * 2 ** 31),
  faults,
  outDir: process.env.OUT,
});
console.log(`\n${formatReport(report)}`);
const { calls, tasks, executions, latencyMs, apiserver } = report;
// No baseline: the soak's figures are counts that must be 0 and what the faults cost.
printFigures("soak", {
  ok: report.ok,
  seed: report.seed,
  seconds: report.durationSeconds,
  calls: {
    made: calls.made,
    completed: calls.completed,
    failed_by_design: calls.failedByDesign,
    cancelled_by_design: calls.cancelledByDesign,
    failed_unexpectedly: calls.failedUnexpectedly,
    interrupted_and_recovered: calls.interruptedAndRecovered,
    answers_lost: calls.answersLost,
    answers_lost_gateway_up: calls.answersLostGatewayUp,
    resent: calls.resent,
  },
  tasks: {
    seen: tasks.seen,
    finished: tasks.finished,
    cancelled_and_deleted: tasks.cancelledAndDeleted,
    lost: tasks.lost,
    completions_recorded_twice: tasks.completionsRecordedTwice,
    completions_without_execution: tasks.completionsWithoutExecution,
  },
  executions: {
    total: executions.total,
    repeated: executions.repeated,
    same_key_twice: executions.sameKeyTwice,
  },
  // completed calls' end-to-end latency (ms) by the fault active when each started: { n, p50, p99 }
  latency_ms_by_fault_phase: latencyMs.byFaultPhase,
  apiserver_writes: apiserver.writes,
  apiserver_writes_per_s: apiserver.writesPerSecond,
  peak_rss_mib: report.peakRssMiB,
});
process.exit(report.ok ? 0 : 1);
