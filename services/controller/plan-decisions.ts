/**
 * What should happen to a Plan next, decided from the Plan, its steps' Tasks
 * and the clock. Pure, so every rule is tested without a cluster; the plan
 * reconciler carries the decision out: it creates the Tasks, cancels, writes
 * the status this returns and records its Events.
 *
 * A step's phase follows its Task once it has one (Running until the Task
 * finished: Completed is Succeeded, failed for good is Failed); before that
 * it is Pending until every step it dependsOn finished, then
 *   - Skipped when one of them was Skipped, or Failed with onFailure
 *     SkipDependants (so skipping runs down the graph);
 *   - Failed (InputUnresolved) when an input names nothing;
 *   - else started: its Task is created with the inputs put in its payload.
 * A step Failed with onFailure FailPlan stops the plan as Tekton and Argo
 * do: nothing starts after it, the steps running finish, the rest are
 * Skipped. spec.cancel stops it too, and cancels the running steps' Tasks
 * (failed for good with reason Cancelled, as the gateway cancels a call).
 * Once every step finished the plan is Succeeded when no step failed but
 * with onFailure Continue, Cancelled when cancelled, else Failed; it is
 * deleted ttlSecondsAfterFinished later, its Tasks with it (the garbage
 * collector, through their owner reference).
 *
 * A step that succeeds adds its result's planContext to the shared context
 * (JSON merge patch) once, when its success is recorded; additions that
 * would take the context over maxContextBytes fail the step instead.
 */
import { evaluate, parsePath, type Scope, type StepView } from "../../lib/api/plan-expressions.ts";
import {
  inheritedStepAnnotations,
  inheritedStepLabels,
  isPlanFinished,
  isStepFinished,
  jsonBytes,
  maxContextBytes,
  mergeContext,
  type PlanPhase,
  picked,
  planContextKey,
  planLabels,
  type StepPhase,
  type StepState,
  stepTaskLabels,
  stepTaskName,
} from "../../lib/api/plan-state.ts";
import { invalidPlanReasons, planProblems, stepOrder } from "../../lib/api/plan-validation.ts";
import type { Plan, PlanSpecStepsItem, PlanStatus, Task } from "../../lib/api/resources.ts";
import { apiVersion } from "../../lib/api/resources.ts";
import { isFinallyFailed, keptSeconds } from "../../lib/api/task-state.ts";
import { setCondition } from "../../lib/controller/conditions.ts";

export const planConditions = {
  /** True when the spec can run; False with the reason (a cycle, a bad input) when it cannot. */
  accepted: "Accepted",
  /** Unknown while steps run, True when the plan succeeded, False when it failed or was cancelled. */
  succeeded: "Succeeded",
} as const;

export const planReasons = {
  valid: "Valid",
  running: "Running",
  /** A FailPlan step failed or the plan is cancelled: waiting for the steps still running. */
  stopping: "Stopping",
  allStepsSucceeded: "AllStepsSucceeded",
  stepFailed: "StepFailed",
  cancelled: "Cancelled",
  invalid: "Invalid",
} as const;

/** Reasons on a step's state. */
export const stepReasons = {
  waitingForTool: "WaitingForTool",
  dependencyFailed: "DependencyFailed",
  dependencySkipped: "DependencySkipped",
  planStopped: "PlanStopped",
  cancelled: "Cancelled",
  inputUnresolved: "InputUnresolved",
  contextTooLarge: "ContextTooLarge",
  invalidPlanContext: "InvalidPlanContext",
  taskDeleted: "TaskDeleted",
} as const;

/** The reason a cancelled step's Task fails with: the gateway's, so MCP clients see a cancelled task. */
export const cancelledTaskReason = "Cancelled";

/**
 * A finished step's Task is kept until the garbage collector deletes it with
 * its Plan (the Plan's own TTL says when): a later step may still read its
 * result. A week, not a Task's longest TTL (a year): the controller's work
 * queue waits with setTimeout, which cannot wait longer than 24.8 days.
 */
export const stepTaskTtlSeconds = 7 * 24 * 3600;

/**
 * The longest a finished plan waits before it is looked at again: the work
 * queue waits with setTimeout, which fires at once when asked to wait longer
 * than 24.8 days, and a TTL may be a year.
 */
export const maxWaitMs = 24 * 3600_000;

/** How often a step waiting for an Agent that declares its tool looks again. */
export const waitForToolMs = 5_000;

export interface PlanView {
  /** The step's Task, if one made for this plan exists. */
  taskOf(step: string): Task | undefined;
  /** The capability an Agent of the domain declares the tool with, if any does. */
  capabilityOf(tool: string): string | undefined;
  /** For plans that name no ttlSecondsAfterFinished. */
  defaultTtlSeconds: number;
  /** The least time a finished plan is kept, whatever it asks for. */
  minTtlSeconds?: number;
}

export interface PlanEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export type PlanDecision =
  | { kind: "wait"; requeueAfterMs?: number }
  | { kind: "delete" }
  | {
      kind: "update";
      status: PlanStatus;
      /** Tasks to create, for steps that start now. */
      create: Task[];
      /** Unfinished Tasks to fail for good with reason Cancelled. */
      cancel: { task: Task; message: string }[];
      events: PlanEvent[];
      requeueAfterMs?: number;
    };

const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : Number.NaN);

export function decidePlan(plan: Plan, now: number, view: PlanView): PlanDecision {
  const status = plan.status ?? {};
  if (isPlanFinished(plan)) {
    const ttl = keptSeconds(plan.spec.ttlSecondsAfterFinished, view);
    const finishedAt = ms(status.completionTime);
    if (Number.isNaN(finishedAt)) return { kind: "wait" };
    const left = finishedAt + ttl * 1000 - now;
    return left <= 0 ? { kind: "delete" } : { kind: "wait", requeueAfterMs: Math.min(left, maxWaitMs) };
  }
  const at = new Date(now);
  const problems = planProblems(plan.spec);
  if (problems.length > 0) return rejected(plan, problems, at);
  return new Pass(plan, at, view).run();
}

/** A plan that cannot run: Failed at once, every step Skipped, nothing created. */
function rejected(plan: Plan, problems: ReturnType<typeof planProblems>, at: Date): PlanDecision {
  const first = problems[0] as (typeof problems)[number];
  const message = problems.map((p) => p.message).join("; ");
  const gen = plan.metadata.generation;
  const steps = plan.spec.steps.map(
    (s): StepState => ({ name: s.name, phase: "Skipped", reason: planReasons.invalid, message: "the plan is invalid" }),
  );
  let conditions = setCondition(
    plan.status?.conditions,
    { type: planConditions.accepted, status: "False", reason: first.reason, message },
    at,
    gen,
  );
  conditions = setCondition(
    conditions,
    { type: planConditions.succeeded, status: "False", reason: planReasons.invalid, message },
    at,
    gen,
  );
  const status: PlanStatus = {
    ...summary(steps),
    phase: "Failed",
    observedGeneration: gen,
    startTime: plan.status?.startTime ?? at.toISOString(),
    completionTime: at.toISOString(),
    steps,
    context: plan.status?.context ?? {},
    conditions,
  };
  return {
    kind: "update",
    status,
    create: [],
    cancel: [],
    events: [{ type: "Warning", reason: first.reason, message }],
  };
}

/** Counts and progress of the steps' states. */
function summary(steps: StepState[]): Pick<PlanStatus, "counts" | "progress"> {
  const n = (p: StepPhase) => steps.filter((s) => s.phase === p).length;
  const done = n("Succeeded") + n("Failed") + n("Skipped");
  return {
    progress: `${done}/${steps.length}`,
    counts: {
      total: steps.length,
      pending: n("Pending"),
      running: n("Running"),
      succeeded: n("Succeeded"),
      failed: n("Failed"),
      skipped: n("Skipped"),
    },
  };
}

/** One decision over a valid plan: the steps' states in dependency order, then the plan's. */
class Pass {
  private readonly prev: Map<string, StepState>;
  private readonly states = new Map<string, StepState>();
  private readonly bySpec: Map<string, PlanSpecStepsItem>;
  private context: Record<string, unknown>;
  private readonly create: Task[] = [];
  private readonly cancel: { task: Task; message: string }[] = [];
  private readonly events: PlanEvent[] = [];
  private requeueAfterMs: number | undefined;
  private readonly nowIso: string;
  /** The FailPlan step whose failure stops the plan, once one failed. */
  private stoppedBy: StepState | undefined;

  constructor(
    private readonly plan: Plan,
    private readonly at: Date,
    private readonly view: PlanView,
  ) {
    this.prev = new Map((plan.status?.steps ?? []).map((s) => [s.name, s]));
    this.bySpec = new Map(plan.spec.steps.map((s) => [s.name, s]));
    this.context = (plan.status?.context ?? plan.spec.context ?? {}) as Record<string, unknown>;
    this.nowIso = at.toISOString();
  }

  run(): PlanDecision {
    const cancelling = this.plan.spec.cancel === true;
    const order = stepOrder(this.plan.spec.steps);
    for (const s of order) this.states.set(s.name, this.observe(s));
    this.stoppedBy = order.map((s) => this.states.get(s.name) as StepState).find((st) => this.stops(st));
    for (const s of order) {
      const st = this.states.get(s.name) as StepState;
      if (st.phase === "Pending") this.states.set(s.name, this.advance(s, cancelling));
      else if (st.phase === "Running" && cancelling) {
        const task = this.view.taskOf(s.name) as Task;
        this.cancel.push({ task, message: `plan ${this.plan.metadata.name} was cancelled` });
      }
      // A step that failed just now (its input) may stop the plan: nothing after it starts.
      if (!this.stoppedBy && this.stops(this.states.get(s.name) as StepState)) this.stoppedBy = this.states.get(s.name);
    }
    if (this.stoppedBy) this.unstart();
    const steps = this.plan.spec.steps.map((s) => this.states.get(s.name) as StepState);
    this.recordStepEvents(steps);
    return {
      kind: "update",
      status: this.status(steps, cancelling),
      create: this.create,
      cancel: this.cancel,
      events: this.events,
      ...(this.requeueAfterMs !== undefined ? { requeueAfterMs: this.requeueAfterMs } : {}),
    };
  }

  /** A step failed with onFailure FailPlan. */
  private stops(st: StepState): boolean {
    return st.phase === "Failed" && (this.bySpec.get(st.name)?.onFailure ?? "FailPlan") === "FailPlan";
  }

  /** The step's state from what was recorded and its Task. */
  private observe(s: PlanSpecStepsItem): StepState {
    const before = this.prev.get(s.name);
    // Recorded as finished: final (its context additions, if any, are in the context already).
    if (before && isStepFinished(before.phase)) return before;
    const task = this.view.taskOf(s.name);
    if (!task) {
      if (before?.phase === "Running")
        return this.finished(s, "Failed", stepReasons.taskDeleted, `its Task ${before.task} was deleted`, before);
      return before ?? { name: s.name, phase: "Pending" };
    }
    const running: StepState = {
      name: s.name,
      phase: "Running",
      task: task.metadata.name,
      startTime: before?.startTime ?? task.metadata.creationTimestamp ?? this.nowIso,
    };
    if (task.status?.phase === "Completed") return this.succeeded(s, task, running);
    if (isFinallyFailed(task)) {
      const e = task.status?.error;
      const reason = e?.reason ?? "Failed";
      return this.finished(s, "Failed", reason, e?.message ?? "its Task failed", running, task);
    }
    return running;
  }

  /** A step whose Task completed: its context additions merged, if they fit. */
  private succeeded(s: PlanSpecStepsItem, task: Task, running: StepState): StepState {
    const additions = task.status?.result?.[planContextKey];
    if (additions !== undefined) {
      if (additions === null || typeof additions !== "object" || Array.isArray(additions))
        return this.finished(
          s,
          "Failed",
          stepReasons.invalidPlanContext,
          `its result's ${planContextKey} is not an object`,
          running,
          task,
        );
      const next = mergeContext(this.context, additions as Record<string, unknown>);
      const size = jsonBytes(next);
      if (size > maxContextBytes)
        return this.finished(
          s,
          "Failed",
          stepReasons.contextTooLarge,
          `its ${planContextKey} would make the context ${size} bytes; the bound is ${maxContextBytes}`,
          running,
          task,
        );
      this.context = next;
    }
    return this.finished(s, "Succeeded", undefined, undefined, running, task);
  }

  private finished(
    s: PlanSpecStepsItem,
    phase: StepPhase,
    reason: string | undefined,
    message: string | undefined,
    base?: StepState,
    task?: Task,
  ): StepState {
    return {
      name: s.name,
      phase,
      ...(base?.task ? { task: base.task } : {}),
      ...(reason ? { reason } : {}),
      ...(message ? { message: message.slice(0, 1024) } : {}),
      ...(base?.startTime ? { startTime: base.startTime } : {}),
      completionTime: task?.status?.completionTime ?? this.nowIso,
    };
  }

  /** A step not started: still waiting, skipped, failed on its inputs, or started now. */
  private advance(s: PlanSpecStepsItem, cancelling: boolean): StepState {
    const pending = this.prev.get(s.name) ?? { name: s.name, phase: "Pending" };
    if (cancelling)
      return this.finished(s, "Skipped", stepReasons.cancelled, "the plan was cancelled before it started");
    const deps = (s.dependsOn ?? []).map((d) => this.states.get(d) as StepState);
    if (deps.some((d) => !isStepFinished(d.phase))) return { name: s.name, phase: "Pending" };
    if (this.stoppedBy)
      return this.finished(
        s,
        "Skipped",
        stepReasons.planStopped,
        `step ${this.stoppedBy.name} failed and stops the plan (onFailure FailPlan)`,
      );
    const skipped = deps.find((d) => d.phase === "Skipped");
    if (skipped) return this.finished(s, "Skipped", stepReasons.dependencySkipped, `step ${skipped.name} was skipped`);
    const failed = deps.find((d) => d.phase === "Failed" && this.bySpec.get(d.name)?.onFailure === "SkipDependants");
    if (failed)
      return this.finished(
        s,
        "Skipped",
        stepReasons.dependencyFailed,
        `step ${failed.name} failed (onFailure SkipDependants)`,
      );
    const payload = this.payloadOf(s);
    if (typeof payload === "string") return this.finished(s, "Failed", stepReasons.inputUnresolved, payload);
    const capabilities = s.requiredCapabilities?.length
      ? s.requiredCapabilities
      : s.tool && this.view.capabilityOf(s.tool);
    if (!capabilities) {
      this.requeueAfterMs = waitForToolMs;
      return {
        ...pending,
        phase: "Pending",
        reason: stepReasons.waitingForTool,
        message: `no Agent of the domain declares tool ${s.tool}; waiting for one`,
      };
    }
    const task = this.taskFor(s, typeof capabilities === "string" ? [capabilities] : capabilities, payload);
    this.create.push(task);
    return { name: s.name, phase: "Running", task: task.metadata.name, startTime: this.nowIso };
  }

  /** The step's payload with its inputs put in, or why an input names nothing. */
  private payloadOf(s: PlanSpecStepsItem): Record<string, unknown> | string {
    const payload: Record<string, unknown> = { ...(s.payload ?? {}) };
    const inputs = Object.entries(s.inputs ?? {});
    if (inputs.length === 0) return payload;
    const scope: Scope = { steps: {}, context: this.context };
    for (const d of s.dependsOn ?? []) {
      const st = this.states.get(d) as StepState;
      const task = this.view.taskOf(d);
      const v: StepView = { phase: st.phase };
      if (st.phase === "Succeeded" && task?.status?.result !== undefined) v.result = task.status.result;
      if (st.phase === "Failed")
        v.error = task?.status?.error ?? { reason: st.reason ?? "Failed", message: st.message ?? "" };
      scope.steps[d] = v;
    }
    for (const [key, expr] of inputs) {
      const parsed = parsePath(expr ?? "");
      if (!parsed.ok) return `input ${key}: ${parsed.error}`;
      const got = evaluate(parsed.path, scope);
      if (!got.ok) return `input ${key}: ${got.error}`;
      payload[key] = got.value;
    }
    return payload;
  }

  private taskFor(s: PlanSpecStepsItem, capabilities: string[], payload: Record<string, unknown>): Task {
    const plan = this.plan;
    const name = plan.metadata.name ?? "";
    const annotations = picked(plan.metadata.annotations, inheritedStepAnnotations);
    return {
      metadata: {
        name: stepTaskName(name, s.name),
        namespace: plan.metadata.namespace,
        labels: { ...picked(plan.metadata.labels, inheritedStepLabels), ...stepTaskLabels(name, s.name) },
        ...(Object.keys(annotations).length ? { annotations } : {}),
        ownerReferences: [{ apiVersion, kind: "Plan", name, uid: plan.metadata.uid ?? "", controller: true }],
      },
      spec: {
        requiredCapabilities: capabilities,
        ...(s.tool ? { tool: s.tool } : {}),
        payload,
        ...(s.priority !== undefined ? { priority: s.priority } : {}),
        ...(s.retryPolicy ? { retryPolicy: s.retryPolicy } : {}),
        ttlSecondsAfterFinished: stepTaskTtlSeconds,
      },
    };
  }

  /** A FailPlan step failed: what was to start now stays unstarted, and is skipped. */
  private unstart(): void {
    const starting = new Set(this.create.map((t) => t.metadata.labels?.[planLabels.step]));
    this.create.length = 0;
    for (const name of starting) {
      const s = this.bySpec.get(name ?? "") as PlanSpecStepsItem;
      this.states.set(
        s.name,
        this.finished(
          s,
          "Skipped",
          stepReasons.planStopped,
          `step ${this.stoppedBy?.name} failed and stops the plan (onFailure FailPlan)`,
        ),
      );
    }
  }

  /** A Warning Event for each step that failed in this pass. */
  private recordStepEvents(steps: StepState[]): void {
    for (const st of steps) {
      if (st.phase !== "Failed" || this.prev.get(st.name)?.phase === "Failed") continue;
      const policy = this.bySpec.get(st.name)?.onFailure ?? "FailPlan";
      this.events.push({
        type: "Warning",
        reason: planReasons.stepFailed,
        message: `step ${st.name} failed (${st.reason}: ${st.message ?? ""}); onFailure ${policy}`,
      });
    }
  }

  private status(steps: StepState[], cancelling: boolean): PlanStatus {
    const plan = this.plan;
    const gen = plan.metadata.generation;
    const before = plan.status ?? {};
    const allDone = steps.every((s) => isStepFinished(s.phase));
    const fatal = steps.find(
      (s) => (s.phase === "Failed" && this.bySpec.get(s.name)?.onFailure !== "Continue") || s.phase === "Skipped",
    );
    const running = steps.filter((s) => s.phase === "Running").length;
    let phase: PlanPhase = "Running";
    let succeeded: { status: "True" | "False" | "Unknown"; reason: string; message: string };
    if (allDone && cancelling) {
      phase = "Cancelled";
      succeeded = { status: "False", reason: planReasons.cancelled, message: "the plan was cancelled" };
    } else if (allDone && fatal) {
      phase = "Failed";
      const failedStep = steps.find((s) => s.phase === "Failed" && this.bySpec.get(s.name)?.onFailure !== "Continue");
      succeeded = {
        status: "False",
        reason: planReasons.stepFailed,
        message: failedStep
          ? `step ${failedStep.name} failed: ${failedStep.message ?? failedStep.reason ?? ""}`
          : `step ${fatal.name} was skipped`,
      };
    } else if (allDone) {
      phase = "Succeeded";
      succeeded = { status: "True", reason: planReasons.allStepsSucceeded, message: `${steps.length} steps finished` };
    } else if (cancelling || this.stoppedBy) {
      succeeded = {
        status: "Unknown",
        reason: planReasons.stopping,
        message: `${cancelling ? "cancelled" : `step ${this.stoppedBy?.name} failed`}; waiting for ${running} running steps to finish`,
      };
    } else {
      succeeded = { status: "Unknown", reason: planReasons.running, message: `${running} steps running` };
    }
    let conditions = setCondition(
      before.conditions,
      { type: planConditions.accepted, status: "True", reason: planReasons.valid, message: `${steps.length} steps` },
      this.at,
      gen,
    );
    conditions = setCondition(conditions, { type: planConditions.succeeded, ...succeeded }, this.at, gen);
    if (!before.phase)
      this.events.push({ type: "Normal", reason: "Started", message: `running ${steps.length} steps` });
    // A finished plan is never decided on again (only its TTL is), so this is said once.
    if (phase !== "Running")
      this.events.push({
        type: phase === "Succeeded" || phase === "Cancelled" ? "Normal" : "Warning",
        reason: phase,
        message: succeeded.message,
      });
    return {
      ...summary(steps),
      phase,
      observedGeneration: gen,
      startTime: before.startTime ?? this.nowIso,
      ...(phase !== "Running" ? { completionTime: this.nowIso } : {}),
      steps,
      context: this.context,
      conditions,
    };
  }
}

export { invalidPlanReasons };
