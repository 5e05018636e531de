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
