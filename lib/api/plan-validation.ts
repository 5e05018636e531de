/**
 * Whether a Plan's spec can run, checked by the gateway before it creates
 * one and by the controller before it starts one. The CRD refuses most of
 * these itself (unique step names, dependsOn naming steps, input paths and
 * what they may read); a cycle, an input that also is a payload field and
 * an initial context over its bound are only found here, and make the
 * plan's condition Accepted False with a Warning Event. The checks are
 * repeated for plans made before the CRD had its rules and for the
 * gateway, which answers a bad plan without creating it.
 */
import { parsePath, stepOfPath } from "./plan-expressions.ts";
import { jsonBytes, maxContextBytes } from "./plan-state.ts";
import type { PlanSpec, PlanSpecStepsItem } from "./resources.ts";

/** Why a plan cannot run: the reasons of condition Accepted=False. */
export const invalidPlanReasons = {
  duplicateStep: "DuplicateStep",
  unknownDependency: "UnknownDependency",
  dependencyCycle: "DependencyCycle",
  invalidInput: "InvalidInput",
  inputShadowsPayload: "InputShadowsPayload",
  noTool: "NoTool",
  contextTooLarge: "ContextTooLarge",
} as const;

export interface PlanProblem {
  reason: (typeof invalidPlanReasons)[keyof typeof invalidPlanReasons];
  message: string;
}

/** Everything wrong with a plan's spec, in the order of its steps; empty when it can run. */
export function planProblems(spec: Pick<PlanSpec, "steps" | "context">): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const r = invalidPlanReasons;
  const names = new Set<string>();
  for (const s of spec.steps) {
    if (names.has(s.name)) problems.push({ reason: r.duplicateStep, message: `two steps are named ${s.name}` });
    names.add(s.name);
  }
  for (const s of spec.steps) {
    if (!s.tool && !s.requiredCapabilities?.length)
      problems.push({ reason: r.noTool, message: `step ${s.name} names neither a tool nor requiredCapabilities` });
    for (const d of s.dependsOn ?? []) {
      if (d === s.name) problems.push({ reason: r.dependencyCycle, message: `step ${s.name} depends on itself` });
      else if (!names.has(d))
        problems.push({ reason: r.unknownDependency, message: `step ${s.name} depends on ${d}, which is no step` });
    }
    for (const [key, expr] of Object.entries(s.inputs ?? {})) {
      const where = `step ${s.name} input ${key}`;
      if (s.payload && Object.hasOwn(s.payload, key))
        problems.push({ reason: r.inputShadowsPayload, message: `${where} is also in its payload; give it once` });
      const parsed = parsePath(expr ?? "");
      if (!parsed.ok) {
        problems.push({ reason: r.invalidInput, message: `${where}: ${parsed.error}` });
        continue;
      }
      const from = stepOfPath(parsed.path);
      if (from !== undefined && !(s.dependsOn ?? []).includes(from))
        problems.push({
          reason: r.invalidInput,
          message: `${where} reads step ${from}, which is not in its dependsOn`,
        });
    }
  }
  const cycle = findCycle(spec.steps);
  // A step depending on itself was named above.
  if (cycle && cycle.length > 2)
    problems.push({ reason: r.dependencyCycle, message: `dependencies form a cycle: ${cycleText(cycle)}` });
  const size = spec.context ? jsonBytes(spec.context) : 0;
  if (size > maxContextBytes)
    problems.push({
      reason: r.contextTooLarge,
      message: `spec.context is ${size} bytes as JSON; the bound is ${maxContextBytes}`,
    });
  return problems;
}

/** "a depends on b, which depends on a" */
const cycleText = (cycle: string[]): string => `${cycle[0]} depends on ${cycle.slice(1).join(", which depends on ")}`;

/**
 * A cycle of dependencies, as the steps around it, each depending on the
 * next, with the first repeated at the end ([a, b, a]), or undefined when the steps form a DAG.
 * Dependencies on unknown steps are ignored here (planProblems names them).
 */
export function findCycle(steps: Pick<PlanSpecStepsItem, "name" | "dependsOn">[]): string[] | undefined {
  const deps = new Map(steps.map((s) => [s.name, s.dependsOn ?? []]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === "done") return undefined;
    if (state.get(name) === "visiting") return [...path.slice(path.indexOf(name)), name];
    state.set(name, "visiting");
    path.push(name);
    for (const d of deps.get(name) ?? []) {
      if (!deps.has(d)) continue;
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(name, "done");
    return undefined;
  };
  for (const s of steps) {
    const cycle = visit(s.name);
    if (cycle) return cycle;
  }
  return undefined;
}

/** The steps in an order where each comes after every step it depends on (for a plan without a cycle). */
export function stepOrder<S extends Pick<PlanSpecStepsItem, "name" | "dependsOn">>(steps: S[]): S[] {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const placed = new Set<string>();
  const out: S[] = [];
  const place = (s: S) => {
    if (placed.has(s.name)) return;
    placed.add(s.name);
    for (const d of s.dependsOn ?? []) {
      const dep = byName.get(d);
      if (dep) place(dep);
    }
    out.push(s);
  };
  for (const s of steps) place(s);
  return out;
}
