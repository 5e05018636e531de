/**
 * The expression form of a Plan step's inputs: a small subset of JSONPath
 * (RFC 9535) that names one value of the plan's scope, which is
 *
 *   { steps: { <step>: { phase, result, error } }, context: { ... } }
 *
 * Grammar (docs/plans.md#inputs):
 *
 *   path    = "$" root part*
 *   root    = ".steps." step "." ("result" | "phase" | "error")  |  ".context"
 *   part    = "." name  |  "[" index "]"  |  "['" key "']"
 *   step    = a step name (a DNS label)
 *   name    = [A-Za-z_][A-Za-z0-9_-]*
 *   index   = -?[0-9]+          (negative counts from the end, -1 is the last)
 *   key     = any characters but '
 *
 * No wildcards, filters, slices or recursive descent: a path names one value
 * or nothing, so a step's input is never a surprise list. The CRD refuses a
 * malformed path with the same pattern (inputPathPattern), so kubectl apply
 * says what is wrong before anything runs; parsePath is the controller's and
 * the gateway's copy of that rule, and evaluate resolves a path when its
 * step starts.
 */

/** The pattern the CRD's rule for spec.steps[].inputs values matches; kept equal by a test. */
export const inputPathPattern =
  "^\\$(\\.steps\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.(result|phase|error)|\\.context)(\\.[A-Za-z_][A-Za-z0-9_-]*|\\[-?[0-9]+\\]|\\['[^']*'\\])*$";

export type PathPart = { name: string } | { index: number };

export interface ParsedPath {
  /** Where the path starts: a step's phase, result or error, or the context. */
  root: { step: string; field: "result" | "phase" | "error" } | { context: true };
  parts: PathPart[];
}

export type Parsed = { ok: true; path: ParsedPath } | { ok: false; error: string };

const stepName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const namePart = /^\.([A-Za-z_][A-Za-z0-9_-]*)/;
const indexPart = /^\[(-?[0-9]+)\]/;
const keyPart = /^\['([^']*)'\]/;

/** Parses a path, or says what is wrong with it and where. */
export function parsePath(expr: string): Parsed {
  const fail = (at: number, why: string): Parsed => ({ ok: false, error: `${why} at character ${at + 1} of ${expr}` });
  let rest: string;
  let root: ParsedPath["root"];
  if (expr.startsWith("$.context")) {
    root = { context: true };
    rest = expr.slice("$.context".length);
  } else if (expr.startsWith("$.steps.")) {
    const m = /^\$\.steps\.([^.[]+)\.(result|phase|error)(?=$|[.[])/.exec(expr);
    if (!m) return fail(8, "expected a step name then .result, .phase or .error");
    const step = m[1] as string;
    if (!stepName.test(step)) return fail(8, `"${step}" is not a step name`);
    root = { step, field: m[2] as "result" | "phase" | "error" };
    rest = expr.slice(m[0].length);
  } else {
    return fail(0, "a path starts with $.steps.<step>. or $.context");
  }
  const parts: PathPart[] = [];
  while (rest.length > 0) {
    const at = expr.length - rest.length;
    const name = namePart.exec(rest);
    const index = name ? undefined : indexPart.exec(rest);
    const key = name || index ? undefined : keyPart.exec(rest);
    if (name) parts.push({ name: name[1] as string });
    else if (index) parts.push({ index: Number(index[1]) });
    else if (key) parts.push({ name: key[1] as string });
    else return fail(at, "expected .name, [index] or ['key']");
    rest = rest.slice(((name ?? index ?? key) as RegExpExecArray)[0].length);
  }
  return { ok: true, path: { root, parts } };
}

/** What a step's inputs can see of an earlier step. */
export interface StepView {
  phase: string;
  result?: unknown;
  error?: unknown;
}

export interface Scope {
  steps: Record<string, StepView | undefined>;
  context: Record<string, unknown>;
}

export type Evaluated = { ok: true; value: unknown } | { ok: false; error: string };

/** The value a path names in the scope, or why there is none. */
export function evaluate(path: ParsedPath, scope: Scope): Evaluated {
  let value: unknown;
  let where: string;
  if ("context" in path.root) {
    value = scope.context;
    where = "$.context";
  } else {
    const { step, field } = path.root;
    const view = scope.steps[step];
    where = `$.steps.${step}.${field}`;
    if (!view) return { ok: false, error: `${where}: step ${step} has not finished` };
    value = view[field];
    if (value === undefined)
      return { ok: false, error: `${where}: step ${step} has no ${field} (it is ${view.phase})` };
  }
  for (const part of path.parts) {
    if ("index" in part) {
      if (!Array.isArray(value)) return { ok: false, error: `${where} is ${kindOf(value)}, not a list` };
      const i = part.index < 0 ? value.length + part.index : part.index;
      if (i < 0 || i >= value.length)
        return { ok: false, error: `${where}[${part.index}]: the list has ${value.length} items` };
      value = value[i];
      where += `[${part.index}]`;
    } else {
      if (value === null || typeof value !== "object" || Array.isArray(value))
        return { ok: false, error: `${where} is ${kindOf(value)}, not an object` };
      const obj = value as Record<string, unknown>;
      const shown = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(part.name) ? `.${part.name}` : `['${part.name}']`;
      if (!Object.hasOwn(obj, part.name)) return { ok: false, error: `${where} has no field ${shown}` };
      value = obj[part.name];
      where += shown;
    }
  }
  return { ok: true, value };
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** The step a path reads, if it reads one. */
export const stepOfPath = (path: ParsedPath): string | undefined => ("step" in path.root ? path.root.step : undefined);
