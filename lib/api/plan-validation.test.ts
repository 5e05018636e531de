import { describe, expect, test } from "bun:test";
import { mergeContext, stepTaskName } from "./plan-state.ts";
import { findCycle, planProblems, stepOrder } from "./plan-validation.ts";
import type { PlanSpec, PlanSpecStepsItem } from "./resources.ts";

const step = (name: string, more: Partial<PlanSpecStepsItem> = {}): PlanSpecStepsItem => ({ name, tool: "t", ...more });

describe("planProblems", () => {
  test("a valid plan with fan-out and fan-in has none", () => {
    const spec: PlanSpec = {
      steps: [
        step("a"),
        step("b", { dependsOn: ["a"], inputs: { rows: "$.steps.a.result.rows" } }),
        step("c", { dependsOn: ["a"], inputs: { who: "$.context.owner" } }),
        step("d", { dependsOn: ["b", "c"], inputs: { n: "$.steps.b.result.count", why: "$.steps.c.error" } }),
      ],
      context: { owner: "ada" },
    };
    expect(planProblems(spec)).toEqual([]);
  });

  test.each([
    {
      name: "two steps of one name",
      steps: [step("a"), step("a")],
      want: { reason: "DuplicateStep", message: "two steps are named a" },
    },
    {
      name: "neither tool nor capabilities",
      steps: [{ name: "a" }],
      want: { reason: "NoTool", message: "step a names neither a tool nor requiredCapabilities" },
    },
    {
      name: "a dependency on no step",
      steps: [step("a", { dependsOn: ["zz"] })],
      want: { reason: "UnknownDependency", message: "step a depends on zz, which is no step" },
    },
    {
      name: "a step depending on itself",
      steps: [step("a", { dependsOn: ["a"] })],
      want: { reason: "DependencyCycle", message: "step a depends on itself" },
    },
    {
      name: "a cycle of three",
      steps: [step("a", { dependsOn: ["c"] }), step("b", { dependsOn: ["a"] }), step("c", { dependsOn: ["b"] })],
      want: {
        reason: "DependencyCycle",
        message: "dependencies form a cycle: a depends on c, which depends on b, which depends on a",
      },
    },
    {
      name: "a malformed input",
      steps: [step("a", { inputs: { x: "$.steps.a" } })],
      want: { reason: "InvalidInput", message: "step a input x: expected a step name then .result" },
    },
    {
      name: "an input from a step not depended on",
      steps: [step("a"), step("b", { inputs: { x: "$.steps.a.result" } })],
      want: { reason: "InvalidInput", message: "step b input x reads step a, which is not in its dependsOn" },
    },
    {
      name: "an input that is also in the payload",
      steps: [step("a", { payload: { x: 1 }, inputs: { x: "$.context" } })],
      want: { reason: "InputShadowsPayload", message: "step a input x is also in its payload; give it once" },
    },
    {
      name: "an initial context over 64 KiB",
      steps: [step("a")],
      context: { big: "x".repeat(70_000) },
      want: { reason: "ContextTooLarge", message: "spec.context is 70010 bytes as JSON; the bound is 65536" },
    },
  ])("$name", ({ steps, context, want }) => {
    const problems = planProblems({ steps, context } as unknown as PlanSpec);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.reason).toBe(want.reason);
    expect(problems[0]?.message).toStartWith(want.message);
  });
});

describe("findCycle and stepOrder", () => {
  test("no cycle in a diamond; the order puts each step after its dependencies", () => {
    const steps = [step("d", { dependsOn: ["b", "c"] }), step("b", { dependsOn: ["a"] }), step("c"), step("a")];
    expect(findCycle(steps)).toBeUndefined();
    const order = stepOrder(steps).map((s) => s.name);
    expect(order).toEqual(["a", "b", "c", "d"]);
  });

  test("a cycle is named from where it was entered, each step depending on the next", () => {
    expect(findCycle([step("x"), step("a", { dependsOn: ["b"] }), step("b", { dependsOn: ["a"] })])).toEqual([
      "a",
      "b",
      "a",
    ]);
  });
});

describe("mergeContext (RFC 7386)", () => {
  test.each([
    { name: "adds a key", given: { a: 1 }, patch: { b: 2 }, want: { a: 1, b: 2 } },
    { name: "replaces a value", given: { a: 1 }, patch: { a: [1] }, want: { a: [1] } },
    { name: "null removes a key", given: { a: 1, b: 2 }, patch: { a: null }, want: { b: 2 } },
    {
      name: "objects merge deeply",
      given: { o: { x: 1, y: 2 } },
      patch: { o: { y: null, z: 3 } },
      want: { o: { x: 1, z: 3 } },
    },
    { name: "an object replaces a scalar", given: { o: 1 }, patch: { o: { x: null, y: 1 } }, want: { o: { y: 1 } } },
  ])("$name", ({ given, patch, want }) => {
    const before = structuredClone(given);
    expect(mergeContext(given, patch)).toEqual(want);
    expect(given).toEqual(before);
  });
});

describe("stepTaskName", () => {
  test("is the plan and the step, or a hash of a long plan name with the step", () => {
    expect(stepTaskName("report", "fetch")).toBe("report-fetch");
    const long = stepTaskName("p".repeat(250), "fetch");
    expect(long.length).toBeLessThanOrEqual(253);
    expect(long).toEndWith("-fetch");
    expect(long).not.toBe(stepTaskName(`${"p".repeat(249)}q`, "fetch"));
  });
});
