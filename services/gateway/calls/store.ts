/**
 * What the call core needs of the Task store (TaskCalls over the apiserver;
 * a fake in unit tests).
 */
import type { Task } from "../../../lib/api/resources.ts";
import type { GatewayTool } from "../tool-registry.ts";
import type { Caller } from "./tools.ts";

export type TaskOutcome =
  | { kind: "completed"; task: Task }
  | { kind: "failed"; task: Task }
  | { kind: "deleted" }
  /** The waiter stopped waiting (its `stop` signal). */
  | { kind: "stopped" };

/** What a call's Task is created with besides the tool and its arguments. */
export interface CallMeta {
  requestId: string;
  /** The call's W3C trace context, kept on its Task (annotation mcp.io/traceparent). */
  traceparent?: string;
  caller: Caller;
  ttlSeconds?: number;
  counted?: () => void;
  clientCapabilities?: Record<string, unknown>;
}

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
    /** The caller (and its session) is recorded on the Task: task-calls.ts callerMarks. */
    /**
     * `counted` is called the moment the new Task counts in inFlightOf (a
     * place the call reserved under the caller's cap is given back then, not
     * a moment later, when it would count twice). `clientCapabilities` (what
     * the client can answer) is recorded for the tool (ctx.client).
     */
    meta: CallMeta,
  ): Promise<Task>;
  /**
   * Resolves when the Task finishes or is deleted, or as stopped when `stop`
   * aborts; onChange sees every update meanwhile. Several calls may wait on
   * one Task.
   */
  wait(task: Task, onChange?: (t: Task) => void, stop?: AbortSignal): Promise<TaskOutcome>;
  /** The caller's Tasks not yet finished, made through any replica. */
  inFlightOf(caller: Caller): number;
  /** Deletes a call's Task: its agent stops the work. */
  cancel(task: Task): Promise<void>;
  /** Fails a Task for good with this reason (Cancelled by default). */
  cancelTask(task: Task, message: string, reason?: string): Promise<Task>;
  writeInput(task: Task, stillAsked: Record<string, unknown>, answers: Record<string, unknown>): Promise<Task>;
}
