/**
 * What should happen to a Task next, decided from the Task alone (plus the
 * phase of its agent and the clock). Pure, so every rule of the lifecycle is
 * tested without a cluster; the reconciler carries the decision out.
 *
 *   "" | Pending → Assigned | Pending        (placement pass, not here: a new
 *                                            task is placed in one write)
 *   "" bound to an agent (ADR 0013)          (as Assigned: the agent writes its status)
 *   Assigned | Running → Pending | Failed    (agent gone: counts as an attempt, as
 *                                            an agent reports Running only once a
 *                                            call outlives a threshold, it may have
 *                                            started it)
 *   Failed    → Pending after backoff        (retryable, attempts left)
 *   Failed    → Failed for good              (not retryable, or no attempts left)
 *   any unfinished, past its deadline → Failed (DeadlineExceeded)
 *   finished, past its TTL → deleted
 *
 * A failure is final when condition Failed is True; until then a Failed
 * phase is an attempt that failed and may be retried.
 */
import type { Agent, Task, TaskSpecRetryPolicy } from "../../lib/api/resources.ts";
import {
  finalFailureCondition,
  isBoundUnstarted,
  isFinished,
  keptSeconds,
  taskAgent,
  taskAttempt,
} from "../../lib/api/task-state.ts";
import { findCondition } from "../../lib/controller/conditions.ts";

export const conditionTypes = {
  /** True once placed on an agent; False with the reason while no agent fits. */
  scheduled: "Scheduled",
  /** True when the Task failed for good. */
  failed: finalFailureCondition,
  /** One per attempt that failed: Attempt1, Attempt2, … */
  attempt: (n: number) => `Attempt${n}`,
} as const;

export const reasons = {
  agentFound: "AgentFound",
  noAgentAvailable: "NoAgentAvailable",
  deadlineExceeded: "DeadlineExceeded",
  maxRetriesExceeded: "MaxRetriesExceeded",
  notRetryable: "NotRetryable",
  agentLost: "AgentLost",
  retrying: "Retrying",
} as const;

/** Reasons of the Events the controller records on a Task, beside those of its conditions. */
export const eventReasons = {
  assigned: "Assigned",
  attemptFailed: "AttemptFailed",
  /** For both reassign decisions (Reassigned and AgentLost); the condition says which. */
  reassigned: "Reassigned",
} as const;

/** An agent's phase as task decisions see it; Draining: NotReady for new work, still running its own. */
export type AgentPhaseView = NonNullable<Agent["status"]>["phase"] | "Missing" | "Draining";

export type TaskDecision =
  | { kind: "wait"; requeueAfterMs?: number }
  | { kind: "awaitPlacement"; requeueAfterMs?: number }
  | { kind: "fail"; reason: string; message: string }
  | { kind: "recordFailedAttempt"; attempt: number; reason: string; message: string; retryInMs: number }
  | { kind: "retry"; attempt: number }
  | { kind: "reassign"; reason: string; message: string }
  | { kind: "delete" };

const defaults = { maxRetries: 3, backoffStrategy: "exponential", backoffSeconds: 5, maxBackoffSeconds: 300 } as const;

/** The wait before attempt `failedAttempt + 1`: linear adds the base per attempt, exponential doubles it. */
export function backoffMs(policy: TaskSpecRetryPolicy | undefined, failedAttempt: number): number {
  const base = (policy?.backoffSeconds ?? defaults.backoffSeconds) * 1000;
  const max = (policy?.maxBackoffSeconds ?? defaults.maxBackoffSeconds) * 1000;
  const n = Math.max(1, failedAttempt);
  const raw = (policy?.backoffStrategy ?? defaults.backoffStrategy) === "linear" ? base * n : base * 2 ** (n - 1);
  return Math.min(raw, max);
}

export { isFinished };

export const maxAttempts = (t: Task): number => (t.spec.retryPolicy?.maxRetries ?? defaults.maxRetries) + 1;

const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

export function decideTask(
  task: Task,
  now: number,
  ctx: { agentPhase: (name: string) => AgentPhaseView; defaultTtlSeconds: number; minTtlSeconds?: number },
): TaskDecision {
  const status = task.status ?? {};
  // A Task created bound to an agent is on it, as an Assigned one is.
  const phase = isBoundUnstarted(task) ? "Assigned" : status.phase;

  if (isFinished(task)) {
    const ttl = keptSeconds(task.spec.ttlSecondsAfterFinished, ctx);
    const finishedAt = ms(status.completionTime);
    if (Number.isNaN(finishedAt)) return { kind: "wait" };
    const left = finishedAt + ttl * 1000 - now;
    return left <= 0 ? { kind: "delete" } : { kind: "wait", requeueAfterMs: left };
  }

  const deadline = ms(task.spec.deadline);
  if (!Number.isNaN(deadline) && now >= deadline) {
    return { kind: "fail", reason: reasons.deadlineExceeded, message: `the deadline ${task.spec.deadline} passed` };
  }
  const untilDeadline = Number.isNaN(deadline) ? undefined : deadline - now;
  const attempts = taskAttempt(task);

  switch (phase) {
    case undefined:
    case "Pending":
      return { kind: "awaitPlacement", requeueAfterMs: untilDeadline };
    case "Assigned":
    case "Running": {
      const agent = taskAgent(task) ?? "";
      const agentPhase = agent ? ctx.agentPhase(agent) : "Missing";
      if (agentPhase === "Ready" || agentPhase === "Draining") return { kind: "wait", requeueAfterMs: untilDeadline };
      const why = agentPhase === "Missing" ? `agent ${agent} is gone` : `agent ${agent} is ${agentPhase}`;
      // This attempt failed with its agent. Assigned counts too: an agent
      // reports Running only once a call outlives a threshold (ADR 0013), so
      // it may have been running the task; not counting it would let a task
      // that kills its agents be placed again forever.
      if (attempts >= maxAttempts(task)) {
        return {
          kind: "fail",
          reason: reasons.maxRetriesExceeded,
          message: `${why} during attempt ${attempts} of ${maxAttempts(task)}`,
        };
      }
      return { kind: "reassign", reason: reasons.agentLost, message: `${why} during attempt ${attempts}` };
    }
    case "Failed": {
      const err = status.error;
      const message = err ? `${err.reason}: ${err.message}` : "the agent reported a failure";
      if (err?.retryable === false) return { kind: "fail", reason: reasons.notRetryable, message };
      if (attempts >= maxAttempts(task)) {
        return {
          kind: "fail",
          reason: reasons.maxRetriesExceeded,
          message: `attempt ${attempts} of ${maxAttempts(task)} failed: ${message}`,
        };
      }
      const wait = backoffMs(task.spec.retryPolicy, attempts);
      const recorded = findCondition(status.conditions, conditionTypes.attempt(attempts));
      if (!recorded) {
        return {
          kind: "recordFailedAttempt",
          attempt: attempts,
          reason: err?.reason ?? "Failed",
          message,
          retryInMs: wait,
        };
      }
      const left = ms(recorded.lastTransitionTime) + wait - now;
      if (left > 0)
        return { kind: "wait", requeueAfterMs: untilDeadline === undefined ? left : Math.min(left, untilDeadline) };
      return { kind: "retry", attempt: attempts };
    }
    default:
      return { kind: "wait", requeueAfterMs: untilDeadline };
  }
}
