/**
 * What the call core needs of the Task store (TaskCalls over the apiserver;
 * a fake in unit tests).
 */
import type { Task } from "../../../lib/api/resources.ts";
import type { GatewayTool } from "../tool-registry.ts";

export type TaskOutcome = { kind: "completed"; task: Task } | { kind: "failed"; task: Task } | { kind: "deleted" };

export interface CallStore {
  readonly namespace: string;
  /** The gateway's Tasks as the watch last saw them. */
  cached(name: string): Task | undefined;
  /** Every Task the gateway made, as the watch last saw them. */
  list(): Task[];
  /** Reads a Task from the apiserver. */
  get(name: string): Promise<Task>;
  create(
    tool: GatewayTool,
    args: Record<string, unknown>,
    meta: { session?: string; requestId: string; client?: string; ttlSeconds?: number },
  ): Promise<Task>;
  /** Resolves when the Task finishes or is deleted; onChange sees every update meanwhile. */
  wait(task: Task, onChange?: (t: Task) => void): Promise<TaskOutcome>;
  /** Deletes a call's Task: its agent stops the work. */
  cancel(task: Task): Promise<void>;
  /** Fails a Task for good with this reason (Cancelled by default). */
  cancelTask(task: Task, message: string, reason?: string): Promise<Task>;
  writeInput(task: Task, stillAsked: Record<string, unknown>, answers: Record<string, unknown>): Promise<Task>;
}
