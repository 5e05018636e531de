/**
 * MCP tasks as both eras see them, read from and written to Task objects: a
 * task's id is its Task's unguessable name, a client sees only the Tasks
 * labelled with it (another's is as unknown as a made-up id), and what
 * tasks/get, tasks/result, tasks/list, tasks/cancel and tasks/update answer
 * comes from the Task's status. Nothing lives in the gateway's memory but a
 * few seconds of its own writes, so any replica answers for any task. A task
 * is its caller's only while the caller may still call its tool: the
 * authorize hook is asked again on every task method (a revoked binding
 * stops tasks/result as it stops tools/call). A plan's step's Task is its
 * caller's too when the controller recorded the plan's caller on it: a 2026
 * conductor__run_plan call continues with the answers to a step's questions
 * through it (plans.ts).
 */
import type { CallToolResult, Task as McpTask } from "@modelcontextprotocol/sdk/types.js";
import { createdByPlan, planLabels } from "../../../lib/api/plan-state.ts";
import type { Task } from "../../../lib/api/resources.ts";
import { isNotFound } from "../../../lib/kube/errors.ts";
import type { Logger } from "../../../lib/log.ts";
import { madeBy } from "../task-calls.ts";
import { genericToolName } from "../tool-registry.ts";
import { CallError, errorCodes, toCallError } from "./errors.ts";
import { answersOf, clientRequests, writeAnswers } from "./input.ts";
import { callerKey, callerKeyOfTask } from "./marks.ts";
import {
  callResultOf,
  failureText,
  pendingInput,
  progressMessage,
  resultContent,
  type TaskStatus,
  taskStatusOf,
} from "./outcome.ts";
import type { CallStore } from "./store.ts";
import { type Authorize, allowAll, type Caller, forbiddenTool } from "./tools.ts";

const pollIntervalMs = 500;
const defaultTaskTtlMs = 3_600_000;
const taskIdPattern = /^call-[0-9a-f]{24}$/;
/** A plan's step's Task: named `<plan>-<step>`, a DNS subdomain. */
const stepTaskPattern = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** How long a Task this replica just wrote is read from memory rather than from a watch that may lag. */
const writtenForMs = 5_000;

type Json = Record<string, unknown>;

export class TaskView {
  private readonly written = new Map<string, { task: Task; at: number }>();

  constructor(
    private readonly store: CallStore,
    private readonly log: Logger,
    private readonly authorize: Authorize = allowAll,
  ) {}

  /**
   * The caller's Task by id, or undefined when it is not theirs or not there.
   * `fresh` reads the apiserver (the 2026 side, where the next request may
   * come to any replica); otherwise the watch's copy serves when it has one.
   */
  async find(taskId: unknown, caller: Caller, opts: { fresh?: boolean } = {}): Promise<Task | undefined> {
    if (typeof taskId !== "string") return undefined;
    const call = taskIdPattern.test(taskId);
    if (!call && !stepTaskPattern.test(taskId)) return undefined;
    const recent = this.written.get(taskId);
    let t: Task | undefined =
      recent && Date.now() - recent.at < writtenForMs
        ? recent.task
        : opts.fresh
          ? undefined
          : this.store.cached(taskId);
    if (t === undefined) {
      try {
        t = await this.store.get(taskId);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw toCallError(err, this.log.child({ task: taskId }), "Could not read a task");
      }
    }
    if (!madeBy(t, caller)) return undefined;
    if (!call && t.metadata.labels?.[planLabels.createdBy] !== createdByPlan) return undefined;
    await this.mayCall(caller, t);
    return t;
  }

  /** Throws a forbidden CallError unless the caller may still call the Task's tool. */
  private async mayCall(caller: Caller, t: Task): Promise<void> {
    const tool = toolOfTask(t);
    let allowed: boolean;
    try {
      allowed = await this.authorize(caller, tool);
    } catch (err) {
      throw toCallError(err, this.log.child({ task: t.metadata.name, tool }), "Could not authorize a task method");
    }
    if (!allowed) throw forbiddenTool(caller, tool);
  }

  /** The caller's Task by id; an unknown or foreign one is invalid params. */
  async owned(taskId: unknown, caller: Caller, opts: { fresh?: boolean } = {}): Promise<Task> {
    const t = await this.find(taskId, caller, opts);
    if (!t) throw new CallError(errorCodes.invalidParams, `Unknown taskId: ${String(taskId)}`);
    return t;
  }

  status(t: Task): TaskStatus {
    return taskStatusOf(t);
  }

  /** The result of a finished Task, as a synchronous call would have answered it. */
  result(t: Task): CallToolResult {
    return callResultOf(t);
  }

  /** The caller's Tasks of tools it may still call, oldest first, 100 a page; the cursor is an offset. */
  async list(caller: Caller, cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    // the caller's key (a digest of its groups) once, not once per Task in the cache
    const key = callerKey(caller);
    const made = this.store.list().filter((t) => callerKeyOfTask(t) === key);
    const tools = [...new Set(made.map(toolOfTask))];
    let allowed: boolean[];
    try {
      allowed = await Promise.all(tools.map((tool) => this.authorize(caller, tool)));
    } catch (err) {
      throw toCallError(err, this.log, "Could not authorize tasks/list");
    }
    const may = new Set(tools.filter((_, i) => allowed[i]));
    const mine = made
      .filter((t) => may.has(toolOfTask(t)))
      .sort(
        (a, b) =>
          (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
          (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
      );
    const start = cursor ? Number(cursor) : 0;
    if (!Number.isInteger(start) || start < 0) throw new CallError(errorCodes.invalidParams, "Invalid cursor");
    return {
      tasks: mine.slice(start, start + 100),
      ...(start + 100 < mine.length ? { nextCursor: String(start + 100) } : {}),
    };
  }

  /** Cancels a working task: its Task fails for good with reason Cancelled, which stops its agent. */
  cancel(t: Task, message: string): Promise<Task> {
    return this.fail(t, message, "Cancelled");
  }

  /** Fails a working task for good with this reason, which stops its agent. */
  async fail(t: Task, message: string, reason: string): Promise<Task> {
    let done: Task;
    try {
      done = await this.store.cancelTask(t, message, reason);
    } catch (err) {
      throw toCallError(err, this.log.child({ task: t.metadata.name }), "Could not cancel a task");
    }
    this.written.set(t.metadata.name ?? "", { task: done, at: Date.now() });
    if (this.written.size > 10_000) this.sweep();
    return done;
  }

  /**
   * Records a client's answers to a task's input requests (tasks/update, a
   * 2025 session's answers); anything not asked is ignored, an answer that
   * does not fit its request, or to a question another answer came to
   * first, is -32602. With `attempt` (a 2025 session knows which attempt
   * asked) a Task retried since takes nothing (AttemptMovedOn). tasks/update
   * names no attempt: a retried Task's questions come under keys of their
   * own (`confirm@2`), so an answer meant for an earlier attempt's question
   * is an answer to nothing asked now.
   */
  async answer(t: Task, responses: unknown, opts: { attempt?: number } = {}): Promise<string[]> {
    return (await writeAnswers(this.store, t, answersOf(responses), this.log, opts)).answered;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, v] of this.written) if (now - v.at >= writtenForMs) this.written.delete(k);
  }
}

/** A working task's status message: its phase and agent, and the tool's own progress once it reports. */
export function workingMessage(t: Task): string {
  const s = t.status ?? {};
  const where = `${s.phase ?? "Pending"}${s.assignedAgent ? ` on ${s.assignedAgent}` : ""}`;
  return s.phase === "Running" && s.progress ? `${where}: ${progressMessage(s.progress)}` : where;
}

/** The name of the tool a Task runs, as tools/list shows it. */
export function toolOfTask(t: Task): string {
  return t.spec.tool ?? genericToolName(t.spec.requiredCapabilities?.[0] ?? "");
}

// ---- the two eras' renderings of one Task ----

/** A 2025-11-25 task: a protocol failure reads completed (with an isError result), as before. */
export function toMcpTask(t: Task): McpTask {
  const s = t.status ?? {};
  const full = taskStatusOf(t);
  const status: McpTask["status"] =
    full === "cancelled" ? "cancelled" : full === "failed" ? "completed" : full === "input_required" ? "working" : full;
  const created = t.metadata.creationTimestamp ?? new Date().toISOString();
  const message = status === "working" ? workingMessage(t) : s.error ? failureText(t) : undefined;
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

/** The flat task envelope of SEP-2663 (2026-07-28), for a CreateTaskResult and tasks/get. */
export function taskEnvelope(t: Task): Json {
  const s = t.status ?? {};
  const created = t.metadata.creationTimestamp ?? new Date().toISOString();
  const status = taskStatusOf(t);
  return {
    taskId: t.metadata.name ?? "",
    status,
    createdAt: created,
    lastUpdatedAt: s.completionTime ?? s.startTime ?? s.assignedTime ?? created,
    ttlMs: t.spec.ttlSecondsAfterFinished !== undefined ? t.spec.ttlSecondsAfterFinished * 1000 : defaultTaskTtlMs,
    pollIntervalMs,
    ...(status === "working" ? { statusMessage: workingMessage(t) } : {}),
  };
}

/** tasks/get's detailed task (2026-07-28): the envelope, with the result or error once finished. */
export function detailedTask(t: Task): Json {
  const env = taskEnvelope(t);
  if (env.status === "completed") {
    const result = t.status?.phase === "Completed" ? resultContent(t) : callResultOf(t);
    return { ...env, result: { ...result, resultType: "complete" } };
  }
  if (env.status === "input_required") return { ...env, inputRequests: clientRequests(pendingInput(t) ?? {}) };
  if (env.status === "failed")
    return {
      ...env,
      error: { code: errorCodes.internal, message: failureText(t), data: { reason: t.status?.error?.reason } },
    };
  return env;
}
