/**
 * The soak's report: its figures, made from what the run collected (the
 * counts by verdict.ts), and as the few lines of text the run prints.
 * test/chaos/soak.test.ts and bench/soak.ts read both.
 */
import { summarize } from "../stats.ts";
import type { FaultRecord, FaultWindow } from "./faults.ts";
import type { CallRecord } from "./load.ts";
import type { SoakOptions } from "./plan.ts";
import type { TaskTrack } from "./task-watch.ts";
import {
  answerCounts,
  type CallCounts,
  type Collected,
  callCounts,
  type ExecutionCounts,
  executionCounts,
  gatewayKilledDuring,
  soakVerdict,
  type TaskCounts,
  taskCounts,
} from "./verdict.ts";

type Latency = { n: number; p50: number; p99: number };

export interface SoakReport {
  seed: number;
  options: Omit<SoakOptions, "say">;
  durationSeconds: number;
  calls: {
    made: number;
    completed: number;
    failedByDesign: number;
    cancelledByDesign: number;
    failedUnexpectedly: number;
    interruptedAndRecovered: number;
    /** Calls whose Task finished but whose answer never reached the client. */
    answersLost: number;
    /**
     * Of those, the calls whose gateway was not killed while they waited: their
     * client was still connected, so the answer must have come (none may).
     * A gateway killed mid-call takes its calls' streams with it, and a 2025
     * stream cannot be resumed (ADR 0007): the client hears nothing more.
     */
    answersLostGatewayUp: number;
    answersLostByPhase: Record<string, number>;
    /** Which calls, their Tasks and gateways, to find them in the logs. */
    answersLostDetail: {
      callId: string;
      kind: string;
      phase: string;
      task: string;
      gateway: string;
      /** The call's gateway was killed while it waited. */
      gatewayKilled: boolean;
      /** Seconds from the load's start: the call made, its Task finished, the call given up. */
      startedAt: number;
      finishedAt: number;
      gaveUpAt: number;
    }[];
    resent: number;
    byKind: CallCounts["byKind"];
    unexpected: CallCounts["unexpected"];
  };
  tasks: {
    seen: number;
    finished: number;
    cancelledAndDeleted: number;
    lost: number;
    lostDetail: TaskCounts["lostDetail"];
    completionsRecordedTwice: number;
    recordedTwiceDetail: TaskCounts["recordedTwiceDetail"];
    completionsWithoutExecution: number;
  };
  executions: ExecutionCounts;
  latencyMs: {
    byFaultPhase: Record<string, Latency>;
    byTaskPhase: Record<string, Latency>;
  };
  apiserver: { writes: number; writesPerSecond: number; byResource: Record<string, number> };
  peakRssMiB: Record<string, number>;
  restarts: Record<string, { planned: number; unplanned: number }>;
  faults: FaultRecord[];
  /** soakVerdict's: whether the run passed, and each way it did not. */
  ok: boolean;
  failures: string[];
}

/** What the report is made of: the run's times (ms since the epoch) and what it collected. */
export interface ReportInput {
  options: SoakOptions;
  startedAt: number;
  loadStart: number;
  loadEnd: number;
  collected: Collected;
  windows: FaultWindow[];
  faults: FaultRecord[];
  /** The apiserver's writes during the load, by resource. */
  writes: Map<string, number>;
  peakRssMiB: Record<string, number>;
  restarts: SoakReport["restarts"];
}

/** The run's figures and its verdict; details are cut to 50 entries. */
export function soakReport(i: ReportInput, now = Date.now()): SoakReport {
  const { records, tracks } = i.collected;
  const calls = callCounts(records);
  const tasks = taskCounts(i.collected);
  const figures: SoakReport = {
    seed: i.options.seed,
    options: { ...i.options, say: undefined } as Omit<SoakOptions, "say">,
    durationSeconds: Math.round((now - i.startedAt) / 1000),
    calls: {
      made: records.length,
      completed: calls.completed,
      failedByDesign: calls.failedByDesign,
      cancelledByDesign: calls.cancelledByDesign,
      failedUnexpectedly: calls.unexpected.length,
      interruptedAndRecovered: calls.interruptedAndRecovered,
      ...answerCounts(records, i.windows, i.loadEnd),
      answersLostDetail: answersLostDetail(i),
      resent: calls.resent,
      byKind: calls.byKind,
      unexpected: calls.unexpected.slice(0, 50),
    },
    tasks: {
      seen: tracks.length,
      finished: tasks.finished,
      cancelledAndDeleted: tasks.cancelledAndDeleted,
      lost: tasks.lostDetail.length,
      lostDetail: tasks.lostDetail.slice(0, 50),
      completionsRecordedTwice: tasks.recordedTwiceDetail.length,
      recordedTwiceDetail: tasks.recordedTwiceDetail.slice(0, 50),
      completionsWithoutExecution: tasks.completionsWithoutExecution,
    },
    executions: executionCounts(i.collected),
    latencyMs: { byFaultPhase: latencyByFaultPhase(records), byTaskPhase: latencyByTaskPhase(tracks) },
    apiserver: apiserverWrites(i.writes, i.loadEnd - i.loadStart),
    peakRssMiB: i.peakRssMiB,
    restarts: i.restarts,
    faults: i.faults,
    ok: false,
    failures: [],
  };
  return { ...figures, ...soakVerdict(figures) };
}

function answersLostDetail(i: ReportInput): SoakReport["calls"]["answersLostDetail"] {
  const seconds = (t: number) => (t - i.loadStart) / 1000;
  return i.collected.records
    .filter((r) => r.answerLost)
    .map((r) => {
      const tasks = i.collected.tracks.filter((t) => t.callId === r.call.callId);
      return {
        callId: r.call.callId,
        kind: r.call.kind,
        phase: r.phase,
        task: tasks.map((t) => t.name).join(","),
        gateway: r.lostOn ?? "",
        gatewayKilled: gatewayKilledDuring(i.windows, r, i.loadEnd),
        startedAt: seconds(r.startedAt),
        finishedAt: seconds(Math.min(...tasks.map((t) => t.finishedAt ?? Infinity))),
        gaveUpAt: seconds(r.endedAt ?? Number.NaN),
      };
    });
}

const latency = (xs: number[]): Latency => {
  const s = summarize(xs);
  return { n: s.n, p50: Math.round(s.p50), p99: Math.round(s.p99) };
};

/** End-to-end latency of the completed calls, by the fault phase they started in, and in all. */
export function latencyByFaultPhase(records: CallRecord[]): Record<string, Latency> {
  const phases = new Map<string, number[]>();
  for (const r of records) {
    if (r.outcome !== "completed" || r.endedAt === undefined) continue;
    for (const key of [r.phase, "all"]) phases.set(key, [...(phases.get(key) ?? []), r.endedAt - r.startedAt]);
  }
  return Object.fromEntries([...phases].map(([k, xs]) => [k, latency(xs)]));
}

/** Each step of a Task's lifecycle, from when the watch first saw it in one phase and in the next. */
export function latencyByTaskPhase(tracks: TaskTrack[]): Record<string, Latency> {
  const step = (from: string, to: string) =>
    latency(
      tracks
        .map((t) => (t.seenAt[to] ?? Number.NaN) - (t.seenAt[from] ?? Number.NaN))
        .filter((x) => Number.isFinite(x) && x >= 0),
    );
  return {
    "created→Assigned": step("Created", "Assigned"),
    "Assigned→Running": step("Assigned", "Running"),
    "Running→Completed": step("Running", "Completed"),
  };
}

/** The apiserver's writes during the load, per second of it, and the ten resources written most. */
export function apiserverWrites(byResource: Map<string, number>, loadMs: number): SoakReport["apiserver"] {
  const writes = [...byResource.values()].reduce((a, b) => a + b, 0);
  return {
    writes,
    writesPerSecond: Math.round((writes / (loadMs / 1000)) * 10) / 10,
    byResource: Object.fromEntries([...byResource].sort((a, b) => b[1] - a[1]).slice(0, 10)),
  };
}

/** The line said every 15 s while the load runs. */
export function progressLine(records: CallRecord[], calls: number, openTasks: number): string {
  const inFlight = records.filter((r) => r.endedAt === undefined);
  const kinds = new Map<string, number>();
  for (const r of inFlight) kinds.set(r.call.kind, (kinds.get(r.call.kind) ?? 0) + 1);
  return `progress: ${records.length - inFlight.length}/${calls} calls done; in flight ${JSON.stringify(Object.fromEntries(kinds))}; open tasks ${openTasks}`;
}

const latencyLine = (name: string, width: number, v: Latency) =>
  `  ${name.padEnd(width)} n=${String(v.n).padStart(5)}  p50 ${String(v.p50).padStart(6)}  p99 ${String(v.p99).padStart(6)}`;

const listed = (figures: [string, number][]) => figures.map(([k, v]) => `${k} ${v}`).join(", ");

/** The report as a few lines of text. */
export function formatReport(r: SoakReport): string {
  const lines: string[] = [];
  const c = r.calls;
  lines.push(`seed ${r.seed}; ${r.durationSeconds} s`);
  lines.push(
    `calls: made ${c.made}, completed ${c.completed}, failed by design ${c.failedByDesign}, cancelled by design ${c.cancelledByDesign}, failed unexpectedly ${c.failedUnexpectedly} (interrupted by a fault and recovered: ${c.interruptedAndRecovered}, of which the answer never came although the Task finished: ${c.answersLost} ${JSON.stringify(c.answersLostByPhase)}, with the call's gateway up: ${c.answersLostGatewayUp}; sent again: ${c.resent})`,
  );
  const t = r.tasks;
  lines.push(
    `tasks: seen ${t.seen}, finished ${t.finished}, cancelled and deleted ${t.cancelledAndDeleted}, LOST ${t.lost}, completions recorded twice ${t.completionsRecordedTwice}, completions without a matching execution ${t.completionsWithoutExecution}`,
  );
  const e = r.executions;
  lines.push(
    `executions: ${e.total}; repeated (beyond design) ${e.repeated} in ${e.tasksExecutedMoreThanDesigned} tasks; same idempotency key started twice ${e.sameKeyTwice}`,
  );
  lines.push("end-to-end latency of completed calls, by fault phase (ms):");
  for (const [k, v] of Object.entries(r.latencyMs.byFaultPhase)) lines.push(latencyLine(k, 12, v));
  lines.push("task lifecycle steps as the watch saw them (ms):");
  for (const [k, v] of Object.entries(r.latencyMs.byTaskPhase)) lines.push(latencyLine(k, 18, v));
  const topWrites = Object.entries(r.apiserver.byResource).slice(0, 5);
  lines.push(`apiserver writes: ${r.apiserver.writes} (${r.apiserver.writesPerSecond}/s); top: ${listed(topWrites)}`);
  lines.push(`peak RSS (MiB): ${listed(Object.entries(r.peakRssMiB))}`);
  lines.push(
    `faults: ${r.faults.map((f) => `${f.kind} (${f.target}) held ${f.heldSeconds} s, back in ${f.recoveredSeconds} s`).join("; ")}`,
  );
  const unplanned = Object.entries(r.restarts).filter(([, v]) => v.unplanned > 0);
  if (unplanned.length)
    lines.push(
      `restarted after exiting by themselves: ${unplanned.map(([k, v]) => `${k} ×${v.unplanned}`).join(", ")}`,
    );
  if (c.unexpected.length)
    lines.push(
      `unexpected: ${c.unexpected
        .slice(0, 5)
        .map((u) => `${u.kind} ${u.callId} ${u.detail}`)
        .join(" | ")}`,
    );
  if (t.lostDetail.length) lines.push(`lost: ${JSON.stringify(t.lostDetail.slice(0, 5))}`);
  if (c.answersLostDetail.length) lines.push(`answers lost: ${JSON.stringify(c.answersLostDetail.slice(0, 10))}`);
  lines.push(
    r.ok
      ? "OK: no task lost, no completion recorded twice, no answer lost while its gateway was up"
      : `FAILED: ${r.failures.join("; ")}`,
  );
  return lines.join("\n");
}
