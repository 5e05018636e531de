import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { evaluate, inputPathPattern, parsePath, type Scope } from "./plan-expressions.ts";

const scope: Scope = {
  steps: {
    parse: {
      phase: "Succeeded",
      result: {
        rows: [
          { name: "ada", n: 1 },
          { name: "bob", n: 2 },
        ],
        count: 2,
      },
    },
    odd: { phase: "Succeeded", result: { "a b": { "x.y": 7 }, nothing: null } },
    broken: { phase: "Failed", error: { reason: "InvalidInput", message: "bad csv" } },
  },
  context: { owner: "ada", tags: ["x", "y"] },
};

describe("parsePath and evaluate", () => {
  test.each([
    { name: "a step's whole result", expr: "$.steps.parse.result", want: scope.steps.parse?.result },
    { name: "a field", expr: "$.steps.parse.result.count", want: 2 },
    { name: "an index, then a field", expr: "$.steps.parse.result.rows[1].name", want: "bob" },
    { name: "a negative index counts from the end", expr: "$.steps.parse.result.rows[-1].n", want: 2 },
    { name: "a quoted key with spaces and dots", expr: "$.steps.odd.result['a b']['x.y']", want: 7 },
    { name: "null is a value", expr: "$.steps.odd.result.nothing", want: null },
    { name: "a step's phase", expr: "$.steps.broken.phase", want: "Failed" },
    { name: "a failed step's error", expr: "$.steps.broken.error.reason", want: "InvalidInput" },
    { name: "the whole context", expr: "$.context", want: scope.context },
    { name: "a context field", expr: "$.context.tags[0]", want: "x" },
  ])("$name: $expr", ({ expr, want }) => {
    const parsed = parsePath(expr);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(evaluate(parsed.path, scope)).toEqual({ ok: true, value: want });
  });

  test.each([
    { expr: "steps.parse.result", says: "a path starts with $.steps.<step>. or $.context at character 1" },
    { expr: "$.step.parse.result", says: "a path starts with" },
    { expr: "$.steps.parse", says: "expected a step name then .result, .phase or .error at character 9" },
    { expr: "$.steps.parse.output", says: "expected a step name then .result" },
    { expr: "$.steps.Parse.result", says: '"Parse" is not a step name' },
    { expr: "$.contextual", says: "expected .name, [index] or ['key'] at character 10" },
    { expr: "$.steps.parse.result.rows[*]", says: "at character 26" },
    { expr: "$.steps.parse.result..name", says: "at character 21" },
    { expr: "$.context[1:2]", says: "at character 10" },
    { expr: '$.context["owner"]', says: "at character 10" },
    { expr: "$.context.", says: "at character 10" },
  ])("refuses $expr", ({ expr, says }) => {
    const parsed = parsePath(expr);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(says);
  });

  test.each([
    { expr: "$.steps.parse.result.rows[2]", says: "$.steps.parse.result.rows[2]: the list has 2 items" },
    { expr: "$.steps.parse.result.rows[-3]", says: "the list has 2 items" },
    { expr: "$.steps.parse.result.missing", says: "$.steps.parse.result has no field .missing" },
    { expr: "$.steps.parse.result.count.x", says: "$.steps.parse.result.count is a number, not an object" },
    { expr: "$.steps.parse.result.count[0]", says: "is a number, not a list" },
    { expr: "$.steps.odd.result.nothing.x", says: "is null, not an object" },
    { expr: "$.steps.broken.result", says: "step broken has no result (it is Failed)" },
    { expr: "$.steps.later.result", says: "step later has not finished" },
    { expr: "$.context.owner.name", says: "$.context.owner is a string, not an object" },
    { expr: "$.context['no such']", says: "$.context has no field ['no such']" },
  ])("names what is missing: $expr", ({ expr, says }) => {
    const parsed = parsePath(expr);
    if (!parsed.ok) throw new Error(parsed.error);
    const got = evaluate(parsed.path, scope);
    expect(got.ok).toBe(false);
    if (!got.ok) expect(got.error).toContain(says);
  });

  test("an inherited property is not a field", () => {
    const parsed = parsePath("$.context.constructor");
    if (!parsed.ok) throw new Error(parsed.error);
    expect(evaluate(parsed.path, scope).ok).toBe(false);
  });
});

describe("inputPathPattern", () => {
  test("is the pattern the CRD's rule for inputs matches", () => {
    const crd = readFileSync(join(import.meta.dir, "..", "..", "deploy", "crds", "mcp.io_plans.yaml"), "utf8");
    const rule = /self\.matches\(r"([^"]+)"\)/.exec(crd)?.[1];
    expect(rule).toBe(inputPathPattern);
  });

  // The CRD refuses at creation what the controller would refuse later: the two agree.
  test.each([
    "$.steps.parse.result",
    "$.steps.a-b.error.message",
    "$.context",
    "$.context['a b'][-1]._x",
    "$.steps.parse",
    "$.contextual",
    "$.steps.parse.result[*]",
    "steps.parse.result",
    "$.context['a'b']",
  ])("agrees with parsePath on %s", (expr) => {
    expect(new RegExp(inputPathPattern).test(expr)).toBe(parsePath(expr).ok);
  });
});
