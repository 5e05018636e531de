/**
 * Questions about a Task's state that several services ask, answered once.
 * The controller marks a failure final with condition Failed=True; until then
 * a Failed phase is an attempt that may be retried.
 */
import { findCondition } from "../controller/conditions.ts";
import type { Task } from "./resources.ts";

/** The condition type that marks a Task as failed for good. */
export const finalFailureCondition = "Failed";

export const isFinallyFailed = (t: Task): boolean =>
  t.status?.phase === "Failed" && findCondition(t.status.conditions, finalFailureCondition)?.status === "True";

/** Completed, or failed for good: nothing more will happen to it. */
export const isFinished = (t: Task): boolean => t.status?.phase === "Completed" || isFinallyFailed(t);

/**
 * How long a client has to answer a tool's question (ctx.requestInput) by
 * default: an elicitation may be a person filling in a form. The agent
 * writes each question's answer-by time on the Task (`answerBy` in
 * status.inputRequests) and fails the attempt with InputTimeout, not
 * retryable, when it passes unanswered; the gateway's requestState for the
 * question expires with it.
 */
export const inputAnswerTimeMs = 10 * 60_000;

/** A Task failed because its client did not answer the tool's question by its answer-by time. */
export const inputTimeoutReason = "InputTimeout";

/** The answer-by time (ms since the epoch) of a question as the Task holds it, if it has one. */
export function answerByOf(request: unknown): number | undefined {
  const raw = request && typeof request === "object" ? (request as { answerBy?: unknown }).answerBy : undefined;
  const ms = typeof raw === "string" ? Date.parse(raw) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The label that binds a Task to an agent at creation (ADR 0013), as
 * `spec.nodeName` binds a Pod: the gateway places a call itself and creates
 * its Task bound, so no placement write is needed. The Task has no status
 * until its agent writes one. The label holds only while the Task has no
 * status: once anyone writes a status, `status.assignedAgent` says where the
 * Task is (the controller moves a bound Task whose agent is lost like any
 * other, by a status write).
 */
export const boundAgentLabel = "mcp.io/bound-agent";

/** A Task created bound to an agent that nobody has written a status for yet. */
export const isBoundUnstarted = (t: Task): boolean =>
  !t.status?.phase && !t.status?.assignedAgent && !!t.metadata.labels?.[boundAgentLabel];

/**
 * The agent a Task is on: its status.assignedAgent, or for a bound Task not
 * yet started, the agent its label names. Undefined for a Task on no agent.
 */
export function taskAgent(t: Task): string | undefined {
  if (t.status?.assignedAgent) return t.status.assignedAgent;
  return isBoundUnstarted(t) ? t.metadata.labels?.[boundAgentLabel] : undefined;
}

/** The attempt a Task is in: status.attempts, or 1 for a bound Task not yet started (its first). */
export const taskAttempt = (t: Task): number => t.status?.attempts ?? (isBoundUnstarted(t) ? 1 : 0);

/**
 * How long a finished Task (or Plan) is kept: what it asks for, else the
 * default, and never less than the operator's minimum, so that a client
 * cannot shorten the trail its calls leave (a Task asking for 0 s is kept
 * the minimum all the same).
 */
export const keptSeconds = (asked: number | undefined, ttl: { defaultTtlSeconds: number; minTtlSeconds?: number }) =>
  Math.max(asked ?? ttl.defaultTtlSeconds, ttl.minTtlSeconds ?? 0);
