/**
 * MCP tasks (the experimental `tasks` capability of 2025-11-25) as the 1.x
 * SDK's TaskStore, over the call core's task view (calls/task-view.ts): a
 * task-augmented tools/call returns at once with the Task's (unguessable)
 * name as its taskId, and tasks/get, tasks/result, tasks/list and
 * tasks/cancel read and change that object. A client sees only the tasks it
 * created; an apiserver failure reaches it as a generic internal error.
 */
import type { CreateTaskOptions, TaskStore } from "@modelcontextprotocol/sdk/experimental/tasks/interfaces.js";
import { ErrorCode, McpError, type Task as McpTask, type Result } from "@modelcontextprotocol/sdk/types.js";
import { CallError } from "./calls/errors.ts";
import { type TaskView, toMcpTask } from "./calls/task-view.ts";
import type { Caller } from "./calls/tools.ts";

export { toMcpTask };

/**
 * The same error as the 1.x SDK's handlers throw it, for the 2025 side: the
 * SDK's own class, which its task handlers (tasks/cancel) pass on as they are
 * where they wrap any other error.
 */
export function toMcpError(e: CallError): McpError {
  return new McpError(e.code, e.message, e.data);
}

/** What the view throws, as the SDK's handlers throw it. */
async function sdkErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof CallError ? toMcpError(err) : err;
  }
}

/** A TaskStore for one client: the Task objects it created. */
export class KubeTaskStore implements TaskStore {
  constructor(
    private readonly view: TaskView,
    /** Who asks, for the request being served (its groups may differ from one request to the next). */
    private readonly callerOf: () => Caller,
  ) {}

  private get caller(): Caller {
    return this.callerOf();
  }

  async createTask(_opts: CreateTaskOptions): Promise<McpTask> {
    // Tasks are created by tools/call itself (the call core), as Task objects.
    throw new McpError(ErrorCode.InvalidRequest, "this server creates tasks only through tools/call");
  }

  getTask(taskId: string): Promise<McpTask | null> {
    return sdkErrors(async () => {
      const t = await this.view.find(taskId, this.caller);
      return t ? toMcpTask(t) : null;
    });
  }

  async storeTaskResult(): Promise<void> {
    throw new McpError(ErrorCode.InvalidRequest, "task results are written by the agents that run them");
  }

  getTaskResult(taskId: string): Promise<Result> {
    return sdkErrors(async () => {
      const t = await this.view.find(taskId, this.caller);
      if (!t) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
      if (this.view.status(t) === "cancelled")
        throw new McpError(ErrorCode.InvalidRequest, `Task ${taskId} was cancelled`);
      return this.view.result(t);
    });
  }

  updateTaskStatus(taskId: string, status: McpTask["status"], statusMessage?: string): Promise<void> {
    return sdkErrors(async () => {
      if (status !== "cancelled") throw new McpError(ErrorCode.InvalidRequest, `a client cannot set a task ${status}`);
      const t = await this.view.find(taskId, this.caller);
      if (!t) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
      if (toMcpTask(t).status !== "working")
        throw new McpError(ErrorCode.InvalidParams, `Task ${taskId} has already finished`);
      await this.view.cancel(t, statusMessage ?? "cancelled by the client");
    });
  }

  listTasks(cursor?: string): Promise<{ tasks: McpTask[]; nextCursor?: string }> {
    return sdkErrors(async () => {
      const page = await this.view.list(this.caller, cursor);
      return { tasks: page.tasks.map(toMcpTask), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
    });
  }
}
