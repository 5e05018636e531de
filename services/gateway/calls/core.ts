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
import { SpanKind } from "@opentelemetry/api";
import type { ToolMessage } from "../../../lib/agent/progress.ts";
import type { Task } from "../../../lib/api/resources.ts";
import { type Clock, systemClock } from "../../../lib/clock.ts";
import { type Logger, logIgnored } from "../../../lib/log.ts";
import { inSpan, tracedServices, traceparentOfSpan } from "../../../lib/tracing.ts";
import type { FederatedCall } from "../audit.ts";
import type { Federation } from "../federation.ts";
import type { GatewayMetrics } from "../metrics.ts";
import { sessionLabelValue } from "../task-calls.ts";
import type { GatewayTool } from "../tool-registry.ts";
import { type CallForm, decideForm, validateArguments } from "./checks.ts";
import { CallError, errorCodes, internalError, quotaRefusal, toCallError } from "./errors.ts";
import { CallerLimit } from "./in-flight.ts";
import {
  attemptOf,
  badAnswer,
  clientRequest,
  earliestAnswerBy,
  questionsOf,
  unanswerable,
  writeAnswers,
} from "./input.ts";
import { callResultOf, pendingInput, progressMessage, runningFraction } from "./outcome.ts";
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
  /** The W3C trace context the request carried (lib/trace-context.ts), recorded on its Task. */
  traceparent?: string;
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
  /**
   * What the client declared it can answer (its capabilities): recorded on
   * the Task for the tool (ctx.client), and checked against each question a
   * 2026 call puts to the client.
   */
  clientCapabilities?: Record<string, unknown>;
  /**
   * A 2026 synchronous call (SEP-2322): the tool's questions end the wait
   * and are the answer (an `input` outcome) the client retries with its
   * answers. `given` are answers the call came with (a retry without
   * requestState), for the questions the tool asks under those keys;
   * `answered` the keys a retry's answers were written under (the Task may
   * be seen asking them a moment longer).
   */
  input?: { given?: Record<string, unknown>; answered?: string[] };
  log: Logger;
}

export type CallOutcome =
  | { kind: "task"; task: Task }
  | { kind: "result"; result: CallToolResult }
  /**
   * The tool asks the client these questions (by key, as the client sees
   * them) in this attempt of the Task; the call is retried with the answers
   * (2026, SEP-2322) before `answerBy` (ms since the epoch; the earliest of
   * the questions', when the agent wrote them), after which the agent fails
   * the Task with InputTimeout.
   */
  | { kind: "input"; task: Task; attempt: number; requests: Record<string, unknown>; answerBy?: number };

/** How long a 2026 call waits, once its tool asks something, for more questions asked at once. */
const questionSettleMs = 50;

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
  /** Time for the wait for questions asked together (tests move it by hand). */
  clock?: Clock;
  /** Told of every federated call that ran, as it ended (the gateway's audit record: audit.ts). */
  onFederatedCall?: (c: FederatedCall) => void;
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
  | "input_required"
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

  /**
   * Runs one tools/call; throws a CallError for anything that is not a result
   * or a task. Its span continues the client's trace, and its traceparent is
   * what the call's Task (or its MCPServer) is given to continue.
   */
  call(req: CallRequest): Promise<CallOutcome> {
    return inSpan(
      tracedServices.gateway,
      `tools/call ${req.name}`,
      {
        kind: SpanKind.SERVER,
        parent: req.traceparent,
        attributes: {
          "mcp.method.name": "tools/call",
          "gen_ai.operation.name": "execute_tool",
          "gen_ai.tool.name": req.name,
          "jsonrpc.request.id": req.requestId,
          "mcp.session.id": req.caller.session ? sessionLabelValue(req.caller.session) : undefined,
          "mcp.client": req.caller.client,
        },
      },
      async (span) => {
        const out = await this.run({ ...req, traceparent: traceparentOfSpan(span) ?? req.traceparent });
        if (out.kind === "result" && out.result.isError) span.setAttribute("error.type", "tool_error");
        if (out.kind !== "result") span.setAttribute("mcp.task", out.task.metadata.name ?? "");
        return out;
      },
    );
  }

  private async run(req: CallRequest): Promise<CallOutcome> {
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
    const startedAt = new Date();
    const ended = (outcome: FederatedCall["outcome"], reason?: string) =>
      this.deps.onFederatedCall?.({
        tool: tool.name,
        mcpServer: upstream.server,
        upstreamTool: upstream.upstreamName,
        caller: req.caller,
        arguments: args,
        outcome,
        ...(reason ? { reason } : {}),
        startedAt,
        finishedAt: new Date(),
        ...(req.traceparent ? { traceparent: req.traceparent } : {}),
      });
    try {
      const result = await inSpan(
        tracedServices.gateway,
        `tools/call ${upstream.upstreamName}`,
        { kind: SpanKind.CLIENT, attributes: { "mcp.method.name": "tools/call", "mcp.server": upstream.server } },
        (span) =>
          federation.callTool(upstream, args, {
            signal: req.signal,
            onprogress: req.onProgress ? (p) => void req.onProgress?.(p) : undefined,
            traceparent: traceparentOfSpan(span) ?? req.traceparent,
          }),
      );
      count(result.isError ? "tool_error" : "completed");
      ended(result.isError ? "tool_error" : "completed");
      return { kind: "result", result };
    } catch (err) {
      if (req.signal?.aborted) {
        count("cancelled");
        ended("cancelled");
        log.info({ mcpServer: upstream.server }, "Client cancelled a federated call");
        throw new CallError(errorCodes.internal, "the call was cancelled by the client");
      }
      const e = toCallError(err, log, "Federated tool call failed");
      count(e.code === errorCodes.internal ? "internal_error" : "invalid_params");
      ended("failed", e.message);
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
        ...(req.traceparent ? { traceparent: req.traceparent } : {}),
        caller: req.caller,
        ttlSeconds: req.taskTtlMs != null ? Math.ceil(req.taskTtlMs / 1000) : undefined,
        counted: release,
        clientCapabilities: req.clientCapabilities,
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
    return this.follow(task, req, tlog, count);
  }

  /**
   * Carries on a 2026 call its client retried with answers (its requestState
   * named the Task, which the caller owns and may still call; the answers
   * are on the Task): its task at once when the call may be a task now, else
   * the wait again, which may end in more questions.
   */
  async resume(req: CallRequest, task: Task): Promise<CallOutcome> {
    const known = this.deps.tools.get(req.name);
    const count = (outcome: Outcome) =>
      this.deps.metrics?.toolCalls.inc({ tool: known ? req.name : "(unknown)", outcome });
    const log = req.log.child({ tool: req.name, requestId: req.requestId, task: task.metadata.name });
    if (req.form === "either" && (known?.taskSupport ?? "optional") !== "forbidden") {
      count("task_created");
      return { kind: "task", task };
    }
    const endTimer = this.deps.metrics?.toolCallDuration.startTimer({ tool: req.name });
    try {
      log.info("Resumed a tool call with the client's answers");
      return await this.follow(task, req, log, count);
    } finally {
      endTimer?.();
    }
  }

  /** Waits for a call's Task, with progress, messages and (2026) its questions, to its outcome. */
  private async follow(task: Task, req: CallRequest, tlog: Logger, count: (o: Outcome) => void): Promise<CallOutcome> {
    const store = this.deps.store;
    let last = -1;
    // Resolves once sent, so the last step goes out before the result (a
    // client drops progress that arrives after its response). Progress only
    // ever grows (the spec asks it of every notification): `last` is set
    // before the await, so a slower earlier send cannot be overtaken.
    const send = async (progress: number, message: string): Promise<void> => {
      if (!req.onProgress || progress <= last) return;
      last = progress;
      // A client that left cannot be told; its call goes on to the Task's outcome.
      try {
        await req.onProgress({ progress, total: 4, message });
      } catch (err) {
        logIgnored(tlog, "Sending progress")(err);
      }
    };
    const report = (step: string): Promise<void> => {
      const n = progressByPhase[step];
      return n === undefined ? Promise.resolve() : send(n, `task ${step.toLowerCase()}`);
    };
    // Messages are numbered per attempt; a retry starts again from 1.
    let seen = { attempt: -1, seq: 0 };
    const questions = req.input ? this.questions(task, req, tlog) : undefined;
    const onChange = (t: Task) => {
      req.onTask?.(t);
      questions?.seen(t);
      const attempt = t.status?.attempts ?? 0;
      if (attempt !== seen.attempt) seen = { attempt, seq: 0 };
      // The attempt's own: while it runs, and as it ends (its last words come with its result); between
      // attempts (Pending, Assigned) the last one's may still be on the Task.
      const phase0 = t.status?.phase;
      const attemptsOwn = phase0 === "Running" || phase0 === "Completed" || phase0 === "Failed";
      for (const m of attemptsOwn ? (t.status?.messages ?? []) : []) {
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
    const stop = new AbortController();
    try {
      const waited = store.wait(task, onChange, stop.signal);
      const outcome = await (questions ? Promise.race([waited, questions.asked]) : waited);
      if (outcome.kind === "refused") {
        count("invalid_params");
        throw outcome.error;
      }
      if (outcome.kind === "input") {
        count("input_required");
        tlog.info({ keys: Object.keys(outcome.requests) }, "Tool call asks the client for input");
        return outcome;
      }
      if (outcome.kind === "stopped") throw new Error("a call stopped waiting with nothing to answer");
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
      count(outcome.kind === "failed" ? "tool_error" : "completed");
      await report("Finished");
      if (outcome.kind === "failed") tlog.info({ reason: e?.reason }, "Tool call failed");
      else tlog.info("Tool call completed");
      return { kind: "result", result: callResultOf(outcome.task) };
    } finally {
      stop.abort();
      questions?.close();
      req.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * A 2026 synchronous call's questions (SEP-2322). Each update of its Task
   * that asks something: a question the client cannot answer (a capability
   * it did not declare) fails the Task and refuses the call with -32021
   * naming the capability; one the call came with an answer to (`given`) is
   * answered on the Task (an answer that cannot be written is dropped, and
   * its question asked of the client instead); the rest, after a moment for
   * questions asked together, end the wait as the call's answer: the
   * questions, by key, with the attempt they belong to and their answer-by
   * time. Protected: conductor__run_plan watches each step's Task of its
   * plan with it (plans.ts).
   */
  protected questions(task: Task, req: CallRequest, log: Logger) {
    const store = this.deps.store;
    const clock = this.deps.clock ?? systemClock;
    const given = req.input?.given ?? {};
    // keys answered on the Task by this call (they may show a moment longer), and keys whose
    // given answer could not be written (asked of the client instead), per attempt
    let attempt = attemptOf(task);
    let written = new Set(req.input?.answered ?? []);
    let refused = new Set<string>();
    let latest = task;
    let settle: (() => void) | undefined;
    let done = false;
    let failing = false;
    let end: (o: Asked) => void = () => {};
    const asked = new Promise<Asked>((resolve) => {
      end = (o) => {
        if (done) return;
        done = true;
        resolve(o);
      };
    });
    // one write at a time: the Task is read-modified-written
    let writing: Promise<unknown> = Promise.resolve();
    const open = (t: Task) => {
      const pending = pendingInput(t) ?? {};
      return questionsOf(pending).filter((q) => !written.has(q.key));
    };
    const seen = (t: Task) => {
      if (done) return;
      latest = t;
      if (attemptOf(t) !== attempt) {
        attempt = attemptOf(t);
        written = new Set();
        refused = new Set();
      }
      const qs = open(t);
      if (qs.length === 0) return;
      for (const q of qs) {
        const why = unanswerable(q, req.clientCapabilities);
        if (!why) continue;
        if (failing) return;
        failing = true;
        log.info({ method: q.method, reason: why.reason }, "Failing a call whose question the client cannot answer");
        void store
          .cancelTask(t, why.message, why.reason)
          .catch(logIgnored(log, "Failing a call whose question the client cannot answer"));
        // a request MCP does not know is the tool's mistake: its failed Task is the call's (isError) result
        if (why.capability)
          end({
            kind: "refused",
            error: new CallError(errorCodes.missingClientCapability, why.message, {
              requiredCapabilities: { [why.capability]: {} },
            }),
          });
        return;
      }
      const answers = Object.fromEntries(
        qs
          .filter((q) => q.key in given && !refused.has(q.key) && !badAnswer(q.method, given[q.key]))
          .map((q) => [q.key, given[q.key]]),
      );
      if (Object.keys(answers).length > 0) {
        const at = attempt;
        for (const k of Object.keys(answers)) written.add(k);
        writing = writing
          .then(() => writeAnswers(store, latest, answers, log, { attempt: at }))
          .catch((err: unknown) => {
            log.warn({ err }, "Could not answer a tool's question with the answers the call came with");
            if (attempt !== at) return; // the new attempt's questions are seen as they come
            // Not written: they are asked of the client instead, now, since no
            // update of the Task may come to ask them (every open question may
            // have been one of these, with no wait for the rest running).
            for (const k of Object.keys(answers)) {
              written.delete(k);
              refused.add(k);
            }
            seen(latest);
          });
      }
      if (qs.some((q) => !(q.key in answers)) && !settle)
        settle = clock.schedule(() => {
          settle = undefined;
          void writing.then(() => {
            const left = open(latest);
            if (left.length === 0 || done) return;
            const pending = pendingInput(latest) ?? {};
            const answerBy = earliestAnswerBy(left);
            end({
              kind: "input",
              task: latest,
              attempt: attemptOf(latest),
              requests: Object.fromEntries(left.map((q) => [q.key, clientRequest(pending[q.key])])),
              ...(answerBy !== undefined ? { answerBy } : {}),
            });
          });
        }, questionSettleMs);
    };
    return {
      asked,
      seen,
      close: () => {
        done = true;
        settle?.();
      },
    };
  }
}

/** How a 2026 call's questions end its wait: put to the client, or refused. */
export type Asked =
  | { kind: "input"; task: Task; attempt: number; requests: Record<string, unknown>; answerBy?: number }
  | { kind: "refused"; error: CallError };
