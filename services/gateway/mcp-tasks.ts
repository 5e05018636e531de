/**
 * MCP tasks (the experimental `tasks` capability of 2025-11-25) backed by
 * our Task objects: a task-augmented tools/call returns at once with the
 * Task's (unguessable) name as its taskId, and tasks/get, tasks/result,
 * tasks/list and tasks/cancel read and change that object. Nothing lives in
 * the gateway's memory, so a restarted gateway, or another replica, answers
 * for tasks it did not start. A client sees only the tasks it created (the
 * mcp.io/mcp-client label).
 */
import type { CreateTaskOptions, TaskStore } from "@modelcontextprotocol/sdk/experimental/tasks/interfaces.js";
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type Task as McpTask,
  type Result,
} from "@modelcontextprotocol/sdk/types.js";
import type { Task } from "../../lib/api/resources.ts";
import { isFinallyFailed } from "../../lib/api/task-state.ts";
import { isNotFound } from "../../lib/kube/errors.ts";
import { clientLabelValue, labels, type TaskCalls } from "./task-calls.ts";

const pollIntervalMs = 500;

type Outcome = "working" | "completed" | "cancelled";

function outcomeOf(t: Task): Outcome {
  if (t.status?.phase === "Completed") return "completed";
  if (!isFinallyFailed(t)) return "working";
  // A tool that failed still answered: its task completed, with an isError result.
  return t.status?.error?.reason === "Cancelled" ? "cancelled" : "completed";
}

export function toMcpTask(t: Task): McpTask {
  const status = outcomeOf(t);
  const s = t.status ?? {};
  const created = t.metadata.creationTimestamp ?? new Date().toISOString();
  const message =
    status === "working"
      ? `${s.phase ?? "Pending"}${s.assignedAgent ? ` on ${s.assignedAgent}` : ""}`
      : s.error
        ? `${s.error.reason}: ${s.error.message}`
        : undefined;
  return {
    taskId: t.metadata.name ?? "",
    status,
    ttl: t.spec.ttlSecondsAfterFinished !== undefined ? t.spec.ttlSecondsAfterFinished * 1000 : null,
    createdAt: created,
    lastUpdatedAt: s.completionTime ?? s.startTime ?? s.assignedTime ?? created,
    pollInterval: pollIntervalMs,
    ...(message ? { statusMessage: message } : {}),
  };
}

/** The result of a finished Task as tools/call would have returned it. */
export function callResultOf(t: Task, resultContent: (t: Task) => CallToolResult): CallToolResult {
  if (t.status?.phase === "Completed") return resultContent(t);
  const e = t.status?.error;
  return { isError: true, content: [{ type: "text", text: e ? `${e.reason}: ${e.message}` : "the task failed" }] };
}

/** A TaskStore for one client: the Task objects it created. */
export class KubeTaskStore implements TaskStore {
  /** Tasks this store just wrote, read back before the watch delivers them. */
  private readonly written = new Map<string, { task: Task; at: number }>();

  constructor(
    private readonly calls: TaskCalls,
    private readonly client: string,
    private readonly resultContent: (t: Task) => CallToolResult,
  ) {}

  /** Reads the Task if it exists and belongs to this client. */
  private async owned(taskId: string): Promise<Task | null> {
    if (!/^call-[0-9a-f]{24}$/.test(taskId)) return null;
    const recent = this.written.get(taskId);
    if (recent && Date.now() - recent.at < 5_000) return recent.task;
    let t: Task | undefined = this.calls.informer.get(this.calls.namespace, taskId);
    if (t === undefined) {
      try {
        t = await this.calls.get(taskId);
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    }
    return t.metadata.labels?.[labels.client] === clientLabelValue(this.client) ? t : null;
  }

  async createTask(_opts: CreateTaskOptions): Promise<McpTask> {
    // Tasks are created by tools/call itself (mcp-server.ts), as Task objects.
    throw new McpError(ErrorCode.InvalidRequest, "this server creates tasks only through tools/call");
  }

  async getTask(taskId: string): Promise<McpTask | null> {
    const t = await this.owned(taskId);
    return t ? toMcpTask(t) : null;
  }

  async storeTaskResult(): Promise<void> {
    throw new McpError(ErrorCode.InvalidRequest, "task results are written by the agents that run them");
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const t = await this.owned(taskId);
    if (!t) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
    if (outcomeOf(t) === "cancelled") throw new McpError(ErrorCode.InvalidRequest, `Task ${taskId} was cancelled`);
    return callResultOf(t, this.resultContent);
  }

  async updateTaskStatus(taskId: string, status: McpTask["status"], statusMessage?: string): Promise<void> {
    if (status !== "cancelled") throw new McpError(ErrorCode.InvalidRequest, `a client cannot set a task ${status}`);
    const t = await this.owned(taskId);
    if (!t) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
    if (outcomeOf(t) !== "working") throw new McpError(ErrorCode.InvalidParams, `Task ${taskId} has already finished`);
    this.written.set(taskId, {
      task: await this.calls.cancelTask(t, statusMessage ?? "cancelled by the client"),
      at: Date.now(),
    });
  }

  async listTasks(cursor?: string): Promise<{ tasks: McpTask[]; nextCursor?: string }> {
    const mine = this.calls.informer
      .list()
      .filter((t) => t.metadata.labels?.[labels.client] === clientLabelValue(this.client))
      .sort(
        (a, b) =>
          (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
          (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
      );
    const start = cursor ? Number.parseInt(cursor, 10) : 0;
    if (!Number.isInteger(start) || start < 0) throw new McpError(ErrorCode.InvalidParams, "Invalid cursor");
    const page = mine.slice(start, start + 100).map(toMcpTask);
    return { tasks: page, ...(start + 100 < mine.length ? { nextCursor: String(start + 100) } : {}) };
  }
}
