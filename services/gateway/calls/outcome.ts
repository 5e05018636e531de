/**
 * What a finished Task means to the client, in both eras: a Completed Task is
 * its result; a Task that failed because the tool reported an error is a
 * CallToolResult with isError; a Task the conductor could not carry out
 * (deadline, lost agent, crash) is `failed` as a task, and isError in a
 * synchronous answer.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Task } from "../../../lib/api/resources.ts";
import { isFinallyFailed } from "../../../lib/api/task-state.ts";

/** Task error reasons that mean the call itself failed, as opposed to a tool reporting an error. */
export const protocolFailureReasons = new Set([
  "DeadlineExceeded",
  "AgentLost",
  "AgentShutdown",
  "ToolFailed",
  "Timeout",
  // the client did not answer the tool's question in time
  "InputTimeout",
  "ResultTooLarge",
  "UnknownTool",
  "InternalError",
]);

export type TaskStatus = "working" | "input_required" | "completed" | "failed" | "cancelled";

/** The input requests of a running task not answered yet, if any. */
export function pendingInput(t: Task): Record<string, unknown> | undefined {
  if (t.status?.phase !== "Running") return undefined;
  const requests = (t.status.inputRequests ?? {}) as Record<string, unknown>;
  return Object.keys(requests).length > 0 ? requests : undefined;
}

/** The status of an MCP task, from its Task object (SEP-2663: a tool's own error is still completed). */
export function taskStatusOf(t: Task): TaskStatus {
  if (t.status?.phase === "Completed") return "completed";
  if (!isFinallyFailed(t)) return pendingInput(t) ? "input_required" : "working";
  const reason = t.status?.error?.reason;
  if (reason === "Cancelled") return "cancelled";
  if (reason && protocolFailureReasons.has(reason)) return "failed";
  return "completed";
}

const isContentBlock = (b: unknown) =>
  !!b && typeof b === "object" && typeof (b as { type?: unknown }).type === "string";

/**
 * The MCP result for a Completed Task. A tool may return MCP content itself
 * ({ content: [...], structuredContent? }: images, audio, resources); any
 * other result becomes JSON text plus structuredContent. A bare value is
 * stored as { value } and returned as itself.
 */
export function resultContent(t: Task): CallToolResult {
  const result = t.status?.result ?? {};
  if (Array.isArray(result.content) && result.content.every(isContentBlock)) {
    return {
      content: result.content as CallToolResult["content"],
      ...(result.structuredContent && typeof result.structuredContent === "object"
        ? { structuredContent: result.structuredContent as Record<string, unknown> }
        : {}),
    };
  }
  const keys = Object.keys(result);
  const value = keys.length === 1 && keys[0] === "value" ? result.value : result;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return {
    content: [{ type: "text", text }],
    ...(value !== null && typeof value === "object" && !Array.isArray(value)
      ? { structuredContent: value as Record<string, unknown> }
      : {}),
  };
}

/** The text of a failed Task's error: "Reason: message". */
export function failureText(t: Task): string {
  const e = t.status?.error;
  return e ? `${e.reason}: ${e.message}` : "the task failed";
}

/** The result of a finished Task as tools/call answers it: its result, or isError with the reason. */
export function callResultOf(t: Task): CallToolResult {
  if (t.status?.phase === "Completed") return resultContent(t);
  return { isError: true, content: [{ type: "text", text: failureText(t) }] };
}

/** A tool's own progress, as the Task carries it (status.progress). */
export type OwnProgress = NonNullable<NonNullable<Task["status"]>["progress"]>;

/**
 * How far into its run a tool is, in [0, 1): done/total when the total is
 * known, else done/(done+1), which grows with every report yet never
 * arrives: the call is finished only when its result is in.
 */
export function runningFraction(p: OwnProgress): number {
  const f = p.total && p.total > 0 ? p.done / p.total : p.done / (p.done + 1);
  return Math.min(Math.max(f, 0), 0.999);
}

/** The tool's progress in words: its message, else done (of total). */
export function progressMessage(p: OwnProgress): string {
  return p.message ?? (p.total !== undefined ? `${p.done} of ${p.total}` : `${p.done} done`);
}
