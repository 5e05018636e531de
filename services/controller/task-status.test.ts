import { describe, expect, test } from "bun:test";
import type { Condition, Task } from "../../lib/api/resources.ts";
import { makeTask } from "../../test/harness/builders.ts";
import { type TaskStatus, type TaskStatusChange, taskStatusAfter, unschedulableCondition } from "./task-status.ts";

const NOW = Date.parse("2026-01-01T00:10:00Z");
const nowIso = new Date(NOW).toISOString();
const earlier = "2026-01-01T00:00:00.000Z";
const GEN = 3;

/** A condition as setCondition writes it at NOW (or keeps from `since`). */
const cond = (type: string, status: Condition["status"], reason: string, message: string, since = nowIso) =>
  ({ type, status, reason, message, observedGeneration: GEN, lastTransitionTime: since }) as Condition;

const withStatus = (t: Task, status: TaskStatus): Task => ({
  ...t,
  metadata: { ...t.metadata, generation: GEN },
  status: { ...t.status, ...status },
});

/** Assigned at `earlier`, as placement left it. */
const assigned = withStatus(makeTask().obj(), {
  phase: "Assigned",
  assignedAgent: "a",
  attempts: 1,
  assignedTime: earlier,
  observedGeneration: GEN,
  conditions: [cond("Scheduled", "True", "AgentFound", "assigned to a (score 70)", earlier)],
});

/** Running attempt 2 on agent a, with what that attempt reported so far. */
const running = withStatus(assigned, {
  phase: "Running",
  attempts: 2,
  startTime: earlier,
  progress: { done: 1, total: 4 },
  messages: [{ seq: 1, level: "info", data: "half way" }],
});

/** Attempt 1 failed, retryable, as the agent wrote it. */
const failedAttempt = withStatus(running, {
  phase: "Failed",
  attempts: 1,
  completionTime: earlier,
  error: { reason: "Boom", message: "it broke", retryable: true },
  result: { partial: true },
});

const cases: { name: string; given: Task; change: TaskStatusChange; want: TaskStatus }[] = [
  {
    name: "assign: a new task gets Assigned, its agent, attempt 1 and Scheduled=True naming the score",
    given: makeTask().noStatus().obj(),
    change: { kind: "assign", agent: "a", score: 70 },
    want: {
      phase: "Assigned",
      assignedAgent: "a",
      attempts: 1,
      assignedTime: nowIso,
      observedGeneration: 1,
      conditions: [{ ...cond("Scheduled", "True", "AgentFound", "assigned to a (score 70)"), observedGeneration: 1 }],
    },
  },
  {
    name: "assign: a retried task counts the next attempt; Scheduled turns True at now",
    given: withStatus(makeTask().obj(), {
      phase: "Pending",
      attempts: 2,
      conditions: [cond("Scheduled", "False", "Retrying", "retrying after attempt 2", earlier)],
    }),
    change: { kind: "assign", agent: "b", score: 55 },
    want: {
      phase: "Assigned",
      assignedAgent: "b",
      attempts: 3,
      assignedTime: nowIso,
      observedGeneration: GEN,
      conditions: [cond("Scheduled", "True", "AgentFound", "assigned to b (score 55)")],
    },
  },
  {
    name: "unschedulable: a new task becomes Pending with no attempts and says why",
    given: makeTask().noStatus().obj(),
    change: { kind: "unschedulable", message: "0/2 agents fit: 2 missing capability gpu" },
    want: {
      phase: "Pending",
      attempts: 0,
      observedGeneration: 1,
      conditions: [
        {
          ...cond("Scheduled", "False", "NoAgentAvailable", "0/2 agents fit: 2 missing capability gpu"),
          observedGeneration: 1,
        },
      ],
    },
  },
  {
    name: "unschedulable: a new reason keeps the time Scheduled turned False",
    given: withStatus(makeTask().obj(), {
      phase: "Pending",
      attempts: 1,
      conditions: [cond("Scheduled", "False", "Retrying", "retrying after attempt 1", earlier)],
    }),
    change: { kind: "unschedulable", message: "0/1 agents fit: 1 at capacity" },
    want: {
      phase: "Pending",
      attempts: 1,
      observedGeneration: GEN,
      conditions: [cond("Scheduled", "False", "NoAgentAvailable", "0/1 agents fit: 1 at capacity", earlier)],
    },
  },
  {
    name: "fail past the deadline: DeadlineExceeded replaces the agent's error, not retryable",
    given: failedAttempt,
    change: { kind: "fail", reason: "DeadlineExceeded", message: `the deadline ${earlier} passed` },
    want: {
      ...failedAttempt.status,
      completionTime: nowIso,
      error: { reason: "DeadlineExceeded", message: `the deadline ${earlier} passed`, retryable: false },
      conditions: [
        ...(failedAttempt.status?.conditions ?? []),
        cond("Failed", "True", "DeadlineExceeded", `the deadline ${earlier} passed`),
      ],
    },
  },
  {
    name: "fail after the last attempt: the agent's own error is kept",
    given: failedAttempt,
    change: { kind: "fail", reason: "MaxRetriesExceeded", message: "attempt 1 of 1 failed: Boom: it broke" },
    want: {
      ...failedAttempt.status,
      completionTime: nowIso,
      conditions: [
        ...(failedAttempt.status?.conditions ?? []),
        cond("Failed", "True", "MaxRetriesExceeded", "attempt 1 of 1 failed: Boom: it broke"),
      ],
    },
  },
  {
    name: "fail with no error from the agent (its agent lost): the decision is the error",
    given: running,
    change: { kind: "fail", reason: "MaxRetriesExceeded", message: "agent a is gone during attempt 2 of 2" },
    want: {
      ...running.status,
      phase: "Failed",
      completionTime: nowIso,
      error: { reason: "MaxRetriesExceeded", message: "agent a is gone during attempt 2 of 2", retryable: false },
      conditions: [
        ...(running.status?.conditions ?? []),
        cond("Failed", "True", "MaxRetriesExceeded", "agent a is gone during attempt 2 of 2"),
      ],
    },
  },
  {
    name: "recordFailedAttempt: only the attempt's condition, which starts the backoff",
    given: failedAttempt,
    change: { kind: "recordFailedAttempt", attempt: 1, reason: "Boom", message: "Boom: it broke", retryInMs: 5000 },
    want: {
      ...failedAttempt.status,
      conditions: [...(failedAttempt.status?.conditions ?? []), cond("Attempt1", "False", "Boom", "Boom: it broke")],
    },
  },
  {
    name: "retry: back to Pending without the failed attempt's agent, error, result, progress or messages",
    given: withStatus(failedAttempt, {
      conditions: [
        ...(failedAttempt.status?.conditions ?? []),
        cond("Attempt1", "False", "Boom", "Boom: it broke", earlier),
      ],
    }),
    change: { kind: "retry", attempt: 1 },
    want: {
      phase: "Pending",
      attempts: 1,
      completionTime: earlier,
      observedGeneration: GEN,
      conditions: [
        cond("Scheduled", "False", "Retrying", "retrying after attempt 1"),
        cond("Attempt1", "False", "Boom", "Boom: it broke", earlier),
      ],
    },
  },
  {
    name: "reassign from Assigned: the attempt counts (the agent may have started it), the agent forgotten",
    given: assigned,
    change: { kind: "reassign", reason: "AgentLost", message: "agent a is gone during attempt 1" },
    want: {
      phase: "Pending",
      attempts: 1,
      observedGeneration: GEN,
      conditions: [
        cond("Scheduled", "False", "AgentLost", "agent a is gone during attempt 1"),
        cond("Attempt1", "False", "AgentLost", "agent a is gone during attempt 1"),
      ],
    },
  },
  {
    name: "reassign of a bound Task never started: its first attempt is written down as lost",
    given: withStatus(makeTask().noStatus().boundTo("a").obj(), {}),
    change: { kind: "reassign", reason: "AgentLost", message: "agent a is gone during attempt 1" },
    want: {
      phase: "Pending",
      attempts: 1,
      observedGeneration: GEN,
      conditions: [
        cond("Scheduled", "False", "AgentLost", "agent a is gone during attempt 1"),
        cond("Attempt1", "False", "AgentLost", "agent a is gone during attempt 1"),
      ],
    },
  },
  {
    name: "reassign, agent lost mid-run: the attempt counts and is recorded as failed; progress and messages go",
    given: running,
    change: { kind: "reassign", reason: "AgentLost", message: "agent a is gone during attempt 2" },
    want: {
      phase: "Pending",
      attempts: 2,
      observedGeneration: GEN,
      conditions: [
        cond("Scheduled", "False", "AgentLost", "agent a is gone during attempt 2"),
        cond("Attempt2", "False", "AgentLost", "agent a is gone during attempt 2"),
      ],
    },
  },
];

describe("taskStatusAfter", () => {
  test.each(cases)("$name", ({ given, change, want }) => {
    expect(taskStatusAfter(given, change, NOW)).toEqual(want);
  });

  test("the task it is given is not modified", () => {
    const given = structuredClone(running);
    for (const { change } of cases) taskStatusAfter(given, change, NOW);
    expect(given).toEqual(running);
  });

  test("the fields an attempt leaves are cleared as keys, so a PUT drops them", () => {
    const got = taskStatusAfter(running, { kind: "reassign", reason: "AgentLost", message: "m" }, NOW);
    for (const k of ["assignedAgent", "assignedTime", "startTime", "progress", "messages"] as const) {
      expect(k in got).toBe(true);
      expect(got[k]).toBeUndefined();
    }
    expect(JSON.parse(JSON.stringify(got))).not.toHaveProperty("assignedAgent");
  });
});

describe("unschedulableCondition", () => {
  test("is the Scheduled=False condition an unschedulable write sets", () => {
    const message = "0/1 agents fit: 1 not Ready";
    const written = taskStatusAfter(makeTask().obj(), { kind: "unschedulable", message }, NOW);
    expect(written.conditions?.[0]).toMatchObject(unschedulableCondition(message));
  });
});
