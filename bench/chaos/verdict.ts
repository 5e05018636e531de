/**
 * Whether a soak run passed, from its figures alone: no Task lost, no
 * completion recorded twice, and no answer lost by a client whose gateway
 * stayed up (a call whose gateway was killed mid-call cannot be answered on
 * its 2025 stream, ADR 0007; it is followed through its Task instead). Each
 * failure is said in a sentence, for the report and the exit status.
 *
 * The figures are counted here too, by pure functions of what the run
 * collected: its call records, the Tasks it watched and listed at the end,
 * the agents' execution logs and the fault windows.
 */
import type { Task } from "../../lib/api/resources.ts";
import { isFinished } from "../../lib/api/task-state.ts";
import type { ExecutionRecord } from "../../test/fixtures/soak-agent.ts";
import type { FaultWindow } from "./faults.ts";
import type { CallRecord } from "./load.ts";
import { expected } from "./plan.ts";
import type { TaskTrack } from "./task-watch.ts";

export interface VerdictFigures {
  tasks: { lost: number; completionsRecordedTwice: number };
  calls: { answersLostGatewayUp: number };
}

export function soakVerdict(f: VerdictFigures): { ok: boolean; failures: string[] } {
  const failures: string[] = [];
  if (f.tasks.lost > 0) failures.push(`${f.tasks.lost} Task(s) lost`);
  if (f.tasks.completionsRecordedTwice > 0)
    failures.push(`${f.tasks.completionsRecordedTwice} Task(s) with a completion recorded twice`);
  if (f.calls.answersLostGatewayUp > 0)
    failures.push(`${f.calls.answersLostGatewayUp} answer(s) lost while their gateway was up`);
  return { ok: failures.length === 0, failures };
}

/** What the run collected, for the counts. */
export interface Collected {
  records: CallRecord[];
  tracks: TaskTrack[];
  /** The Tasks the apiserver listed at the end, by UID: the authoritative answer, not the watch's. */
  listed: Map<string, Task>;
  executions: ExecutionRecord[];
  /** Executions each planned call needs by design, by callId; any other Task (a probe) needs one. */
  designedExecutions: Map<string, number>;
}

export type TaskFate = "finished" | "cancelledAndDeleted" | "lost";

/**
 * What became of a watched Task: finished (listed finished, or gone after
 * the watch saw it finish), deleted by its call's cancellation, or lost.
 */
export function taskFate(tr: TaskTrack, live: Task | undefined, cancelledCalls: Set<string>): TaskFate {
  if (live && isFinished(live)) return "finished";
  if (!live && tr.deleted && cancelledCalls.has(tr.callId)) return "cancelledAndDeleted";
  if (!live && tr.finishedAt !== undefined) return "finished";
  return "lost";
}

/**
 * Whether a Task's recorded completion came from an execution that ended
 * well: the one its result names, of this Task and of its last attempt.
 * True for a Task not Completed.
 */
export function completionMatchesExecution(
  uid: string,
  live: Task | undefined,
  ends: Map<string, ExecutionRecord>,
): boolean {
  if (live?.status?.phase !== "Completed") return true;
  const exec = (live.status.result as { exec?: string } | undefined)?.exec;
  const e = exec ? ends.get(exec) : undefined;
  return !!e && e.uid === uid && e.attempt === live.status.attempts && e.outcome === "ok";
}

export interface TaskCounts {
  finished: number;
  cancelledAndDeleted: number;
  lostDetail: { name: string; callId: string; phase: string }[];
  recordedTwiceDetail: { name: string; finals: string[] }[];
  completionsWithoutExecution: number;
}

export function taskCounts(c: Collected): TaskCounts {
  const cancelledCalls = new Set(c.records.filter((r) => r.outcome === "cancelled").map((r) => r.call.callId));
  const ends = new Map(c.executions.filter((e) => e.ev === "end").map((e) => [e.exec, e]));
  const counts: TaskCounts = {
    finished: 0,
    cancelledAndDeleted: 0,
    lostDetail: [],
    recordedTwiceDetail: [],
    completionsWithoutExecution: 0,
  };
  for (const tr of c.tracks) {
    const live = c.listed.get(tr.uid);
    const fate = taskFate(tr, live, cancelledCalls);
    if (fate === "lost")
      counts.lostDetail.push({ name: tr.name, callId: tr.callId, phase: live?.status?.phase ?? "deleted" });
    else counts[fate]++;
    if (tr.finals.size > 1) counts.recordedTwiceDetail.push({ name: tr.name, finals: [...tr.finals] });
    if (!completionMatchesExecution(tr.uid, live, ends)) counts.completionsWithoutExecution++;
  }
  // Calls whose client got an answer but whose Task nobody ever saw are lost too.
  const seen = new Set(c.tracks.map((t) => t.callId));
  for (const r of c.records)
    if (r.outcome === "completed" && !seen.has(r.call.callId))
      counts.lostDetail.push({ name: "(never seen)", callId: r.call.callId, phase: "none" });
  return counts;
}

export interface ExecutionCounts {
  total: number;
  /** Executions beyond those the call's design needs (crash or reassignment re-ran the tool). */
  repeated: number;
  tasksExecutedMoreThanDesigned: number;
  /** The same idempotency key (task UID + attempt) started twice. */
  sameKeyTwice: number;
}

export function executionCounts(c: Collected): ExecutionCounts {
  const starts = c.executions.filter((e) => e.ev === "start");
  const startsByKey = new Map<string, number>();
  const startsByUid = new Map<string, number>();
  for (const s of starts) {
    startsByKey.set(s.key, (startsByKey.get(s.key) ?? 0) + 1);
    startsByUid.set(s.uid, (startsByUid.get(s.uid) ?? 0) + 1);
  }
  let repeated = 0;
  let tasksExecutedMoreThanDesigned = 0;
  for (const tr of c.tracks) {
    const designed = c.designedExecutions.get(tr.callId) ?? 1;
    const ran = startsByUid.get(tr.uid) ?? 0;
    // A call cancelled by design counts 0: it may or may not have started before its cancellation.
    if (designed > 0 && ran > designed) {
      repeated += ran - designed;
      tasksExecutedMoreThanDesigned++;
    }
  }
  const sameKeyTwice = [...startsByKey.values()].filter((n) => n > 1).length;
  return { total: starts.length, repeated, tasksExecutedMoreThanDesigned, sameKeyTwice };
}

export type CallVerdict = "completed" | "failedByDesign" | "cancelledByDesign" | "unexpected";

/** A call ended as designed (completed, failed or cancelled), or not. */
export function callVerdict(r: CallRecord): CallVerdict {
  const got = r.outcome ?? "unexpected";
  if (got !== expected[r.call.kind]) return "unexpected";
  if (got === "completed") return "completed";
  return got === "error" ? "failedByDesign" : "cancelledByDesign";
}

export interface CallCounts {
  completed: number;
  failedByDesign: number;
  cancelledByDesign: number;
  unexpected: { callId: string; kind: string; detail: string }[];
  /** Outcomes by kind of call. */
  byKind: Record<string, Record<string, number>>;
  interruptedAndRecovered: number;
  resent: number;
}

export function callCounts(records: CallRecord[]): CallCounts {
  const counts: CallCounts = {
    completed: 0,
    failedByDesign: 0,
    cancelledByDesign: 0,
    unexpected: [],
    byKind: {},
    interruptedAndRecovered: 0,
    resent: 0,
  };
  for (const r of records) {
    const got = r.outcome ?? "unexpected";
    const k = counts.byKind[r.call.kind] ?? {};
    counts.byKind[r.call.kind] = k;
    k[got] = (k[got] ?? 0) + 1;
    const verdict = callVerdict(r);
    if (verdict !== "unexpected") counts[verdict]++;
    else {
      const detail = r.outcome === undefined ? "no answer by the end of the run" : (r.detail ?? "");
      counts.unexpected.push({ callId: r.call.callId, kind: r.call.kind, detail: `${got}: ${detail}` });
    }
    if (r.interrupted && r.outcome === expected[r.call.kind]) counts.interruptedAndRecovered++;
    counts.resent += r.resent;
  }
  return counts;
}

/** Whether the gateway a call's answer was lost on was killed while the call waited (until `loadEnd` if it never ended). */
export function gatewayKilledDuring(windows: FaultWindow[], r: CallRecord, loadEnd: number): boolean {
  return windows.some(
    (w) => w.kind === "gateway" && w.target === r.lostOn && w.from >= r.startedAt && w.from <= (r.endedAt ?? loadEnd),
  );
}

export interface AnswerCounts {
  /** Calls whose Task finished but whose answer never reached the client. */
  answersLost: number;
  /** Of those, the calls whose gateway was not killed while they waited. */
  answersLostGatewayUp: number;
  answersLostByPhase: Record<string, number>;
}

export function answerCounts(records: CallRecord[], windows: FaultWindow[], loadEnd: number): AnswerCounts {
  const lost = records.filter((r) => r.answerLost);
  const answersLostByPhase: Record<string, number> = {};
  for (const r of lost) answersLostByPhase[r.phase] = (answersLostByPhase[r.phase] ?? 0) + 1;
  return {
    answersLost: lost.length,
    answersLostGatewayUp: lost.filter((r) => !gatewayKilledDuring(windows, r, loadEnd)).length,
    answersLostByPhase,
  };
}
