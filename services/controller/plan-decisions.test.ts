import { describe, expect, test } from "bun:test";
import { clientCapabilitiesAnnotation } from "../../lib/agent/tool.ts";
import { stepTaskName } from "../../lib/api/plan-state.ts";
import type { Plan, PlanSpecStepsItem, PlanStatus, Task } from "../../lib/api/resources.ts";
import { annotations as callAnnotations, callerMarks, labels as callLabels, madeBy } from "../gateway/calls/marks.ts";
import { decidePlan, type PlanDecision, stepTaskTtlSeconds, waitForToolMs } from "./plan-decisions.ts";

const NOW = Date.parse("2026-01-01T00:10:00Z");
const iso = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();

const step = (name: string, more: Partial<PlanSpecStepsItem> = {}): PlanSpecStepsItem => ({
  name,
  tool: "csv_to_json",
  ...more,
});

const plan = (steps: PlanSpecStepsItem[], more: Partial<Plan["spec"]> = {}, status?: PlanStatus): Plan => ({
  metadata: { name: "p", namespace: "ns", uid: "uid-p", generation: 1 },
  spec: { steps, ...more },
  ...(status ? { status } : {}),
});

/** A step's Task in a phase; Failed is failed for good unless `retrying`. */
function task(
  stepName: string,
  phase: "Pending" | "Running" | "Completed" | "Failed",
  more: { result?: Record<string, unknown>; reason?: string; retrying?: boolean } = {},
): Task {
  const failed = phase === "Failed";
  return {
    metadata: { name: stepTaskName("p", stepName), namespace: "ns", creationTimestamp: iso(-5000) },
    spec: { requiredCapabilities: ["data-processing"] },
    status: {
      phase,
      ...(phase === "Completed" ? { result: more.result ?? {}, completionTime: iso(-1000) } : {}),
      ...(failed
        ? {
            error: { reason: more.reason ?? "InvalidInput", message: "bad input", retryable: false },
            conditions: more.retrying
              ? []
              : [{ type: "Failed", status: "True" as const, reason: more.reason ?? "NotRetryable", message: "x" }],
            completionTime: iso(-1000),
          }
        : {}),
    },
  };
}

const capabilities: Record<string, string> = { csv_to_json: "data-processing", query_records: "data-processing" };

function decide(p: Plan, tasks: Record<string, Task> = {}, caps = capabilities): PlanDecision {
  return decidePlan(p, NOW, {
    taskOf: (s) => tasks[s],
    capabilityOf: (tool) => caps[tool],
    defaultTtlSeconds: 3600,
  });
}

/** The update a decision makes, or a failed expectation. */
function update(d: PlanDecision) {
  if (d.kind !== "update") throw new Error(`expected an update, got ${d.kind}`);
  return d;
}

const phases = (d: PlanDecision) => Object.fromEntries((update(d).status.steps ?? []).map((s) => [s.name, s.phase]));
const created = (d: PlanDecision) => update(d).create.map((t) => t.metadata.labels?.["mcp.io/plan-step"]);
const condition = (d: PlanDecision, type: string) => update(d).status.conditions?.find((c) => c.type === type);

/** The status a first pass recorded: the steps Running that have Tasks, the rest Pending. */
function recorded(p: Plan, tasks: Record<string, Task>, more: Partial<PlanStatus> = {}): Plan {
  const first = update(decide({ ...p, status: undefined }, tasks));
  return { ...p, status: { ...first.status, ...more } };
}

describe("decidePlan: starting steps", () => {
  const chain = plan([step("a"), step("b", { dependsOn: ["a"], inputs: { rows: "$.steps.a.result.rows" } })]);

  test("a new plan starts the steps that depend on nothing, and only those", () => {
    const d = update(decide(chain));
    expect(created(d)).toEqual(["a"]);
    expect(phases(d)).toEqual({ a: "Running", b: "Pending" });
    expect(d.status).toMatchObject({
      phase: "Running",
      progress: "0/2",
      counts: { total: 2, pending: 1, running: 1, succeeded: 0, failed: 0, skipped: 0 },
      startTime: iso(0),
      observedGeneration: 1,
    });
    expect(condition(d, "Accepted")).toMatchObject({ status: "True", reason: "Valid", observedGeneration: 1 });
    expect(condition(d, "Succeeded")).toMatchObject({ status: "Unknown", reason: "Running" });
    expect(d.events).toEqual([{ type: "Normal", reason: "Started", message: "running 2 steps" }]);
  });

  test("a step's Task is owned by the plan, labelled, kept for the plan's life, with the step's settings", () => {
    const p = plan([step("a", { payload: { csv: "x" }, priority: 8, retryPolicy: { maxRetries: 0 } })]);
    const [t] = update(decide(p)).create;
    expect(t).toEqual({
      metadata: {
        name: "p-a",
        namespace: "ns",
        labels: { "mcp.io/created-by": "plan", "mcp.io/plan": "p", "mcp.io/plan-step": "a" },
        ownerReferences: [{ apiVersion: "mcp.io/v1", kind: "Plan", name: "p", uid: "uid-p", controller: true }],
      },
      spec: {
        requiredCapabilities: ["data-processing"],
        tool: "csv_to_json",
        payload: { csv: "x" },
        priority: 8,
        retryPolicy: { maxRetries: 0 },
        ttlSecondsAfterFinished: stepTaskTtlSeconds,
      },
    });
  });

  test("a step's Task takes the caller and the client's capabilities from its Plan, and nothing else", () => {
    const marks = callerMarks({ client: "cli", subject: { user: "alice", groups: ["team-a"] } });
    const p = plan([step("a")]);
    p.metadata.labels = { ...marks.labels, [callLabels.createdBy]: "gateway", [callLabels.tool]: "x", other: "y" };
    p.metadata.annotations = {
      ...marks.annotations,
      [clientCapabilitiesAnnotation]: '{"sampling":{}}',
      [callAnnotations.requestId]: "7",
    };
    const [t] = update(decide(p)).create;
    expect(t?.metadata.labels).toEqual({
      ...marks.labels,
      "mcp.io/created-by": "plan",
      "mcp.io/plan": "p",
      "mcp.io/plan-step": "a",
    });
    expect(t?.metadata.annotations).toEqual({
      ...marks.annotations,
      [clientCapabilitiesAnnotation]: '{"sampling":{}}',
    });
    // the gateway's own check: the step's Task was made by the plan's caller
    expect(madeBy(t as Task, { client: "cli", subject: { user: "alice", groups: ["team-a"] } })).toBe(true);
    expect(madeBy(t as Task, { client: "cli", subject: { user: "bob", groups: ["team-a"] } })).toBe(false);
  });

  test("a step that names its capabilities needs no Agent to declare its tool", () => {
    const p = plan([step("a", { tool: undefined, requiredCapabilities: ["gpu"] })]);
    expect(update(decide(p, {}, {})).create[0]?.spec).toMatchObject({ requiredCapabilities: ["gpu"] });
  });

  test("a step whose tool no Agent declares waits, and looks again", () => {
    const d = update(decide(plan([step("a", { tool: "ocr" })])));
    expect(d.create).toEqual([]);
    expect(d.requeueAfterMs).toBe(waitForToolMs);
    expect(d.status.steps?.[0]).toMatchObject({ phase: "Pending", reason: "WaitingForTool" });
  });

  test("a step starts when its dependency completed, with the input taken from its result", () => {
    const a = task("a", "Completed", { result: { rows: [{ x: 1 }], count: 1 } });
    const d = update(decide(recorded(chain, { a: task("a", "Running") }), { a }));
    expect(phases(d)).toEqual({ a: "Succeeded", b: "Running" });
    expect(update(d).create[0]?.spec.payload).toEqual({ rows: [{ x: 1 }] });
    expect(d.status.steps?.[0]).toMatchObject({ task: "p-a", completionTime: iso(-1000), startTime: iso(-5000) });
  });

  test("a Task failed but to be retried keeps its step Running", () => {
    const d = decide(recorded(chain, { a: task("a", "Running") }), { a: task("a", "Failed", { retrying: true }) });
    expect(phases(d)).toEqual({ a: "Running", b: "Pending" });
  });

  test("fan-in: a step waits for every dependency", () => {
    const p = plan([step("a"), step("b"), step("c", { dependsOn: ["a", "b"] })]);
    const running = { a: task("a", "Running"), b: task("b", "Running") };
    const d = decide(recorded(p, running), { a: task("a", "Completed"), b: task("b", "Running") });
    expect(phases(d)).toEqual({ a: "Succeeded", b: "Running", c: "Pending" });
    expect(created(d)).toEqual([]);
  });

  test("an input that names nothing fails its step without a Task", () => {
    const p = plan([step("a"), step("b", { dependsOn: ["a"], inputs: { n: "$.steps.a.result.rows[3]" } })]);
    const d = update(decide(recorded(p, { a: task("a", "Running") }), { a: task("a", "Completed") }));
    expect(d.create).toEqual([]);
    expect(d.status.steps?.[1]).toMatchObject({
      phase: "Failed",
      reason: "InputUnresolved",
      message: "input n: $.steps.a.result has no field .rows",
    });
    expect(d.status.phase).toBe("Failed");
  });

  test("a step Running whose Task is gone failed", () => {
    const d = decide(recorded(chain, { a: task("a", "Running") }), {});
    expect(update(d).status.steps?.[0]).toMatchObject({ phase: "Failed", reason: "TaskDeleted" });
  });
});

describe("decidePlan: the shared context", () => {
  const p = plan([step("a"), step("b", { dependsOn: ["a"], inputs: { who: "$.context.owner" } })], {
    context: { owner: "nobody", keep: 1 },
  });

  test("a step's planContext is merged when it succeeds, and read by the next step at once", () => {
    const a = task("a", "Completed", { result: { planContext: { owner: "ada", keep: null } } });
    const d = update(decide(recorded(p, { a: task("a", "Running") }), { a }));
    expect(d.status.context).toEqual({ owner: "ada" });
    expect(d.create[0]?.spec.payload).toEqual({ who: "ada" });
  });

  test("a success already recorded is not merged again", () => {
    const a = task("a", "Completed", { result: { planContext: { n: 2 } } });
    const once = update(decide(recorded(p, { a: task("a", "Running") }), { a }));
    const again = update(decide({ ...p, status: { ...once.status, context: { n: 5 } } }, { a }));
    expect(again.status.context).toEqual({ n: 5 });
  });

  test("additions over the bound fail the step, and the context stays as it was", () => {
    const a = task("a", "Completed", { result: { planContext: { blob: "x".repeat(70_000) } } });
    const d = update(decide(recorded(p, { a: task("a", "Running") }), { a }));
    expect(d.status.steps?.[0]).toMatchObject({ phase: "Failed", reason: "ContextTooLarge" });
    expect(d.status.steps?.[0]?.message).toContain("the bound is 65536");
    expect(d.status.context).toEqual({ owner: "nobody", keep: 1 });
    expect(phases(d)).toEqual({ a: "Failed", b: "Skipped" });
  });

  test("a planContext that is not an object fails the step", () => {
    const a = task("a", "Completed", { result: { planContext: "hello" } });
    const d = update(decide(recorded(p, { a: task("a", "Running") }), { a }));
    expect(d.status.steps?.[0]).toMatchObject({ phase: "Failed", reason: "InvalidPlanContext" });
  });
});

describe("decidePlan: failure policies", () => {
  // a → b → c, and d on its own
  const graph = (onFailure: PlanSpecStepsItem["onFailure"]) =>
    plan([
      step("a", { onFailure }),
      step("b", { dependsOn: ["a"], inputs: { why: "$.steps.a.error.reason" } }),
      step("c", { dependsOn: ["b"] }),
      step("d"),
    ]);
  const started = (p: Plan) => recorded(p, { a: task("a", "Running"), d: task("d", "Running") });

  test("FailPlan: nothing starts after the failure, running steps finish, then the plan Failed", () => {
    const p = started(graph("FailPlan"));
    const stopping = update(decide(p, { a: task("a", "Failed"), d: task("d", "Running") }));
    expect(phases(stopping)).toEqual({ a: "Failed", b: "Skipped", c: "Skipped", d: "Running" });
    expect(stopping.cancel).toEqual([]);
    expect(stopping.status.phase).toBe("Running");
    expect(condition(stopping, "Succeeded")).toMatchObject({ status: "Unknown", reason: "Stopping" });
    expect(stopping.events).toEqual([
      { type: "Warning", reason: "StepFailed", message: "step a failed (InvalidInput: bad input); onFailure FailPlan" },
    ]);
    const done = update(
      decide({ ...p, status: stopping.status }, { a: task("a", "Failed"), d: task("d", "Completed") }),
    );
    expect(done.status).toMatchObject({ phase: "Failed", progress: "4/4", completionTime: iso(0) });
    expect(condition(done, "Succeeded")).toMatchObject({ status: "False", reason: "StepFailed" });
    expect(done.events).toEqual([{ type: "Warning", reason: "Failed", message: "step a failed: bad input" }]);
  });

  test("FailPlan stops steps that were ready in the same pass", () => {
    // c comes first in the order and is ready with b; b fails on its input (a has no n) and stops the plan
    const p = plan([
      step("a"),
      step("c", { dependsOn: ["a"] }),
      step("b", { dependsOn: ["a"], inputs: { n: "$.steps.a.result.n" } }),
    ]);
    const d = update(decide(recorded(p, { a: task("a", "Running") }), { a: task("a", "Completed") }));
    expect(phases(d)).toEqual({ a: "Succeeded", b: "Failed", c: "Skipped" });
    expect(d.status.steps?.[1]).toMatchObject({
      reason: "PlanStopped",
      message: "step b failed and stops the plan (onFailure FailPlan)",
    });
    expect(d.create).toEqual([]);
  });

  test("SkipDependants: the failed step's dependants are skipped, down the graph; the rest run; the plan Failed", () => {
    const p = started(graph("SkipDependants"));
    const d = update(decide(p, { a: task("a", "Failed"), d: task("d", "Completed") }));
    expect(phases(d)).toEqual({ a: "Failed", b: "Skipped", c: "Skipped", d: "Succeeded" });
    expect(d.status.steps?.[2]).toMatchObject({ reason: "DependencySkipped", message: "step b was skipped" });
    expect(d.status.phase).toBe("Failed");
  });

  test("Continue: the dependants run, reading the failure; the plan may succeed", () => {
    const p = started(graph("Continue"));
    const d = update(decide(p, { a: task("a", "Failed"), d: task("d", "Running") }));
    expect(phases(d)).toEqual({ a: "Failed", b: "Running", c: "Pending", d: "Running" });
    expect(d.create[0]?.spec.payload).toEqual({ why: "InvalidInput" });
    const all = {
      a: task("a", "Failed"),
      b: task("b", "Completed"),
      c: task("c", "Completed"),
      d: task("d", "Completed"),
    };
    const end = update(
      decide(
        {
          ...p,
          status: {
            ...d.status,
            steps: d.status.steps?.map((s) => ({ ...s, phase: s.phase === "Pending" ? "Running" : s.phase })),
          },
        },
        all,
      ),
    );
    expect(end.status.phase).toBe("Succeeded");
    expect(condition(end, "Succeeded")).toMatchObject({ status: "True", reason: "AllStepsSucceeded" });
  });
});

describe("decidePlan: cancel", () => {
  const p = plan([step("a"), step("b", { dependsOn: ["a"] }), step("c")], { cancel: true });

  test("cancels the running steps' Tasks and skips the rest; Cancelled once the Tasks finished", () => {
    const running = { a: task("a", "Running"), c: task("c", "Completed") };
    const before = recorded(
      { ...p, spec: { ...p.spec, cancel: false } },
      { a: task("a", "Running"), c: task("c", "Running") },
    );
    const d = update(decide({ ...before, spec: p.spec }, running));
    expect(d.cancel.map((c) => c.task.metadata.name)).toEqual(["p-a"]);
    expect(d.cancel[0]?.message).toBe("plan p was cancelled");
    expect(phases(d)).toEqual({ a: "Running", b: "Skipped", c: "Succeeded" });
    expect(d.status.phase).toBe("Running");
    expect(condition(d, "Succeeded")).toMatchObject({ status: "Unknown", reason: "Stopping" });
    const after = update(
      decide(
        { ...before, spec: p.spec, status: d.status },
        { a: task("a", "Failed", { reason: "Cancelled" }), c: running.c },
      ),
    );
    expect(after.cancel).toEqual([]);
    expect(after.status.phase).toBe("Cancelled");
    expect(condition(after, "Succeeded")).toMatchObject({ status: "False", reason: "Cancelled" });
  });

  test("a plan cancelled before it started creates nothing", () => {
    const d = update(decide(p));
    expect(d.create).toEqual([]);
    expect(d.status.phase).toBe("Cancelled");
    expect(phases(d)).toEqual({ a: "Skipped", b: "Skipped", c: "Skipped" });
  });
});

describe("decidePlan: invalid plans and the end of a plan", () => {
  test("a cycle fails the plan at once, with condition Accepted False and a Warning Event", () => {
    const d = update(decide(plan([step("a", { dependsOn: ["b"] }), step("b", { dependsOn: ["a"] }), step("c")])));
    expect(d.create).toEqual([]);
    expect(d.status.phase).toBe("Failed");
    expect(condition(d, "Accepted")).toMatchObject({
      status: "False",
      reason: "DependencyCycle",
      message: "dependencies form a cycle: a depends on b, which depends on a",
    });
    expect(d.events).toEqual([
      {
        type: "Warning",
        reason: "DependencyCycle",
        message: "dependencies form a cycle: a depends on b, which depends on a",
      },
    ]);
    expect(phases(d)).toEqual({ a: "Skipped", b: "Skipped", c: "Skipped" });
  });

  test.each([
    { name: "waits for its TTL", ttl: undefined, finished: -60_000, want: { kind: "wait", requeueAfterMs: 3_540_000 } },
    { name: "is deleted after its TTL", ttl: 30, finished: -60_000, want: { kind: "delete" } },
    { name: "with no completion time waits", ttl: 30, finished: undefined, want: { kind: "wait" } },
    {
      name: "with a TTL of a year looks again within a day (setTimeout cannot wait that long)",
      ttl: 31_536_000,
      finished: -60_000,
      want: { kind: "wait", requeueAfterMs: 86_400_000 },
    },
  ])("a finished plan $name", ({ ttl, finished, want }) => {
    const p = plan([step("a")], ttl === undefined ? {} : { ttlSecondsAfterFinished: ttl }, {
      phase: "Succeeded",
      ...(finished === undefined ? {} : { completionTime: iso(finished) }),
    });
    expect(decide(p)).toEqual(want as PlanDecision);
  });
});
