import { describe, expect, test } from "bun:test";
import type { Task } from "../../lib/api/resources.ts";
import type { ExecutionRecord } from "../../test/fixtures/soak-agent.ts";
import type { FaultWindow } from "./faults.ts";
import type { CallRecord } from "./load.ts";
import type { Kind, PlannedCall } from "./plan.ts";
import type { TaskTrack } from "./task-watch.ts";
import {
  type AnswerCounts,
  answerCounts,
  type CallVerdict,
  type Collected,
  callCounts,
  callVerdict,
  completionMatchesExecution,
  executionCounts,
  soakVerdict,
  type TaskFate,
  taskCounts,
  taskFate,
} from "./verdict.ts";

const clean = { tasks: { lost: 0, completionsRecordedTwice: 0 }, calls: { answersLostGatewayUp: 0 } };

test("a clean run passes", () => {
  expect(soakVerdict(clean)).toEqual({ ok: true, failures: [] });
});

test.each([
  [{ ...clean, tasks: { lost: 2, completionsRecordedTwice: 0 } }, "2 Task(s) lost"],
  [{ ...clean, tasks: { lost: 0, completionsRecordedTwice: 1 } }, "1 Task(s) with a completion recorded twice"],
  [{ ...clean, calls: { answersLostGatewayUp: 3 } }, "3 answer(s) lost while their gateway was up"],
])("each way to fail fails, saying so: %p", (figures, failure) => {
  expect(soakVerdict(figures)).toEqual({ ok: false, failures: [failure] });
});

test("every failure is listed", () => {
  const v = soakVerdict({ tasks: { lost: 1, completionsRecordedTwice: 1 }, calls: { answersLostGatewayUp: 1 } });
  expect(v.ok).toBe(false);
  expect(v.failures.length).toBe(3);
});

// ---- builders ----

const finalFailure = [{ type: "Failed", status: "True" as const }];

/** A Task of `uid` in `phase`; a Failed one failed for good unless `retrying`. */
function task(uid: string, phase: NonNullable<Task["status"]>["phase"], o: { exec?: string; attempts?: number } = {}) {
  return {
    metadata: { uid, name: `task-${uid}` },
    spec: { requiredCapabilities: ["soak"] },
    status: {
      phase,
      attempts: o.attempts ?? 1,
      ...(o.exec ? { result: { exec: o.exec } } : {}),
      ...(phase === "Failed" ? { conditions: finalFailure } : {}),
    },
  } as Task;
}

function track(uid: string, callId: string, o: Partial<TaskTrack> = {}): TaskTrack {
  return { uid, name: `task-${uid}`, callId, seenAt: {}, finals: new Set(), deleted: false, ...o };
}

function call(callId: string, kind: Kind, designedExecutions = 1): PlannedCall {
  return { i: 0, callId, kind, tool: "soak_ok", args: {}, designedExecutions };
}

function record(callId: string, kind: Kind, o: Partial<CallRecord> = {}): CallRecord {
  return { call: call(callId, kind), startedAt: 1000, endedAt: 2000, resent: 0, phase: "no fault", ...o };
}

function exec(ev: "start" | "end", uid: string, o: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    ev,
    exec: `e-${uid}`,
    key: `${uid}/1`,
    uid,
    attempt: 1,
    task: `task-${uid}`,
    tool: "soak_ok",
    callId: "",
    agent: "a",
    pid: 1,
    at: 0,
    ...(ev === "end" ? { outcome: "ok" as const } : {}),
    ...o,
  };
}

function collected(o: Partial<Collected>): Collected {
  return { records: [], tracks: [], listed: new Map(), executions: [], designedExecutions: new Map(), ...o };
}

// ---- the counts ----

describe("taskFate", () => {
  const cases: { name: string; given: { tr: TaskTrack; live?: Task; cancelled?: string[] }; want: TaskFate }[] = [
    { name: "listed Completed", given: { tr: track("u", "c"), live: task("u", "Completed") }, want: "finished" },
    { name: "listed failed for good", given: { tr: track("u", "c"), live: task("u", "Failed") }, want: "finished" },
    { name: "listed Running at the end", given: { tr: track("u", "c"), live: task("u", "Running") }, want: "lost" },
    {
      name: "deleted, its call cancelled",
      given: { tr: track("u", "c", { deleted: true }), cancelled: ["c"] },
      want: "cancelledAndDeleted",
    },
    { name: "deleted, its call not cancelled", given: { tr: track("u", "c", { deleted: true }) }, want: "lost" },
    {
      name: "gone after the watch saw it finish",
      given: { tr: track("u", "c", { finishedAt: 5, deleted: true }) },
      want: "finished",
    },
    { name: "gone, never seen finished", given: { tr: track("u", "c") }, want: "lost" },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(taskFate(given.tr, given.live, new Set(given.cancelled ?? []))).toBe(want);
  });
});

describe("completionMatchesExecution", () => {
  const ends = new Map([
    ["e-u", exec("end", "u")],
    ["e-failed", exec("end", "u", { exec: "e-failed", outcome: "error" })],
  ]);
  const cases: { name: string; given: Task | undefined; want: boolean }[] = [
    { name: "not Completed", given: task("u", "Running"), want: true },
    { name: "gone", given: undefined, want: true },
    { name: "its execution ended ok", given: task("u", "Completed", { exec: "e-u" }), want: true },
    { name: "no execution named", given: task("u", "Completed"), want: false },
    { name: "an execution never ended", given: task("u", "Completed", { exec: "e-other" }), want: false },
    { name: "an execution that failed", given: task("u", "Completed", { exec: "e-failed" }), want: false },
    { name: "another attempt's", given: task("u", "Completed", { exec: "e-u", attempts: 2 }), want: false },
    { name: "another Task's", given: task("v", "Completed", { exec: "e-u" }), want: false },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(completionMatchesExecution(given?.metadata.uid ?? "u", given, ends)).toBe(want);
  });
});

describe("taskCounts", () => {
  const cases: { name: string; given: Partial<Collected>; want: Partial<ReturnType<typeof taskCounts>> }[] = [
    {
      name: "a finished Task and a cancelled one",
      given: {
        tracks: [track("u1", "c1"), track("u2", "c2", { deleted: true })],
        listed: new Map([["u1", task("u1", "Failed")]]),
        records: [record("c2", "mcp_cancel", { outcome: "cancelled" })],
      },
      want: { finished: 1, cancelledAndDeleted: 1, lostDetail: [] },
    },
    {
      name: "a Task still running at the end is lost, with its phase",
      given: { tracks: [track("u1", "c1")], listed: new Map([["u1", task("u1", "Running")]]) },
      want: { finished: 0, lostDetail: [{ name: "task-u1", callId: "c1", phase: "Running" }] },
    },
    {
      name: "a completed call whose Task nobody saw is lost",
      given: { records: [record("c1", "mcp_ok", { outcome: "completed" })] },
      want: { lostDetail: [{ name: "(never seen)", callId: "c1", phase: "none" }] },
    },
    {
      name: "two final records are a completion recorded twice",
      given: {
        tracks: [track("u1", "c1", { finishedAt: 1, finals: new Set(["Completed:a:t1", "Completed:b:t2"]) })],
      },
      want: { finished: 1, recordedTwiceDetail: [{ name: "task-u1", finals: ["Completed:a:t1", "Completed:b:t2"] }] },
    },
    {
      name: "a completion no execution ended",
      given: { tracks: [track("u1", "c1")], listed: new Map([["u1", task("u1", "Completed", { exec: "x" })]]) },
      want: { finished: 1, completionsWithoutExecution: 1 },
    },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(taskCounts(collected(given))).toMatchObject(want);
  });
});

describe("executionCounts", () => {
  const cases: { name: string; given: Partial<Collected>; want: ReturnType<typeof executionCounts> }[] = [
    {
      name: "as designed",
      given: {
        tracks: [track("u1", "c1")],
        executions: [exec("start", "u1"), exec("end", "u1"), exec("start", "u1", { key: "u1/2" })],
        designedExecutions: new Map([["c1", 2]]),
      },
      want: { total: 2, repeated: 0, tasksExecutedMoreThanDesigned: 0, sameKeyTwice: 0 },
    },
    {
      name: "re-run beyond design, the same key twice",
      given: { tracks: [track("u1", "c1")], executions: [exec("start", "u1"), exec("start", "u1")] },
      want: { total: 2, repeated: 1, tasksExecutedMoreThanDesigned: 1, sameKeyTwice: 1 },
    },
    {
      name: "a call cancelled by design is never a repeat",
      given: {
        tracks: [track("u1", "c1")],
        executions: [exec("start", "u1"), exec("start", "u1", { key: "u1/2" })],
        designedExecutions: new Map([["c1", 0]]),
      },
      want: { total: 2, repeated: 0, tasksExecutedMoreThanDesigned: 0, sameKeyTwice: 0 },
    },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(executionCounts(collected(given))).toEqual(want);
  });
});

describe("callVerdict", () => {
  const cases: { name: string; given: CallRecord; want: CallVerdict }[] = [
    { name: "completed as designed", given: record("c", "mcp_ok", { outcome: "completed" }), want: "completed" },
    { name: "failed as designed", given: record("c", "task_fail", { outcome: "error" }), want: "failedByDesign" },
    {
      name: "cancelled as designed",
      given: record("c", "mcp_cancel", { outcome: "cancelled" }),
      want: "cancelledByDesign",
    },
    { name: "failed, designed to complete", given: record("c", "mcp_ok", { outcome: "error" }), want: "unexpected" },
    { name: "no answer", given: record("c", "mcp_ok"), want: "unexpected" },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(callVerdict(given)).toBe(want);
  });
});

test("callCounts counts by kind and says why a call was unexpected", () => {
  const counts = callCounts([
    record("c1", "mcp_ok", { outcome: "completed", interrupted: true, resent: 2 }),
    record("c2", "mcp_ok", { outcome: "error", detail: "boom" }),
    record("c3", "direct_deadline"),
  ]);
  expect(counts).toEqual({
    completed: 1,
    failedByDesign: 0,
    cancelledByDesign: 0,
    unexpected: [
      { callId: "c2", kind: "mcp_ok", detail: "error: boom" },
      { callId: "c3", kind: "direct_deadline", detail: "unexpected: no answer by the end of the run" },
    ],
    byKind: { mcp_ok: { completed: 1, error: 1 }, direct_deadline: { unexpected: 1 } },
    interruptedAndRecovered: 1,
    resent: 2,
  });
});

describe("answerCounts", () => {
  const killedGatewayA: FaultWindow = { kind: "gateway", target: "gateway-a", from: 1500, to: 1600 };
  const lostOnA = (o: Partial<CallRecord> = {}) =>
    record("c", "mcp_ok", { answerLost: true, lostOn: "gateway-a", phase: "gateway", ...o });
  const cases: { name: string; given: { records: CallRecord[]; windows: FaultWindow[] }; want: AnswerCounts }[] = [
    {
      name: "no answer lost",
      given: { records: [record("c", "mcp_ok")], windows: [killedGatewayA] },
      want: { answersLost: 0, answersLostGatewayUp: 0, answersLostByPhase: {} },
    },
    {
      name: "lost on the gateway killed while it waited",
      given: { records: [lostOnA()], windows: [killedGatewayA] },
      want: { answersLost: 1, answersLostGatewayUp: 0, answersLostByPhase: { gateway: 1 } },
    },
    {
      name: "lost on the other gateway",
      given: { records: [lostOnA({ lostOn: "gateway-b" })], windows: [killedGatewayA] },
      want: { answersLost: 1, answersLostGatewayUp: 1, answersLostByPhase: { gateway: 1 } },
    },
    {
      name: "its gateway killed before the call was made",
      given: { records: [lostOnA({ startedAt: 1700, endedAt: 1800 })], windows: [killedGatewayA] },
      want: { answersLost: 1, answersLostGatewayUp: 1, answersLostByPhase: { gateway: 1 } },
    },
    {
      name: "never ended: waited until the load's end",
      given: { records: [lostOnA({ startedAt: 1200, endedAt: undefined })], windows: [killedGatewayA] },
      want: { answersLost: 1, answersLostGatewayUp: 0, answersLostByPhase: { gateway: 1 } },
    },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(answerCounts(given.records, given.windows, 3000)).toEqual(want);
  });
});
