// conductor__run_plan's checks without a cluster: who sees and may call it, and
// every refusal answered before a Plan exists (the runs themselves are in
// test/integration/plans.test.ts, on a real apiserver).
import { describe, expect, test } from "bun:test";
import type { McpClients, Plan, Task } from "../../lib/api/resources.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import type { CallRequest } from "./calls/core.ts";
import { callerMarks } from "./calls/marks.ts";
import type { CallStore } from "./calls/store.ts";
import { TaskView } from "./calls/task-view.ts";
import type { Authorize, Caller, ToolSource } from "./calls/tools.ts";
import { PlanCallCore, PlanCalls, runPlanToolName } from "./plans.ts";
import type { GatewayTool } from "./tool-registry.ts";

const tool = (name: string, extra: Partial<GatewayTool> = {}): GatewayTool => ({
  name,
  description: name,
  capability: "data-processing",
  inputSchema: { type: "object", properties: { csv: { type: "string" } }, additionalProperties: false },
  agents: ["a"],
  generic: false,
  taskSupport: "optional",
  ...extra,
});

const registry = (tools: GatewayTool[]): ToolSource => ({
  tools: () => tools,
  get: (name) => tools.find((t) => t.name === name),
});

const agentTools = [
  tool("csv_to_json"),
  tool("write_file"),
  tool("capability.gpu", { capability: "gpu", generic: true, inputSchema: { type: "object" } }),
  tool("everything__echo", {
    capability: "",
    agents: [],
    taskSupport: "forbidden",
    federated: { server: "everything", upstreamName: "echo" },
  }),
];

/** A core whose Plan creates are counted (and fail: no refusal may reach one). */
function core(authorize: Authorize = () => true, tools = agentTools) {
  const creates: unknown[] = [];
  const clients = {
    plans: {
      create: async (_ns: string, plan: unknown) => {
        creates.push(plan);
        throw new Error("no apiserver here");
      },
    },
    tasks: {},
  } as unknown as McpClients;
  const source = registry(tools);
  const c = new PlanCallCore(new PlanCalls({ clients, namespace: "ns", log: silentLogger }), source, {
    tools: source,
    store: {} as CallStore,
    authorize,
  });
  return { c, creates };
}

const alice: Caller = { client: "alice" };
const call = (args: unknown, more: Partial<CallRequest> = {}): CallRequest => ({
  name: runPlanToolName,
  arguments: args,
  caller: alice,
  requestId: "1",
  form: "sync",
  era: "2025",
  log: silentLogger,
  ...more,
});

/** The refusal's code and message, or "accepted". */
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (e: { code?: number; message: string }) => `${e.code} ${e.message}`,
  );

const plan1 = { steps: [{ name: "parse", tool: "csv_to_json", payload: { csv: "a\n1" } }] };

describe("conductor__run_plan", () => {
  test("is listed, sorted among the tools, for a caller who may call it, and only then", async () => {
    const open = await core().c.list(alice);
    expect(open.map((t) => t.name)).toEqual([
      "capability.gpu",
      runPlanToolName,
      "csv_to_json",
      "everything__echo",
      "write_file",
    ]);
    expect(open.find((t) => t.name === runPlanToolName)?.execution).toEqual({ taskSupport: "forbidden" });
    const closed = await core((_, t) => t !== runPlanToolName).c.list(alice);
    expect(closed.map((t) => t.name)).not.toContain(runPlanToolName);
  });

  test("a tool of the registry with its name is that tool, not the gateway's", async () => {
    const { c } = core(() => true, [tool(runPlanToolName)]);
    const listed = await c.list(alice);
    expect(listed.filter((t) => t.name === runPlanToolName)).toHaveLength(1);
    expect(listed[0]?.execution).toEqual({ taskSupport: "optional" });
  });

  const plan = plan1;

  test.each([
    {
      name: "a caller refused the tool itself",
      authorize: ((_, t) => t !== runPlanToolName) as Authorize,
      args: plan,
      want: "-32003 Forbidden: alice may not call tool conductor__run_plan",
    },
    {
      name: "a caller refused one step's tool",
      authorize: ((_, t) => t !== "write_file") as Authorize,
      args: { steps: [...plan.steps, { name: "save", tool: "write_file", dependsOn: ["parse"] }] },
      want: "-32003 Forbidden: alice may not call tool write_file",
    },
    {
      name: "a task-augmented call",
      args: plan,
      more: { form: "task" as const },
      want: "-32602 Tool conductor__run_plan cannot be called as a task",
    },
    {
      name: "no steps",
      args: { steps: [] },
      want: "-32602 Invalid arguments for tool conductor__run_plan: arguments.steps",
    },
    {
      name: "an unknown field",
      args: { ...plan, retries: 3 },
      want: "-32602 Invalid arguments for tool conductor__run_plan: arguments.retries: is not allowed",
    },
    {
      name: "an unknown tool",
      args: { steps: [{ name: "a", tool: "nope" }] },
      want: "-32602 Step a: unknown tool nope",
    },
    {
      name: "a federated server's tool",
      args: { steps: [{ name: "a", tool: "everything__echo" }] },
      want: "-32602 Step a: tool everything__echo runs on an MCP server",
    },
    {
      name: "a payload the tool's schema refuses",
      args: { steps: [{ name: "a", tool: "csv_to_json", payload: { csv: 1 } }] },
      want: "-32602 Invalid payload for tool csv_to_json: steps.a.payload.csv: must be string",
    },
    {
      name: "a cycle",
      args: {
        steps: [
          { name: "a", tool: "csv_to_json", dependsOn: ["b"] },
          { name: "b", tool: "csv_to_json", dependsOn: ["a"] },
        ],
      },
      want: "-32602 Invalid plan: dependencies form a cycle: a depends on b, which depends on a",
    },
    {
      name: "an input path that is not one",
      args: { steps: [{ name: "a", tool: "capability.gpu", inputs: { x: "$.context[*]" } }] },
      want: "-32602 Invalid plan: step a input x: expected .name, [index] or ['key'] at character 10",
    },
  ])("refuses $name before any Plan exists", async ({ authorize, args, more, want }) => {
    const { c, creates } = core(authorize);
    expect(await outcome(c.call(call(args, more)))).toStartWith(want);
    expect(creates).toEqual([]);
  });

  test("a plan that passes the checks is created, with its tools' capabilities and the caller's marks", async () => {
    const { c, creates } = core();
    const args = {
      name: "report",
      steps: [
        { name: "parse", tool: "csv_to_json", payload: { csv: "a\n1" } },
        { name: "gpu", tool: "capability.gpu", dependsOn: ["parse"], inputs: { rows: "$.steps.parse.result.rows" } },
      ],
      context: { who: "ada" },
    };
    // the fake apiserver fails the create: an internal error, after the create was tried
    expect(await outcome(c.call(call(args)))).toStartWith("-32603 Internal error (correlation id");
    expect(creates).toEqual([
      {
        metadata: {
          generateName: "report-",
          labels: {
            "mcp.io/created-by": "gateway",
            "mcp.io/mcp-client": "alice",
            "mcp.io/caller-groups": expect.any(String),
          },
          annotations: { "mcp.io/mcp-request-id": "1", "mcp.io/caller-user": "alice" },
        },
        spec: {
          steps: [
            {
              name: "parse",
              tool: "csv_to_json",
              requiredCapabilities: ["data-processing"],
              payload: { csv: "a\n1" },
            },
            {
              name: "gpu",
              tool: undefined,
              requiredCapabilities: ["gpu"],
              dependsOn: ["parse"],
              inputs: { rows: "$.steps.parse.result.rows" },
            },
          ],
          context: { who: "ada" },
        },
      },
    ]);
  });
});

describe("a plan's steps and the client that runs it", () => {
  test("the Plan records what the client can answer, as a call's Task does, for its steps' tools", async () => {
    const { c, creates } = core();
    const capabilities = { sampling: {}, elicitation: { form: {} }, experimental: { x: {} } };
    await outcome(c.call(call(plan1, { clientCapabilities: capabilities })));
    expect((creates[0] as Plan).metadata.annotations?.["mcp.io/client-capabilities"]).toBe(
      '{"elicitation":{"form":{}},"sampling":{}}',
    );
    await outcome(c.call(call(plan1, { clientCapabilities: { experimental: {} } })));
    expect((creates[1] as Plan).metadata.annotations?.["mcp.io/client-capabilities"]).toBeUndefined();
  });

  /** A core whose apiserver holds these Plans, for a 2026 call retried with a step's answers. */
  function resuming(plans: readonly Plan[], authorize: Authorize = () => true) {
    const clients = {
      plans: {
        get: async (_ns: string, name: string) => {
          const p = plans.find((x) => x.metadata.name === name);
          if (!p) throw new KubeApiError(404, { reason: "NotFound", message: "not found" }, "GET", name);
          return p;
        },
      },
      tasks: {},
    } as unknown as McpClients;
    const source = registry(agentTools);
    return new PlanCallCore(new PlanCalls({ clients, namespace: "ns", log: silentLogger }), source, {
      tools: source,
      store: {} as CallStore,
      authorize,
    });
  }
  const marks = callerMarks(alice);
  const alicesPlan: Plan = {
    metadata: { name: "p-1", uid: "uid-p", labels: marks.labels, annotations: marks.annotations },
    spec: { steps: [{ name: "write", tool: "csv_to_json" }] },
  };
  const stepTask = (owner?: { name: string; uid: string }): Task => ({
    metadata: {
      name: "p-1-write",
      labels: { "mcp.io/created-by": "plan" },
      ...(owner ? { ownerReferences: [{ apiVersion: "mcp.io/v1", kind: "Plan", controller: true, ...owner }] } : {}),
    },
    spec: { requiredCapabilities: ["data-processing"] },
  });
  const retried = call(plan1, { era: "2026", input: { answered: ["code"] } });
  const gone =
    "-32602 The plan this requestState continues is gone (it was deleted or has expired); call the tool again";

  test.each([
    { name: "a Task no Plan owns", plans: [alicesPlan], task: stepTask(), want: gone },
    { name: "a Plan deleted since", plans: [], task: stepTask({ name: "p-1", uid: "uid-p" }), want: gone },
    {
      name: "a Plan made again under the same name",
      plans: [alicesPlan],
      task: stepTask({ name: "p-1", uid: "uid-old" }),
      want: gone,
    },
    {
      name: "another caller's Plan",
      plans: [{ ...alicesPlan, metadata: { ...alicesPlan.metadata, labels: callerMarks({ client: "bob" }).labels } }],
      task: stepTask({ name: "p-1", uid: "uid-p" }),
      want: gone,
    },
    {
      name: "a caller who may no longer call conductor__run_plan",
      plans: [alicesPlan],
      task: stepTask({ name: "p-1", uid: "uid-p" }),
      authorize: ((_, t) => t !== runPlanToolName) as Authorize,
      want: "-32003 Forbidden: alice may not call tool conductor__run_plan (verb call on tools.mcp.io/conductor__run_plan)",
    },
  ])(
    "a retried 2026 call continues only its caller's Plan: refuses $name",
    async ({ plans, task, authorize, want }) => {
      expect(await outcome(resuming(plans, authorize).resume(retried, task))).toBe(want);
    },
  );
});

describe("the task view of a plan's steps", () => {
  const marks = callerMarks(alice);
  const task = (name: string, labels: Record<string, string>, annotations?: Record<string, string>): Task => ({
    metadata: { name, labels, ...(annotations ? { annotations } : {}) },
    spec: { requiredCapabilities: ["data-processing"], tool: "csv_to_json" },
  });
  const held = [
    task("p-1-write", { "mcp.io/created-by": "plan", ...marks.labels }, marks.annotations),
    task("p-2-write", { "mcp.io/created-by": "plan" }),
    task("made-by-hand", { "mcp.io/created-by": "kubectl", ...marks.labels }, marks.annotations),
  ];
  const store = {
    cached: () => undefined,
    get: async (name: string) => {
      const t = held.find((x) => x.metadata.name === name);
      if (!t) throw new KubeApiError(404, { reason: "NotFound", message: "not found" }, "GET", name);
      return t;
    },
  } as unknown as CallStore;
  const view = new TaskView(store, silentLogger);

  test.each([
    { name: "a step's Task that records the plan's caller", id: "p-1-write", caller: alice, found: true },
    { name: "the same Task, for another caller", id: "p-1-write", caller: { client: "bob" }, found: false },
    { name: "a step's Task that records no caller", id: "p-2-write", caller: alice, found: false },
    { name: "a Task with the caller's marks that no plan made", id: "made-by-hand", caller: alice, found: false },
    { name: "a name that is not a Task's", id: "P_1", caller: alice, found: false },
  ])("$name: found $found", async ({ id, caller, found }) => {
    expect((await view.find(id, caller, { fresh: true }))?.metadata.name).toBe(found ? id : undefined);
  });
});
