import { describe, expect, test } from "bun:test";
import type { Task } from "../../lib/api/resources.ts";
import { makeTask } from "../../test/harness/builders.ts";
import { type AgentPhaseView, backoffMs, decideTask, type TaskDecision } from "./task-lifecycle.ts";

const NOW = Date.parse("2026-01-01T00:10:00Z");
const at = (offsetMs: number) => new Date(NOW + offsetMs);

const decide = (t: Task, agentPhase: AgentPhaseView = "Ready") =>
  decideTask(t, NOW, { agentPhase: () => agentPhase, defaultTtlSeconds: 3600 });

describe("backoffMs", () => {
  test.each([
    { strategy: "linear", base: 2, attempt: 1, want: 2000 },
    { strategy: "linear", base: 2, attempt: 3, want: 6000 },
    { strategy: "exponential", base: 2, attempt: 1, want: 2000 },
    { strategy: "exponential", base: 2, attempt: 3, want: 8000 },
    { strategy: "exponential", base: 2, attempt: 20, want: 60000 },
  ] as const)("$strategy base $base attempt $attempt → $want ms", ({ strategy, base, attempt, want }) => {
    expect(backoffMs({ backoffStrategy: strategy, backoffSeconds: base, maxBackoffSeconds: 60 }, attempt)).toBe(want);
  });
});

describe("decideTask", () => {
  const cases: { name: string; given: Task; agent?: AgentPhaseView; want: Record<string, unknown> }[] = [
    { name: "a new task goes to placement", given: makeTask().noStatus().obj(), want: { kind: "awaitPlacement" } },
    {
      name: "a pending task waits for placement",
      given: makeTask().phase("Pending").obj(),
      want: { kind: "awaitPlacement" },
    },
    {
      name: "an assigned task on a Ready agent waits",
      given: makeTask().phase("Assigned").assignedTo("a").attempts(1).obj(),
      want: { kind: "wait" },
    },
    {
      name: "an assigned task on a NotReady agent is reassigned, its attempt counted (the agent may have started it)",
      given: makeTask().phase("Assigned").assignedTo("a").attempts(1).obj(),
      agent: "NotReady",
      want: { kind: "reassign", reason: "AgentLost" },
    },
    {
      name: "a task created bound to a Ready agent waits for it, not for placement",
      given: makeTask().noStatus().boundTo("a").obj(),
      want: { kind: "wait" },
    },
    {
      name: "a bound task on a vanished agent is reassigned in its first attempt",
      given: makeTask().noStatus().boundTo("a").obj(),
      agent: "Missing",
      want: { kind: "reassign", reason: "AgentLost", message: "agent a is gone during attempt 1" },
    },
    {
      name: "a bound task whose one attempt is lost fails for good",
      given: (() => {
        const t = makeTask().noStatus().boundTo("a").obj();
        t.spec.retryPolicy = { maxRetries: 0 };
        return t;
      })(),
      agent: "Unknown",
      want: { kind: "fail", reason: "MaxRetriesExceeded", message: "agent a is Unknown during attempt 1 of 1" },
    },
    {
      name: "a bound task sent back to Pending is placed like any other, whatever its label says",
      given: makeTask().phase("Pending").boundTo("a").attempts(1).obj(),
      want: { kind: "awaitPlacement" },
    },
    {
      name: "a running task on a draining agent stays with it",
      given: makeTask().phase("Running").assignedTo("a").attempts(1).obj(),
      agent: "Draining",
      want: { kind: "wait" },
    },
    {
      name: "a running task on a vanished agent loses that attempt",
      given: makeTask().phase("Running").assignedTo("a").attempts(1).obj(),
      agent: "Missing",
      want: { kind: "reassign", reason: "AgentLost" },
    },
    {
      name: "a running task on a lost agent with no attempts left fails",
      given: makeTask().phase("Running").assignedTo("a").attempts(4).obj(),
      agent: "Unknown",
      want: { kind: "fail", reason: "MaxRetriesExceeded" },
    },
    {
      name: "a first failure is recorded with its backoff",
      given: makeTask()
        .phase("Failed")
        .attempts(1)
        .error(true)
        .retryPolicy({ backoffSeconds: 3, backoffStrategy: "linear" })
        .obj(),
      want: { kind: "recordFailedAttempt", attempt: 1, reason: "Boom", retryInMs: 3000 },
    },
    {
      name: "a recorded failure waits out its backoff",
      given: makeTask()
        .phase("Failed")
        .attempts(2)
        .error(true)
        .retryPolicy({ backoffSeconds: 3, backoffStrategy: "exponential" })
        .condition("Attempt2", "False", at(-1000))
        .obj(),
      want: { kind: "wait", requeueAfterMs: 5000 },
    },
    {
      name: "after the backoff the task is retried",
      given: makeTask()
        .phase("Failed")
        .attempts(2)
        .error(true)
        .retryPolicy({ backoffSeconds: 3, backoffStrategy: "linear" })
        .condition("Attempt2", "False", at(-6000))
        .obj(),
      want: { kind: "retry", attempt: 2 },
    },
    {
      name: "a non-retryable failure is final",
      given: makeTask().phase("Failed").attempts(1).error(false).obj(),
      want: { kind: "fail", reason: "NotRetryable" },
    },
    {
      name: "the last attempt's failure is final",
      given: makeTask().phase("Failed").attempts(2).error(true).retryPolicy({ maxRetries: 1 }).obj(),
      want: { kind: "fail", reason: "MaxRetriesExceeded" },
    },
    {
      name: "past the deadline an unfinished task fails",
      given: makeTask().phase("Running").assignedTo("a").attempts(1).deadline(at(-1)).obj(),
      want: { kind: "fail", reason: "DeadlineExceeded" },
    },
    {
      name: "before the deadline, it looks again at the deadline",
      given: makeTask().phase("Pending").deadline(at(4000)).obj(),
      want: { kind: "awaitPlacement", requeueAfterMs: 4000 },
    },
    {
      name: "a completed task past its TTL is deleted",
      given: makeTask().phase("Completed").completedAt(at(-61_000)).ttl(60).obj(),
      want: { kind: "delete" },
    },
    {
      name: "a completed task within its TTL waits for it",
      given: makeTask().phase("Completed").completedAt(at(-1000)).ttl(60).obj(),
      want: { kind: "wait", requeueAfterMs: 59_000 },
    },
    {
      name: "a finally failed task ignores its deadline and counts toward TTL",
      given: makeTask()
        .phase("Failed")
        .completedAt(at(-10))
        .condition("Failed", "True", at(-10))
        .deadline(at(-5000))
        .obj(),
      want: { kind: "wait", requeueAfterMs: 3_600_000 - 10 },
    },
  ];
  test.each(cases)("$name", ({ given, agent, want }) => {
    expect(decide(given, agent)).toMatchObject(want);
  });
});

describe("backoffMs: defaults", () => {
  test("without a policy: exponential from 5 s, at most 300 s; attempt 0 waits as attempt 1", () => {
    expect([0, 1, 2, 3, 7, 8].map((n) => backoffMs(undefined, n))).toEqual([
      5000, 5000, 10_000, 20_000, 300_000, 300_000,
    ]);
    expect(backoffMs({}, 2)).toBe(10_000);
  });
});

describe("decideTask: the edges and what it says", () => {
  test("a finished task without a completion time waits for one", () => {
    expect(decide(makeTask().phase("Completed").obj())).toEqual({ kind: "wait" });
  });

  test("a finished task is deleted the moment its TTL is up", () => {
    expect(decide(makeTask().phase("Completed").completedAt(at(-60_000)).ttl(60).obj())).toEqual({ kind: "delete" });
  });

  test("the operator's minimum TTL keeps a task that asks for less (or for 0) that long", () => {
    const floor = (t: Task) =>
      decideTask(t, NOW, { agentPhase: () => "Ready", defaultTtlSeconds: 3600, minTtlSeconds: 300 });
    // asks for 60 s, finished 61 s ago: kept until 300 s
    expect(floor(makeTask().phase("Completed").completedAt(at(-61_000)).ttl(60).obj())).toEqual({
      kind: "wait",
      requeueAfterMs: 239_000,
    });
    expect(floor(makeTask().phase("Completed").completedAt(at(-1000)).ttl(0).obj())).toEqual({
      kind: "wait",
      requeueAfterMs: 299_000,
    });
    expect(floor(makeTask().phase("Completed").completedAt(at(-300_000)).ttl(0).obj())).toEqual({ kind: "delete" });
    // one that asks for more than the floor keeps what it asked for
    expect(floor(makeTask().phase("Completed").completedAt(at(-400_000)).ttl(600).obj())).toEqual({
      kind: "wait",
      requeueAfterMs: 200_000,
    });
  });

  test("the moment the deadline comes, the task fails, naming it", () => {
    const deadline = at(0);
    expect(decide(makeTask().phase("Pending").deadline(deadline).obj())).toEqual({
      kind: "fail",
      reason: "DeadlineExceeded",
      message: `the deadline ${deadline.toISOString()} passed`,
    });
  });

  test("an assigned task with no agent named is reassigned without asking about an agent", () => {
    let asked = false;
    const got = decideTask(makeTask().phase("Assigned").obj(), NOW, {
      agentPhase: () => {
        asked = true;
        return "Ready";
      },
      defaultTtlSeconds: 3600,
    });
    expect(got).toEqual({ kind: "reassign", reason: "AgentLost", message: "agent  is gone during attempt 0" });
    expect(asked).toBe(false);
  });

  test.each([
    {
      name: "assigned, agent NotReady",
      given: makeTask().phase("Assigned").assignedTo("a").attempts(1).obj(),
      agent: "NotReady",
      want: { kind: "reassign", reason: "AgentLost", message: "agent a is NotReady during attempt 1" },
    },
    {
      name: "assigned, agent gone",
      given: makeTask().phase("Assigned").assignedTo("a").attempts(1).obj(),
      agent: "Missing",
      want: { kind: "reassign", reason: "AgentLost", message: "agent a is gone during attempt 1" },
    },
    {
      name: "running, agent gone",
      given: makeTask().phase("Running").assignedTo("a").attempts(1).obj(),
      agent: "Missing",
      want: { kind: "reassign", reason: "AgentLost", message: "agent a is gone during attempt 1" },
    },
    {
      name: "running, agent Unknown, last attempt",
      given: makeTask().phase("Running").assignedTo("a").attempts(4).obj(),
      agent: "Unknown",
      want: { kind: "fail", reason: "MaxRetriesExceeded", message: "agent a is Unknown during attempt 4 of 4" },
    },
    {
      name: "failed without an error, first attempt",
      given: makeTask().phase("Failed").attempts(1).obj(),
      want: {
        kind: "recordFailedAttempt",
        attempt: 1,
        reason: "Failed",
        message: "the agent reported a failure",
        retryInMs: 5000,
      },
    },
    {
      name: "failed, not retryable",
      given: makeTask().phase("Failed").attempts(1).error(false).obj(),
      want: { kind: "fail", reason: "NotRetryable", message: "Boom: it broke" },
    },
    {
      name: "failed, last attempt",
      given: makeTask().phase("Failed").attempts(2).error(true).retryPolicy({ maxRetries: 1 }).obj(),
      want: { kind: "fail", reason: "MaxRetriesExceeded", message: "attempt 2 of 2 failed: Boom: it broke" },
    },
    {
      name: "failed, backoff longer than the time to the deadline",
      given: makeTask()
        .phase("Failed")
        .attempts(2)
        .error(true)
        .retryPolicy({ backoffSeconds: 3, backoffStrategy: "exponential" })
        .condition("Attempt2", "False", at(-1000))
        .deadline(at(2000))
        .obj(),
      want: { kind: "wait", requeueAfterMs: 2000 },
    },
    {
      name: "failed, backoff shorter than the time to the deadline",
      given: makeTask()
        .phase("Failed")
        .attempts(2)
        .error(true)
        .retryPolicy({ backoffSeconds: 3, backoffStrategy: "exponential" })
        .condition("Attempt2", "False", at(-1000))
        .deadline(at(60_000))
        .obj(),
      want: { kind: "wait", requeueAfterMs: 5000 },
    },
    {
      name: "a phase it does not know waits, looking again at the deadline",
      given: makeTask()
        .phase("Unheard-of" as "Pending")
        .deadline(at(7000))
        .obj(),
      want: { kind: "wait", requeueAfterMs: 7000 },
    },
  ] as { name: string; given: Task; agent?: AgentPhaseView; want: TaskDecision }[])(
    "$name",
    ({ given, agent, want }) => {
      expect(decide(given, agent)).toEqual(want);
    },
  );
});
