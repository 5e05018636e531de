/**
 * The status a Task gets for each lifecycle decision, as a pure function of
 * the Task, the decision and the clock. decideTask (and a placement pass)
 * decide; the reconcilers write what this returns, unchanged, with the
 * Task's resourceVersion. Kept apart from the I/O so every write of the
 * lifecycle is tested in a table without a cluster, and so the task
 * reconciler and placement cannot drift apart in what they clear or keep.
 */
import type { Task } from "../../lib/api/resources.ts";
import { taskAttempt } from "../../lib/api/task-state.ts";
import { type ConditionInput, setCondition } from "../../lib/controller/conditions.ts";
import { conditionTypes, reasons, type TaskDecision } from "./task-lifecycle.ts";

export type TaskStatus = NonNullable<Task["status"]>;

/** Writes a Task's whole status (a PUT on the status subresource, guarded by its resourceVersion). */
export type TaskStatusWriter = (task: Task, status: TaskStatus) => Promise<Task>;

/** The decisions of decideTask that write the Task's status. */
export type DecidedStatusChange = Extract<
  TaskDecision,
  { kind: "fail" | "recordFailedAttempt" | "retry" | "reassign" }
>;

/** A decision that changes a Task's status: one of decideTask's, or a placement pass's. */
export type TaskStatusChange =
  | DecidedStatusChange
  | { kind: "assign"; agent: string; score: number | undefined }
  | { kind: "unschedulable"; message: string };

/** Scheduled=False, NoAgentAvailable: placement compares it with what the Task says, to skip a write. */
export function unschedulableCondition(message: string): ConditionInput {
  return { type: conditionTypes.scheduled, status: "False", reason: reasons.noAgentAvailable, message };
}

/**
 * What an attempt leaves behind that the next one must not inherit: its
 * agent, when it was assigned and started, and the progress and messages it
 * reported. Set as undefined keys, so the PUT drops them.
 */
const attemptCleared = {
  assignedAgent: undefined,
  assignedTime: undefined,
  startTime: undefined,
  progress: undefined,
  messages: undefined,
} as const;

/** The status before the change, the time of the change, and how to set a condition at that time. */
interface Before {
  task: Task;
  status: TaskStatus;
  at: Date;
  withCondition: (c: ConditionInput, conditions?: TaskStatus["conditions"]) => NonNullable<TaskStatus["conditions"]>;
}

type Change<K extends TaskStatusChange["kind"]> = Extract<TaskStatusChange, { kind: K }>;

/** The whole status to write for `change` at `now`; `task` is not modified. */
export function taskStatusAfter(task: Task, change: TaskStatusChange, now: number): TaskStatus {
  const status = task.status ?? {};
  const at = new Date(now);
  const gen = task.metadata.generation;
  const b: Before = {
    task,
    status,
    at,
    withCondition: (c, conditions = status.conditions) => setCondition(conditions, c, at, gen),
  };
  return { ...nextStatus(change, b), observedGeneration: gen };
}

function nextStatus(change: TaskStatusChange, b: Before): TaskStatus {
  switch (change.kind) {
    case "assign":
      return assigned(change, b);
    case "unschedulable":
      return unschedulable(change, b);
    case "fail":
      return failed(change, b);
    case "recordFailedAttempt":
      return attemptRecorded(change, b);
    case "retry":
      return retried(change, b);
    case "reassign":
      return reassigned(change, b);
  }
}

function assigned(change: Change<"assign">, { status, at, withCondition }: Before): TaskStatus {
  return {
    ...status,
    phase: "Assigned",
    assignedAgent: change.agent,
    attempts: (status.attempts ?? 0) + 1,
    assignedTime: at.toISOString(),
    conditions: withCondition({
      type: conditionTypes.scheduled,
      status: "True",
      reason: reasons.agentFound,
      message: `assigned to ${change.agent} (score ${change.score})`,
    }),
  };
}

function unschedulable(change: Change<"unschedulable">, { status, withCondition }: Before): TaskStatus {
  // A new Task gets its Pending phase (and attempts 0) in this same write.
  return {
    ...status,
    phase: "Pending",
    attempts: status.attempts ?? 0,
    conditions: withCondition(unschedulableCondition(change.message)),
  };
}

function failed(change: Change<"fail">, { status, at, withCondition }: Before): TaskStatus {
  return {
    ...status,
    phase: "Failed",
    completionTime: at.toISOString(),
    // The agent's own error says more than "attempt n failed", unless the deadline ended the Task.
    error:
      change.reason === reasons.deadlineExceeded || !status.error
        ? { reason: change.reason, message: change.message, retryable: false }
        : status.error,
    conditions: withCondition({
      type: conditionTypes.failed,
      status: "True",
      reason: change.reason,
      message: change.message,
    }),
  };
}

function attemptRecorded(change: Change<"recordFailedAttempt">, { status, withCondition }: Before): TaskStatus {
  // Only the condition: its lastTransitionTime is when the backoff started.
  return {
    ...status,
    conditions: withCondition({
      type: conditionTypes.attempt(change.attempt),
      status: "False",
      reason: change.reason,
      message: change.message,
    }),
  };
}

function retried(change: Change<"retry">, { status, withCondition }: Before): TaskStatus {
  return {
    ...status,
    ...attemptCleared,
    phase: "Pending",
    error: undefined,
    result: undefined,
    conditions: withCondition({
      type: conditionTypes.scheduled,
      status: "False",
      reason: reasons.retrying,
      message: `retrying after attempt ${change.attempt}`,
    }),
  };
}

function reassigned(change: Change<"reassign">, { task, status, withCondition }: Before): TaskStatus {
  // A bound Task not yet started is in its first attempt, though no status says so yet.
  const attempts = taskAttempt(task);
  const scheduled = withCondition({
    type: conditionTypes.scheduled,
    status: "False",
    reason: change.reason,
    message: change.message,
  });
  // An attempt lost with its agent is recorded as failed, as one the agent reported would be.
  const lost = {
    type: conditionTypes.attempt(attempts),
    status: "False",
    reason: reasons.agentLost,
    message: change.message,
  } as const;
  return {
    ...status,
    ...attemptCleared,
    phase: "Pending",
    attempts,
    conditions: withCondition(lost, scheduled),
  };
}
