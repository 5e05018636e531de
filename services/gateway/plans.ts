/**
 * Plans over MCP: the gateway's own tool conductor__run_plan takes a plan
 * (steps naming this gateway's tools, their payloads, inputs and
 * dependencies), checks it as a tool call is checked (every step's tool
 * exists, is an agent's and the caller may call it; the plan is valid),
 * creates a Plan, follows it with notifications/progress as its steps finish
 * (and a notifications/message for each step's change), and returns its
 * summary. The controller runs the steps (plan-reconciler.ts, ADR 0012).
 * The client going away cancels the plan (spec.cancel), as it deletes a
 * call's Task; a gateway that is stopping leaves it running.
 *
 * A step's questions to its client (ctx.sample, ctx.elicit, ctx.listRoots)
 * reach the client that runs the plan, as a single call's do: in a 2025
 * session each update of a step's Task goes to the session's SessionInput
 * (req.onTask), which asks the client over the call's stream and writes the
 * answers on the Task; on a 2026 call each step's Task is watched with the
 * core's questions, and the first a step asks end the call's wait as its
 * input_required answer, naming that step's Task, whose retry continues the
 * plan (PlanCallCore.resume). A question the client did not declare the
 * capability for fails its step (InputNotSupported) as it fails a call.
 *
 * It sits in front of the call core (PlanCallCore): both protocol eras call
 * the core, so both get it; the core lends it its tools, its authorize hook
 * and its watch of a Task's questions (CallCore.questions).
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ToolMessage } from "../../lib/agent/progress.ts";
import { clientCapabilitiesAnnotation } from "../../lib/agent/tool.ts";
import { validate } from "../../lib/agent/validation.ts";
import { isStepFinished, planLabels } from "../../lib/api/plan-state.ts";
import { planProblems } from "../../lib/api/plan-validation.ts";
import type { McpClients, Plan, PlanSpecStepsItem, Task } from "../../lib/api/resources.ts";
import { isInvalid, isNotFound } from "../../lib/kube/errors.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { labelValue } from "../../lib/kube/labels.ts";
import { type Logger, logIgnored } from "../../lib/log.ts";
import { decideForm } from "./calls/checks.ts";
import { type Asked, CallCore, type CallCoreDeps, type CallOutcome, type CallRequest } from "./calls/core.ts";
import { CallError, errorCodes, internalError, quotaRefusal, toCallError } from "./calls/errors.ts";
import { inputNotSupportedReason } from "./calls/input.ts";
import { annotations, callerMarks, labels, madeBy } from "./calls/marks.ts";
import type { CallStore } from "./calls/store.ts";
import { type Authorize, type Caller, forbiddenTool, type ToolSource } from "./calls/tools.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { inputCapabilitiesOf } from "./task-calls.ts";
import type { GatewayTool } from "./tool-registry.ts";

export const runPlanToolName = "conductor__run_plan";

const stepSchema = {
  type: "object",
  required: ["name", "tool"],
  additionalProperties: false,
  properties: {
    name: {
      type: "string",
      pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
      maxLength: 63,
      description: "The step's name, unique in the plan (lower case, digits, -).",
    },
    tool: { type: "string", description: "A tool of this gateway that runs on agents." },
    payload: { type: "object", description: "The tool's arguments known now." },
    inputs: {
      type: "object",
      additionalProperties: { type: "string" },
      description:
        "Arguments taken when the step starts: payload field → a path such as $.steps.parse.result.rows or $.context.owner.",
    },
    dependsOn: { type: "array", items: { type: "string" }, description: "Steps that must finish first." },
    onFailure: {
      enum: ["FailPlan", "SkipDependants", "Continue"],
      description:
        "FailPlan (default): start nothing more; SkipDependants: skip the steps after it; Continue: run them all the same.",
    },
    priority: { type: "integer", minimum: 1, maximum: 10 },
  },
};

/** The tool as tools/list shows it; it runs in the gateway and answers only in the response. */
export const runPlanTool: GatewayTool = {
  name: runPlanToolName,
  title: "Run a plan",
  description:
    "Runs steps (this gateway's tools) in the order their dependencies give, passing earlier results on " +
    "through inputs, and returns each step's outcome, the shared context and the results of the last steps. " +
    "Progress counts finished steps.",
  capability: "",
  inputSchema: {
    type: "object",
    required: ["steps"],
    additionalProperties: false,
    properties: {
      name: {
        type: "string",
        pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        maxLength: 40,
        description: "The start of the Plan's name (a random suffix is added).",
      },
      steps: { type: "array", minItems: 1, maxItems: 64, items: stepSchema },
      context: { type: "object", description: "The shared context the steps start with (at most 64 KiB)." },
    },
  },
  taskSupport: "forbidden",
  agents: [],
  generic: false,
};

export interface PlanCallsOptions {
  clients: Pick<McpClients, "plans" | "tasks">;
  namespace: string;
  log: Logger;
  metrics?: GatewayMetrics;
}

/** What conductor__run_plan returns: the plan's outcome, step by step. */
export interface PlanSummary {
  plan: string;
  phase: string;
  counts: NonNullable<Plan["status"]>["counts"];
  steps: { name: string; phase: string; task?: string; reason?: string; message?: string }[];
  context: Record<string, unknown>;
  /** The results of the steps no other step depends on, that succeeded: the plan's output. */
  results: Record<string, unknown>;
}

interface RunPlanArgs {
  name?: string;
  steps: (Pick<PlanSpecStepsItem, "name" | "payload" | "inputs" | "dependsOn" | "onFailure" | "priority"> & {
    tool: string;
  })[];
  context?: Record<string, unknown>;
}

/** How a refused plan call is counted. */
const refusalOutcome = (e: CallError) =>
  e.code === errorCodes.forbidden ? "forbidden" : e.code === errorCodes.internal ? "internal_error" : "invalid_params";

/** The core's watch of one Task's questions on a 2026 synchronous call (CallCore.questions). */
export interface QuestionWatch {
  asked: Promise<Asked>;
  seen(t: Task): void;
  close(): void;
}

/** What the call core lends a plan's call. */
export interface PlanCallContext {
  tools: ToolSource;
  authorize: Authorize;
  /** Watches a step's Task's questions on a 2026 synchronous call, as the core watches a call's. */
  questions: (task: Task, req: CallRequest, log: Logger) => QuestionWatch;
  /** Fails a step's Task whose question cannot reach the client. */
  store: Pick<CallStore, "cancelTask">;
}

/** How following a plan ends for its call: the plan finished, or (2026) a step asks the client something. */
type Followed = { plan: Plan } | { input: Extract<CallOutcome, { kind: "input" }> };

/** Runs conductor__run_plan calls. */
export class PlanCalls {
  private draining = false;

  constructor(private readonly o: PlanCallsOptions) {}

  drain(): void {
    this.draining = true;
  }

  async call(req: CallRequest, ctx: PlanCallContext): Promise<CallOutcome> {
    const log = req.log.child({ tool: runPlanToolName, requestId: req.requestId });
    const count = (outcome: string) => this.o.metrics?.toolCalls.inc({ tool: runPlanToolName, outcome });
    let spec: Plan["spec"];
    let prefix: string;
    try {
      if (!(await ctx.authorize(req.caller, runPlanToolName))) throw forbiddenTool(req.caller, runPlanToolName);
      decideForm(runPlanTool, req.form, req.era);
      const invalid = validate(runPlanTool.inputSchema, req.arguments ?? {}, "arguments");
      if (invalid)
        throw new CallError(errorCodes.invalidParams, `Invalid arguments for tool ${runPlanToolName}: ${invalid}`);
      const args = req.arguments as RunPlanArgs;
      prefix = args.name ?? "plan";
      spec = await this.specOf(args, req.caller, ctx.tools, ctx.authorize);
    } catch (err) {
      const e = toCallError(err, log, "Could not check a plan");
      count(refusalOutcome(e));
      throw e;
    }
    let plan: Plan;
    try {
      plan = await this.create(prefix, spec, req);
    } catch (err) {
      const quota = quotaRefusal(err);
      if (quota) {
        count("limited");
        throw quota;
      }
      if (isInvalid(err)) {
        count("invalid_params");
        throw new CallError(errorCodes.invalidParams, `Invalid plan: ${(err as Error).message}`);
      }
      count("internal_error");
      throw internalError(log, err, "Could not create the Plan for a tool call");
    }
    const plog = log.child({ plan: plan.metadata.name });
    plog.info({ steps: spec.steps.length }, "Created Plan for tool call");
    return this.followed(plan, req, plog, ctx, count);
  }

  /**
   * Carries on a 2026 call its client retried with the answers to a step's
   * questions (its requestState named the step's Task, which the caller may
   * continue; the answers are on it): the Task's Plan, the caller's, is
   * followed again, to its end or to the next questions.
   */
  async resume(req: CallRequest, task: Task, ctx: PlanCallContext): Promise<CallOutcome> {
    const log = req.log.child({ tool: runPlanToolName, requestId: req.requestId, task: task.metadata.name });
    const count = (outcome: string) => this.o.metrics?.toolCalls.inc({ tool: runPlanToolName, outcome });
    let plan: Plan;
    try {
      if (!(await ctx.authorize(req.caller, runPlanToolName))) throw forbiddenTool(req.caller, runPlanToolName);
      const gone = new CallError(
        errorCodes.invalidParams,
        "The plan this requestState continues is gone (it was deleted or has expired); call the tool again",
      );
      const owner = task.metadata.ownerReferences?.find((r) => r.kind === "Plan" && r.controller);
      if (!owner) throw gone;
      try {
        plan = await this.o.clients.plans.get(this.o.namespace, owner.name);
      } catch (err) {
        if (isNotFound(err)) throw gone;
        throw err;
      }
      if (plan.metadata.uid !== owner.uid || !madeBy(plan, req.caller)) throw gone;
    } catch (err) {
      const e = toCallError(err, log, "Could not continue a plan");
      count(refusalOutcome(e));
      throw e;
    }
    const plog = log.child({ plan: plan.metadata.name });
    plog.info("Resumed a plan call with the client's answers");
    const resumed = { task: task.metadata.name ?? "", answered: req.input?.answered ?? [] };
    return this.followed(plan, req, plog, ctx, count, resumed);
  }

  /** Follows the plan to the call's outcome, counted. */
  private async followed(
    plan: Plan,
    req: CallRequest,
    log: Logger,
    ctx: PlanCallContext,
    count: (outcome: string) => void,
    resumed?: { task: string; answered: string[] },
  ): Promise<CallOutcome> {
    try {
      const end = await this.follow(plan, req, log, ctx, resumed);
      if ("input" in end) {
        count("input_required");
        log.info({ task: end.input.task.metadata.name }, "Plan call asks the client for a step's input");
        return end.input;
      }
      count(end.plan.status?.phase === "Succeeded" ? "completed" : "tool_error");
      return { kind: "result", result: await this.result(end.plan) };
    } catch (err) {
      const e = toCallError(err, log, "Could not follow a Plan");
      count(req.signal?.aborted ? "cancelled" : e.code === errorCodes.internal ? "internal_error" : "invalid_params");
      throw e;
    }
  }

  /**
   * The Plan's spec from the call's steps: each tool this gateway's, an
   * agent's (a federated tool is not a Task) and one the caller may call;
   * its capability filled in from the registry; a payload without inputs
   * checked against the tool's schema now (one with inputs is checked by the
   * agent when the step starts); the plan's shape checked as the controller
   * will.
   */
  private async specOf(args: RunPlanArgs, caller: Caller, tools: ToolSource, authorize: Authorize) {
    const steps: PlanSpecStepsItem[] = [];
    for (const s of args.steps) {
      const tool = tools.get(s.tool);
      if (!tool) throw new CallError(errorCodes.invalidParams, `Step ${s.name}: unknown tool ${s.tool}`);
      if (tool.federated || !tool.capability)
        throw new CallError(
          errorCodes.invalidParams,
          `Step ${s.name}: tool ${s.tool} runs on an MCP server, not on an agent; a plan's steps are agents' tools`,
        );
      if (!(await authorize(caller, tool.name))) throw forbiddenTool(caller, tool.name);
      if (s.payload && !s.inputs) {
        const invalid = validate(tool.inputSchema, s.payload, `steps.${s.name}.payload`);
        if (invalid) throw new CallError(errorCodes.invalidParams, `Invalid payload for tool ${tool.name}: ${invalid}`);
      }
      steps.push({
        ...s,
        tool: tool.generic ? undefined : tool.name,
        requiredCapabilities: [tool.capability],
      });
    }
    const spec: Plan["spec"] = { steps, ...(args.context ? { context: args.context } : {}) };
    const problems = planProblems(spec);
    if (problems.length)
      throw new CallError(errorCodes.invalidParams, `Invalid plan: ${problems.map((p) => p.message).join("; ")}`);
    return spec;
  }

  private create(prefix: string, spec: Plan["spec"], req: CallRequest): Promise<Plan> {
    const marks = callerMarks(req.caller);
    // what the client can answer, as a call's Task records it (ctx.client): for the steps' Tasks
    const client = req.clientCapabilities ? inputCapabilitiesOf(req.clientCapabilities) : "{}";
    return this.o.clients.plans.create(this.o.namespace, {
      metadata: {
        generateName: `${prefix}-`,
        labels: { [labels.createdBy]: "gateway", ...marks.labels },
        annotations: {
          [annotations.requestId]: req.requestId,
          ...marks.annotations,
          ...(client !== "{}" ? { [clientCapabilitiesAnnotation]: client } : {}),
        },
      },
      spec,
    });
  }

  /**
   * Waits for the Plan to finish, telling the client as its steps change:
   * progress out of the number of steps, as each finishes, and a message
   * for every step that starts or ends; and relaying the steps' questions to
   * the client. On a 2026 call a step's questions end the wait (the call's
   * input_required answer), and one the client cannot answer refuses the
   * call with -32021 as a single call's does, and cancels the plan: nobody
   * follows it any more.
   */
  private async follow(
    plan: Plan,
    req: CallRequest,
    log: Logger,
    ctx: PlanCallContext,
    resumed?: { task: string; answered: string[] },
  ): Promise<Followed> {
    const name = plan.metadata.name ?? "";
    const total = plan.spec.steps.length;
    const watch = new Informer(this.o.clients.plans, {
      namespace: this.o.namespace,
      fieldSelector: `metadata.name=${name}`,
      logger: log,
    });
    const seen = new Map<string, string>();
    let sent = -1;
    let seq = 0;
    const tell = (p: Plan) => {
      const finishedNow: string[] = [];
      for (const s of p.status?.steps ?? []) {
        if (seen.get(s.name) === s.phase) continue;
        seen.set(s.name, s.phase);
        if (s.phase === "Pending") continue;
        if (isStepFinished(s.phase)) finishedNow.push(`step ${s.name} ${s.phase}`);
        const data = { plan: name, step: s.name, phase: s.phase, task: s.task, reason: s.reason, message: s.message };
        const level = s.phase === "Failed" ? "warning" : "info";
        req.onMessage?.({ seq: ++seq, level, logger: runPlanToolName, data } as ToolMessage);
      }
      const done = (p.status?.steps ?? []).filter((s) => isStepFinished(s.phase)).length;
      if (done <= sent || !req.onProgress) return;
      const message =
        sent < 0 && done === 0
          ? `plan started: ${total} steps`
          : finishedNow.join(", ") || `${done} of ${total} steps finished`;
      sent = done;
      Promise.resolve(req.onProgress({ progress: done, total, message })).catch(logIgnored(log, "Sending progress"));
    };
    type Ended = { plan?: Plan; deleted?: true; asked?: Asked };
    let settle: (o: Ended) => void = () => {};
    const ended = new Promise<Ended>((resolve) => {
      settle = resolve;
    });
    const look = (p: Plan) => {
      tell(p);
      const phase = p.status?.phase;
      if (phase === "Succeeded" || phase === "Failed" || phase === "Cancelled") settle({ plan: p });
    };
    watch.on({ add: look, update: look, delete: () => settle({ deleted: true }) });
    const onAsked = (asked: Asked, t: Task) => {
      const step = t.metadata.labels?.[planLabels.step] ?? t.metadata.name;
      if (asked.kind === "refused") {
        const e = asked.error;
        settle({ asked: { kind: "refused", error: new CallError(e.code, `step ${step}: ${e.message}`, e.data) } });
        return;
      }
      // The client's retry names the step's Task, which it may continue only when the
      // controller recorded the plan's caller on it (a controller older than the gateway did not).
      if (madeBy(asked.task, req.caller)) {
        settle({ asked });
        return;
      }
      const message = `step ${step} asked the client for ${Object.keys(asked.requests).join(", ")}, but its Task does not record the plan's caller (its controller is older than this gateway), so a 2026-07-28 client's answers cannot reach it; run the plan over a 2025-11-25 session, or upgrade the controller`;
      log.warn({ task: t.metadata.name }, "Failing a step whose question cannot reach its 2026 client");
      ctx.store
        .cancelTask(asked.task, message, inputNotSupportedReason)
        .catch(logIgnored(log, "Failing a step whose question cannot reach its client"));
    };
    const steps = this.relay(name, req, log, ctx, onAsked, resumed);
    const cancel = () =>
      this.o.clients.plans
        .patch(this.o.namespace, name, { spec: { cancel: true } }, "merge")
        .catch(logIgnored(log, "Cancelling a Plan"));
    const onAbort = () => {
      if (this.draining) {
        log.info("Gateway stopping; the call's Plan carries on");
        return;
      }
      log.info("Client went away; cancelling the call's Plan");
      void cancel();
      settle({});
    };
    req.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (req.signal?.aborted) onAbort();
      else await Promise.all([steps?.start(), watch.start()]);
      const end = await ended;
      if (req.signal?.aborted) throw new CallError(errorCodes.internal, "the call was cancelled by the client");
      if (end.asked?.kind === "refused") {
        log.info("Cancelling the Plan of a call refused for a question its client cannot answer");
        void cancel();
        throw end.asked.error;
      }
      if (end.asked) return { input: end.asked };
      if (end.deleted || !end.plan) throw new Error("the call's Plan was deleted before it finished");
      return { plan: end.plan };
    } finally {
      req.signal?.removeEventListener("abort", onAbort);
      await Promise.all([steps?.stop(), watch.stop()]);
    }
  }

  /**
   * Hands every update of the plan's steps' Tasks to the call's relay of
   * questions: the 2025 session's (req.onTask: its SessionInput asks the
   * client and writes the answers on the Task), or on a 2026 call the core's
   * watch of each Task's questions, whose answer (questions to put to the
   * client, or a refusal) goes to `onAsked`. Nothing to watch for a call
   * that relays nothing (stdio).
   */
  private relay(
    plan: string,
    req: CallRequest,
    log: Logger,
    ctx: PlanCallContext,
    onAsked: (asked: Asked, t: Task) => void,
    resumed?: { task: string; answered: string[] },
  ): { start(): Promise<void>; stop(): Promise<void> } | undefined {
    const input = req.input;
    if (!req.onTask && !input) return undefined;
    const watches = new Map<string, QuestionWatch>();
    const see = (t: Task) => {
      req.onTask?.(t);
      if (!input) return;
      const name = t.metadata.name ?? "";
      let w = watches.get(name);
      if (!w) {
        // the keys the retry answered are its Task's only; answers the call came with answer any step
        const answered = name === resumed?.task ? resumed.answered : [];
        w = ctx.questions(t, { ...req, input: { given: input.given, answered } }, log.child({ task: name }));
        watches.set(name, w);
        const task = t;
        void w.asked.then((asked) => onAsked(asked, task));
      }
      w.seen(t);
    };
    const informer = new Informer(this.o.clients.tasks, {
      namespace: this.o.namespace,
      labelSelector: `${planLabels.plan}=${labelValue(plan)}`,
      logger: log,
    });
    informer.on({ add: see, update: see });
    return {
      start: () => informer.start(),
      stop: async () => {
        for (const w of watches.values()) w.close();
        await informer.stop();
      },
    };
  }

  /** The summary as the call's result: structured, and the same as JSON text; isError unless it succeeded. */
  private async result(plan: Plan): Promise<CallToolResult> {
    const status = plan.status ?? {};
    const dependedOn = new Set(plan.spec.steps.flatMap((s) => s.dependsOn ?? []));
    const results: Record<string, unknown> = {};
    for (const s of status.steps ?? []) {
      if (dependedOn.has(s.name) || s.phase !== "Succeeded" || !s.task) continue;
      try {
        results[s.name] = (await this.o.clients.tasks.get(this.o.namespace, s.task)).status?.result;
      } catch (err) {
        logIgnored(this.o.log, "Reading a step's result", { task: s.task })(err);
      }
    }
    const summary: PlanSummary = {
      plan: plan.metadata.name ?? "",
      phase: status.phase ?? "",
      counts: status.counts,
      steps: (status.steps ?? []).map((s) => ({
        name: s.name,
        phase: s.phase,
        ...(s.task ? { task: s.task } : {}),
        ...(s.reason ? { reason: s.reason } : {}),
        ...(s.message ? { message: s.message } : {}),
      })),
      context: (status.context ?? {}) as Record<string, unknown>,
      results,
    };
    return {
      content: [{ type: "text", text: JSON.stringify(summary) }],
      structuredContent: summary as unknown as Record<string, unknown>,
      ...(summary.phase === "Succeeded" ? {} : { isError: true }),
    };
  }
}

/**
 * The call core with conductor__run_plan in front: listed for callers who
 * may call it, answered by PlanCalls; every other call goes to the core.
 */
export class PlanCallCore extends CallCore {
  private readonly context: PlanCallContext;

  constructor(
    private readonly plans: PlanCalls,
    private readonly toolSource: ToolSource,
    deps: CallCoreDeps,
  ) {
    super(deps);
    this.context = {
      tools: toolSource,
      authorize: this.authorize,
      questions: (task, req, log) => this.questions(task, req, log),
      store: deps.store,
    };
  }

  override async list(caller: Caller): Promise<Record<string, unknown>[]> {
    const tools = await super.list(caller);
    if (this.toolSource.get(runPlanToolName) || !(await this.authorize(caller, runPlanToolName))) return tools;
    const t = runPlanTool;
    const listed = {
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: t.inputSchema,
      execution: { taskSupport: t.taskSupport },
    };
    return [...tools, listed].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  }

  override call(req: CallRequest): Promise<CallOutcome> {
    // An agent's or a server's tool of the same name (a server with the prefix "conductor__") comes first.
    if (req.name !== runPlanToolName || this.toolSource.get(runPlanToolName)) return super.call(req);
    return this.plans.call(req, this.context);
  }

  /** A 2026 plan call retried with the answers to a step's questions goes on with its Plan. */
  override resume(req: CallRequest, task: Task): Promise<CallOutcome> {
    if (req.name !== runPlanToolName || this.toolSource.get(runPlanToolName)) return super.resume(req, task);
    return this.plans.resume(req, task, this.context);
  }

  override drain(): void {
    super.drain();
    this.plans.drain();
  }
}

/** The gateway's call core: with plans when `plans` is given, else the plain core. */
export function callCore(plans: PlanCallsOptions | undefined, deps: CallCoreDeps): CallCore {
  return plans ? new PlanCallCore(new PlanCalls(plans), deps.tools, deps) : new CallCore(deps);
}
