/**
 * What the controller, the gateway and agents share about Plans: the labels
 * on a step's Task, its name, the phases, and the shared context (how a step
 * adds to it, and its bound). docs/plans.md describes them for users.
 */
import { createHash } from "node:crypto";
import { labelValue } from "../kube/labels.ts";
import type { Plan } from "./resources.ts";

/** The labels the controller puts on a step's Task. */
export const planLabels = {
  /** `mcp.io/created-by=plan`: made by a Plan, not by the gateway or by hand. */
  createdBy: "mcp.io/created-by",
  /** The Plan's name (as a label value). */
  plan: "mcp.io/plan",
  /** The step's name. */
  step: "mcp.io/plan-step",
} as const;

export const createdByPlan = "plan";

export type PlanPhase = NonNullable<NonNullable<Plan["status"]>["phase"]>;
export type StepPhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Skipped";
export type StepState = NonNullable<NonNullable<Plan["status"]>["steps"]>[number];

/** Whether nothing more will happen to the plan's steps. */
export const isPlanFinished = (p: Plan): boolean =>
  p.status?.phase === "Succeeded" || p.status?.phase === "Failed" || p.status?.phase === "Cancelled";

export const isStepFinished = (phase: string | undefined): boolean =>
  phase === "Succeeded" || phase === "Failed" || phase === "Skipped";

/**
 * The key of a tool's result that adds to the plan's context when its step
 * succeeds: an object, merged into the context as a JSON merge patch (RFC
 * 7386: objects merge key by key, null removes a key).
 */
export const planContextKey = "planContext";

/**
 * The largest the shared context may be, as JSON. It lives in the Plan's
 * status, so in etcd: a step whose additions would take it over fails with
 * ContextTooLarge. Anything larger belongs in a step's result (read by its
 * dependants through inputs) or outside the cluster, with its address here.
 */
export const maxContextBytes = 64 * 1024;

/** The context a step's additions make of the one before: RFC 7386, JSON merge patch. */
export function mergeContext(
  context: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...context };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isObject(v) && isObject(out[k]))
      out[k] = mergeContext(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    else if (isObject(v)) out[k] = mergeContext({}, v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

const isObject = (v: unknown): boolean => v !== null && typeof v === "object" && !Array.isArray(v);

export const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v ?? {}));

/**
 * What a tool returns to add to its plan's context, beside its own result:
 *   return withPlanContext({ rows }, { owner: "ada" });
 * Outside a plan the key is an ordinary part of the result.
 */
export function withPlanContext<T extends Record<string, unknown>>(
  result: T,
  additions: Record<string, unknown>,
): T & { planContext: Record<string, unknown> } {
  return { ...result, [planContextKey]: additions } as T & { planContext: Record<string, unknown> };
}

/** Task names are DNS subdomains of at most 253 characters. */
const maxTaskName = 253;

/**
 * The name of a step's Task: `<plan>-<step>`, so a retried create finds the
 * one it made. A name that would be too long keeps the step and a hash of
 * the plan's name instead of all of it.
 */
export function stepTaskName(plan: string, step: string): string {
  const name = `${plan}-${step}`;
  if (name.length <= maxTaskName) return name;
  const hash = createHash("sha256").update(plan).digest("hex").slice(0, 10);
  const head = plan.slice(0, maxTaskName - step.length - hash.length - 2).replace(/[-.]+$/, "");
  return `${head}-${hash}-${step}`;
}

/** The labels of a step's Task, which select a plan's Tasks (kubectl get tasks -l mcp.io/plan=NAME). */
export function stepTaskLabels(plan: string, step: string): Record<string, string> {
  return { [planLabels.createdBy]: createdByPlan, [planLabels.plan]: labelValue(plan), [planLabels.step]: step };
}

/**
 * What a step's Task takes from its Plan: who made the call that runs the
 * plan (the gateway's caller marks: client, a digest of the caller's groups,
 * the caller's user) and what that client can answer. A step's questions then
 * reach that caller and only that caller, and a 2026 client's retry naming a
 * step's Task is that caller's to make (services/gateway/calls/marks.ts madeBy).
 * It grants nothing new: whoever may create a Plan may create Tasks with the
 * same marks.
 */
export const inheritedStepLabels = ["mcp.io/mcp-client", "mcp.io/caller-groups"] as const;
export const inheritedStepAnnotations = ["mcp.io/caller-user", "mcp.io/client-capabilities"] as const;

/** The entries of `from` under `keys`, those present only. */
export function picked(from: Record<string, string> | undefined, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (from?.[k] !== undefined) out[k] = from[k];
  return out;
}
