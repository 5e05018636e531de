/**
 * One tool call, whichever protocol era it came in: resolve the tool and ask
 * the authorize hook, validate the arguments, decide its form from the tool's
 * taskSupport, and only then run it: a federated tool on its MCPServer, an
 * agent's tool as a Task (answered at once as a task, or waited for). The
 * caller's AbortSignal ends the call: a Task is deleted, a federated request
 * cancelled upstream. Every outcome is counted and mapped to one shape: a
 * CallToolResult (isError for a tool's error), a Task, or a CallError.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ToolMessage } from "../../../lib/agent/progress.ts";
import type { Task } from "../../../lib/api/resources.ts";
import type { Logger } from "../../../lib/log.ts";
import type { Federation } from "../federation.ts";
import type { GatewayMetrics } from "../metrics.ts";
import { sessionLabelValue } from "../task-calls.ts";
import type { GatewayTool } from "../tool-registry.ts";
import { type CallForm, decideForm, tasksExtension, validateArguments } from "./checks.ts";
import { CallError, errorCodes, internalError, quotaRefusal, toCallError } from "./errors.ts";
import { CallerLimit } from "./in-flight.ts";
import { callResultOf, inputWithoutTaskReason, progressMessage, runningFraction } from "./outcome.ts";
import type { CallStore } from "./store.ts";
import { type Authorize, allowAll, type Caller, listTools, resolveTool, type ToolSource } from "./tools.ts";

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

export interface CallRequest {
  name: string;
  arguments?: unknown;
  caller: Caller;
  /** The JSON-RPC id of the call, recorded on its Task. */
  requestId: string;
  form: CallForm;
  era: "2025" | "2026";
  /** How long a task's Task is kept once finished (2025 `task.ttl`). */
  taskTtlMs?: number;
  /** Aborted when the client goes away; the call is cancelled. */
  signal?: AbortSignal;
  /** Progress of a call waited for; awaited before the result is returned. */
  onProgress?: (p: Progress) => void | Promise<void>;
  /** Every update of a waited-for call's Task. */
  onTask?: (t: Task) => void;
  /** Each message the tool sends the client (ctx.log), once, in order. */
  onMessage?: (m: ToolMessage) => void;
  log: Logger;
}

export type CallOutcome = { kind: "task"; task: Task } | { kind: "result"; result: CallToolResult };

export interface CallCoreDeps {
  tools: ToolSource;
  store: CallStore;
  federation?: Federation;
  metrics?: GatewayMetrics;
  /** Whether a caller may call a tool; every caller may call every tool without it. */
  authorize?: Authorize;
  /** A caller's Tasks in flight at most (calls/in-flight.ts); no cap without it. */
  maxInFlightPerCaller?: number;
  /** Told of every call the authorize hook refused (the gateway records an Event). */
  onDenied?: (caller: Caller, tool: GatewayTool) => void;
}

/**
 * Progress of an agent's call, out of 4: created, Pending, Assigned, Running,
 * finished; the tool's own progress (ctx.progress) moves it within Running,
 * from 3 towards 4.
 */
const progressByPhase = { Created: 0, Pending: 1, Assigned: 2, Running: 3, Finished: 4 } as Record<string, number> & {
  Running: number;
};

type Outcome =
  | "completed"
  | "tool_error"
  | "invalid_params"
  | "forbidden"
  | "internal_error"
  | "cancelled"
  | "limited"
  | "task_created";

export class CallCore {
  readonly authorize: Authorize;
  private readonly limit: CallerLimit | undefined;
  private draining = false;

  constructor(private readonly deps: CallCoreDeps) {
    this.authorize = deps.authorize ?? allowAll;
    if (deps.maxInFlightPerCaller !== undefined)
      this.limit = new CallerLimit(deps.maxInFlightPerCaller, (caller) => deps.store.inFlightOf(caller));
  }

  /**
   * The gateway is stopping: requests it drops from now on were not given up
   * by their clients, so their Tasks carry on (a client follows them through
   * the task methods, on another replica) instead of being cancelled.
   */
  drain(): void {
    this.draining = true;
  }

  /** The tools this caller may call, as tools/list shows them. */
  list(caller: Caller): Promise<Record<string, unknown>[]> {
    return listTools(this.deps.tools, caller, this.authorize);
  }

  /** Runs one tools/call; throws a CallError for anything that is not a result or a task. */
  async call(req: CallRequest): Promise<CallOutcome> {
    const known = this.deps.tools.get(req.name);
    const count = (outcome: Outcome) =>
      this.deps.metrics?.toolCalls.inc({ tool: known ? req.name : "(unknown)", outcome });
    const log = req.log.child({
      tool: req.name,
      requestId: req.requestId,
      ...(req.caller.session ? { mcpSession: sessionLabelValue(req.caller.session) } : {}),
    });
    let tool: GatewayTool;
    let args: Record<string, unknown>;
    let form: "task" | "sync";
    try {
      tool = await resolveTool(this.deps.tools, req.name, req.caller, this.authorize);
      args = validateArguments(tool, req.arguments);
      form = decideForm(tool, req.form, req.era);
    } catch (err) {
      const e = toCallError(err, log, "Could not check a tool call");
      if (e.code === errorCodes.forbidden && known) {
        log.info({ user: req.caller.subject?.user ?? req.caller.client }, "Tool call forbidden");
        this.deps.onDenied?.(req.caller, known);
      }
      count(
        e.code === errorCodes.forbidden
          ? "forbidden"
          : e.code === errorCodes.internal
            ? "internal_error"
            : "invalid_params",
      );
      throw e;
    }
    if (req.signal?.aborted) {
      count("cancelled");
      throw new CallError(errorCodes.internal, "the call was cancelled by the client");
    }
    // Every check passed: only now does anything exist for the call.
    const endTimer = this.deps.metrics?.toolCallDuration.startTimer({ tool: tool.name });
    try {
      if (tool.federated) return await this.federated(tool, args, req, log, count);
      return await this.agent(tool, args, form, req, log, count);
    } finally {
      endTimer?.();
    }
  }

  /** A federated MCPServer's tool: proxied, with the caller's progress token and signal. */
  private async federated(
    tool: GatewayTool,
    args: Record<string, unknown>,
    req: CallRequest,
    log: Logger,
    count: (o: Outcome) => void,
  ): Promise<CallOutcome> {
    const federation = this.deps.federation;
    const upstream = tool.federated;
    if (!federation || !upstream) {
      count("internal_error");
      throw internalError(log, new Error("federation is not enabled"), "Could not call a federated tool");
    }
    try {
      const result = await federation.callTool(upstream, args, {
        signal: req.signal,
        onprogress: req.onProgress ? (p) => void req.onProgress?.(p) : undefined,
      });
      count(result.isError ? "tool_error" : "completed");
      return { kind: "result", result };
    } catch (err) {
      if (req.signal?.aborted) {
        count("cancelled");
        log.info({ mcpServer: upstream.server }, "Client cancelled a federated call");
        throw new CallError(errorCodes.internal, "the call was cancelled by the client");
      }
      const e = toCallError(err, log, "Federated tool call failed");
      count(e.code === errorCodes.internal ? "internal_error" : "invalid_params");
      throw e;
    }
  }

  /** An agent's tool: a Task, answered at once (a task) or waited for. */
  private async agent(
    tool: GatewayTool,
    args: Record<string, unknown>,
    form: "task" | "sync",
    req: CallRequest,
    log: Logger,
    count: (o: Outcome) => void,
  ): Promise<CallOutcome> {
    const store = this.deps.store;
    let release = () => {};
    try {
      release = this.limit?.reserve(req.caller) ?? release;
    } catch (err) {
      count("limited");
      this.deps.metrics?.callsLimited.inc({ reason: "caller_in_flight" });
      log.info({ user: req.caller.subject?.user ?? req.caller.client }, "Tool call refused: too many in flight");
      throw err;
    }
    let task: Task;
    try {
      task = await store.create(tool, args, {
        requestId: req.requestId,
        caller: req.caller,
        ttlSeconds: req.taskTtlMs != null ? Math.ceil(req.taskTtlMs / 1000) : undefined,
        counted: release,
      });
    } catch (err) {
      const quota = quotaRefusal(err);
      if (quota) {
        count("limited");
        this.deps.metrics?.callsLimited.inc({ reason: "domain_quota" });
        log.warn({ err }, "Tool call refused by the domain's ResourceQuota");
        throw quota;
      }
      count("internal_error");
      throw internalError(log, err, "Could not create the Task for a tool call");
    } finally {
      release();
    }
    const tlog = log.child({ task: task.metadata.name });
    tlog.info("Created Task for tool call");
    if (form === "task") {
      count("task_created");
      return { kind: "task", task };
    }

    let last = -1;
    // Resolves once sent, so the last step goes out before the result (a
    // client drops progress that arrives after its response). Progress only
    // ever grows (the spec asks it of every notification): `last` is set
    // before the await, so a slower earlier send cannot be overtaken.
    const send = async (progress: number, message: string): Promise<void> => {
      if (!req.onProgress || progress <= last) return;
      last = progress;
      try {
        await req.onProgress({ progress, total: 4, message });
      } catch {}
    };
    const report = (step: string): Promise<void> => {
      const n = progressByPhase[step];
      return n === undefined ? Promise.resolve() : send(n, `task ${step.toLowerCase()}`);
    };
    // Messages are numbered per attempt; a retry starts again from 1.
    let seen = { attempt: -1, seq: 0 };
    const onChange = (t: Task) => {
      req.onTask?.(t);
      const attempt = t.status?.attempts ?? 0;
      if (attempt !== seen.attempt) seen = { attempt, seq: 0 };
      // Only a running attempt's: between attempts the last one's may still be on the Task.
      for (const m of t.status?.phase === "Running" ? (t.status.messages ?? []) : []) {
        if (m.seq <= seen.seq) continue;
        seen.seq = m.seq;
        req.onMessage?.(m as ToolMessage);
      }
      const phase = t.status?.phase ?? "";
      // Finished is reported once the result is in hand, below.
      if (phase === "Completed" || phase === "Failed") return;
      const own = t.status?.progress;
      if (phase === "Running" && own) {
        void report("Running");
        void send(progressByPhase.Running + runningFraction(own), progressMessage(own));
      } else void report(phase);
    };
    void report("Created");
    const onAbort = () => {
      if (this.draining) {
        tlog.info("Gateway stopping; the call's Task carries on");
        return;
      }
      tlog.info("Client went away; deleting the call's Task");
      void store.cancel(task);
    };
    req.signal?.addEventListener("abort", onAbort, { once: true });
    if (req.signal?.aborted) onAbort();
    try {
      const outcome = await store.wait(task, onChange);
      if (outcome.kind === "deleted") {
        if (req.signal?.aborted) {
          count("cancelled");
          throw new CallError(errorCodes.internal, "the call was cancelled by the client");
        }
        count("internal_error");
        throw internalError(
          tlog,
          new Error("the call's Task was deleted before it finished"),
          "Task deleted under a call",
          "Internal error: the task for this call was deleted before it finished",
        );
      }
      const e = outcome.task.status?.error;
      if (outcome.kind === "failed" && e?.reason === inputWithoutTaskReason) {
        count("invalid_params");
        throw new CallError(
          errorCodes.missingClientCapability,
          `${e.message}: declare the ${tasksExtension} extension`,
          { requiredCapabilities: { extensions: { [tasksExtension]: {} } } },
        );
      }
      count(outcome.kind === "failed" ? "tool_error" : "completed");
      await report("Finished");
      if (outcome.kind === "failed") tlog.info({ reason: e?.reason }, "Tool call failed");
      else tlog.info("Tool call completed");
      return { kind: "result", result: callResultOf(outcome.task) };
    } finally {
      req.signal?.removeEventListener("abort", onAbort);
    }
  }
}
