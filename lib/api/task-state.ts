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
