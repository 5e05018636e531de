// Plans on the local control plane, with real agents (test/fixtures/test-agent.ts
// processes for the data tools, an agent runtime in this process for a few tools of
// its own): a 20-step plan with fan-out and fan-in passing results through inputs,
// the three failure policies, cancelling (spec.cancel, and deleting the Plan), a
// cycle refused, the bound on the shared context, the CRD's refusals, kubectl's
// columns, and conductor__run_plan over MCP with progress per step. It prints the
// plan's overhead per step, in ms and apiserver writes, against the same Tasks
// created directly.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { Subprocess } from "bun";
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import { defineTool } from "../../lib/agent/tool.ts";
import { stepTaskName, withPlanContext } from "../../lib/api/plan-state.ts";
import type { Plan, PlanSpecStepsItem, Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { type KubeObject, ResourceClient } from "../../lib/kube/resource-client.ts";
import { silentLogger } from "../../lib/log.ts";
import { Gateway, serveGateway } from "../../services/gateway/gateway.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { startConductor, type TestConductor } from "../harness/conductor.ts";
import { eventually } from "../harness/eventually.ts";
import { rpc2026 } from "../harness/mcp-2026.ts";

let cluster: TestCluster;
let ns: string;
let conductor: TestConductor;
let runtime: AgentRuntime;
let gateway: Gateway;
let server: ReturnType<typeof serveGateway>;
const agents: Subprocess[] = [];
/** Tasks whose `wait` handler saw its signal abort, and why. */
const aborted = new Map<string, string>();
let watch: ObjectWatch;

// The in-process agent's tools: a fan-in, the shared context, an echo and one that waits to be stopped.
const capability = "plan-steps";
const sumFields = defineTool({
  name: "sum_fields",
  description: "Adds up every field of its arguments.",
  capability,
  inputSchema: { type: "object", additionalProperties: { type: "number" } },
  handler: (fields: Record<string, number>) => ({ sum: Object.values(fields).reduce((a, b) => a + b, 0) }),
});
const remember = defineTool({
  name: "remember",
  description: "Adds a key to its plan's context.",
  capability,
  inputSchema: { type: "object", properties: { key: { type: "string" }, value: {} }, required: ["key", "value"] },
  handler: ({ key, value }: { key: string; value: unknown }) => withPlanContext({ remembered: key }, { [key]: value }),
});
const echo = defineTool({
  name: "echo",
  description: "Returns its arguments.",
  capability,
  inputSchema: { type: "object" },
  handler: (args: Record<string, unknown>) => ({ got: args }),
});
const wait = defineTool({
  name: "wait",
  description: "Waits until stopped.",
  capability,
  inputSchema: { type: "object" },
  handler: (_: unknown, ctx) =>
    new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => {
        aborted.set(ctx.task.metadata.name ?? "", String((ctx.signal.reason as Error)?.message));
        reject(ctx.signal.reason);
      }),
    ),
});

/**
 * The namespace's Tasks, Plans and Events as a watch sees them: when each
 * Task appeared and completed (ms, this process's clock), and how many
 * writes of each kind were made (every add and update is one).
 */
class ObjectWatch {
  readonly added = new Map<string, number>();
  readonly completed = new Map<string, number>();
  readonly writes = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private readonly informers: Informer<KubeObject>[];

  constructor(c: TestCluster, namespace: string) {
    const count = (key: string) => this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
    const tasks = new Informer<Task>(c.mcp.tasks, { namespace }).on({
      add: (t) => {
        this.added.set(t.metadata.name ?? "", performance.now());
        count("task create");
        this.seen(t);
      },
      update: (t) => {
        count("task update");
        this.seen(t);
      },
    });
    const plans = new Informer<Plan>(c.mcp.plans, { namespace }).on({
      add: () => count("plan create"),
      update: () => count("plan update"),
    });
    const eventType = { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true };
    const events = new Informer<KubeObject & { involvedObject?: { kind?: string } }>(
      new ResourceClient(c.conn, eventType),
      { namespace },
    ).on({ add: (e) => count(`event on ${e.involvedObject?.kind}`) });
    this.informers = [tasks, plans, events] as Informer<KubeObject>[];
  }

  private seen(t: Task): void {
    if (t.status?.phase === "Completed" && !this.completed.has(t.metadata.name ?? ""))
      this.completed.set(t.metadata.name ?? "", performance.now());
    for (const w of [...this.waiters]) w();
  }

  start = () => Promise.all(this.informers.map((i) => i.start()));
  stop = () => Promise.all(this.informers.map((i) => i.stop()));

  /** Resolves when every named Task completed (no polling interval in the measurement). */
  completion(names: string[]): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!names.every((n) => this.completed.has(n))) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  snapshot = () => new Map(this.writes);
}

const diff = (after: Map<string, number>, before: Map<string, number>) =>
  Object.fromEntries([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => v !== 0));

async function agentProcess(name: string): Promise<Subprocess> {
  const proc = Bun.spawn(
    [
      "bun",
      join(repoRoot, "test", "fixtures", "test-agent.ts"),
      `--namespace=${ns}`,
      `--name=${name}`,
      "--heartbeat-interval-seconds=0.5",
      `--metrics-port=${await freePort()}`,
    ],
    {
      env: {
        ...process.env,
        KUBECONFIG: cluster.kubeconfigPath,
        POD_NAME: name,
        LOG_LEVEL: "warn",
        AGENT_MAX_CONCURRENT_TASKS: "10",
      },
      stdout: "ignore",
      stderr: "inherit",
    },
  );
  agents.push(proc);
  return proc;
}

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("plans");
  conductor = await startConductor(cluster, ns);
  watch = new ObjectWatch(cluster, ns);
  await watch.start();
  await Promise.all([agentProcess("data-1"), agentProcess("data-2")]);
  runtime = new AgentRuntime({
    name: "steps-1",
    namespace: ns,
    conn: cluster.conn,
    tools: [sumFields, remember, echo, wait],
    maxConcurrentTasks: 20,
    heartbeatIntervalMs: 500,
    shutdownGraceMs: 2_000,
    log: silentLogger,
  });
  await runtime.start();
  await eventually(
    async () =>
      (await cluster.mcp.agents.list(ns)).items.filter((a) => a.status?.phase === "Ready").length === 3 || undefined,
    { timeout: 20_000, message: "three agents Ready" },
  );
  gateway = new Gateway({
    conn: cluster.conn,
    namespace: ns,
    log: silentLogger,
    security: { ratePerSecond: 10_000, burst: 10_000, allowUnauthenticated: true },
    plans: true,
  });
  await gateway.start();
  server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
  await eventually(() => gateway.get("csv_to_json") && gateway.get("echo"), { message: "the tools in the registry" });
}, 120_000);

afterAll(async () => {
  await server?.stop(true);
  await gateway?.stop();
  await runtime?.shutdown();
  for (const p of agents) p.kill("SIGKILL");
  await watch?.stop();
  await conductor?.stop();
});

const step = (name: string, tool: string, more: Partial<PlanSpecStepsItem> = {}): PlanSpecStepsItem => ({
  name,
  tool,
  ...more,
});

const createPlan = (name: string, steps: PlanSpecStepsItem[], more: Partial<Plan["spec"]> = {}) =>
  cluster.mcp.plans.create(ns, { metadata: { name }, spec: { steps, ...more } });

const finished = (name: string, timeout = 30_000) =>
  eventually(
    async () => {
      const p = await cluster.mcp.plans.get(ns, name);
      return ["Succeeded", "Failed", "Cancelled"].includes(p.status?.phase ?? "") ? p : undefined;
    },
    { timeout, message: `plan ${name} finished` },
  );

const stepState = (p: Plan, name: string) => p.status?.steps?.find((s) => s.name === name);
const condition = (p: Plan, type: string) => p.status?.conditions?.find((c) => c.type === type);
const planEvents = async (name: string) =>
  (
    await cluster.conn.request<{ items: { reason: string; type: string; message: string }[] }>(
      "GET",
      `/api/v1/namespaces/${ns}/events`,
      { query: { fieldSelector: `involvedObject.kind=Plan,involvedObject.name=${name}` } },
    )
  ).items;

/** The apiserver's refusal of a Plan, as a message. */
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (e: unknown) => (e instanceof KubeApiError ? e.message : String(e)),
  );

const csv = (rows: string[]) => `region,amount\n${rows.join("\n")}`;
const badCsv = "a,b\n1,2,3";

describe("the Plan CRD", () => {
  test("refuses malformed plans with the field and the rule named; a valid one is accepted", async () => {
    const dryRun = (steps: PlanSpecStepsItem[]) =>
      refusal(cluster.mcp.plans.create(ns, { metadata: { generateName: "bad-" }, spec: { steps } }, { dryRun: true }));
    expect(
      await dryRun([
        step("a", "echo"),
        step("b", "echo", { dependsOn: ["a"], inputs: { x: "$.steps.a.result.y[0]" } }),
      ]),
    ).toBe("accepted");
    const cases: [PlanSpecStepsItem[], string][] = [
      [[step("a", "echo"), step("a", "echo")], 'spec.steps[1]: Duplicate value: {"name":"a"}'],
      [[step("a", "echo", { dependsOn: ["zz"] })], "spec: Invalid value: dependsOn must name steps of this plan"],
      [[step("a", "echo", { dependsOn: ["a"] })], "spec.steps[0]: Invalid value: a step cannot depend on itself"],
      [[{ name: "a" }], "a step names its tool, its requiredCapabilities, or both"],
      [[step("A", "echo")], "spec.steps[0].name"],
      [[step("a", "echo", { inputs: { x: "steps.a.result" } })], "spec.steps[0].inputs[x]: Invalid value"],
      [
        [step("a", "echo"), step("b", "echo", { inputs: { x: "$.steps.a.result" } })],
        "spec.steps[1]: Invalid value: an input can read only the steps this step dependsOn",
      ],
      [[step("a", "echo", { onFailure: "Retry" as "Continue" })], "spec.steps[0].onFailure: Unsupported value"],
    ];
    for (const [steps, says] of cases) expect(await dryRun(steps)).toContain(says);
  });

  test("only spec.cancel can change once a Plan exists, and only to true", async () => {
    const p = await createPlan("frozen", [step("a", "wait")]);
    const patch = (body: unknown) => refusal(cluster.mcp.plans.patch(ns, "frozen", body, "merge"));
    expect(await patch({ spec: { cancel: true } })).toBe("accepted");
    expect(await patch({ spec: { cancel: false } })).toContain("a cancelled Plan cannot be resumed");
    expect(await patch({ spec: { steps: [step("a", "echo")] } })).toContain(
      "only spec.cancel and spec.ttlSecondsAfterFinished of a Plan can change",
    );
    expect(p.spec.steps[0]?.onFailure).toBe("FailPlan");
    expect((await finished("frozen")).status?.phase).toBe("Cancelled");
  });
});

describe("running plans", () => {
  test("FailPlan: nothing starts after the failure, a running step finishes, then the plan fails", async () => {
    await createPlan("fail-plan", [
      step("bad", "csv_to_json", { payload: { csv: badCsv } }),
      step("after", "echo", { dependsOn: ["bad"] }),
      step("sibling", "sleep", { payload: { ms: 3000 } }),
    ]);
    const stopping = await eventually(
      async () => {
        const p = await cluster.mcp.plans.get(ns, "fail-plan");
        return stepState(p, "bad")?.phase === "Failed" ? p : undefined;
      },
      { message: "bad failed" },
    );
    expect(stepState(stopping, "sibling")?.phase).toBe("Running");
    expect(condition(stopping, "Succeeded")).toMatchObject({ status: "Unknown", reason: "Stopping" });
    const p = await finished("fail-plan");
    expect(p.status?.phase).toBe("Failed");
    expect(stepState(p, "bad")).toMatchObject({ phase: "Failed", reason: "InvalidInput" });
    expect(stepState(p, "after")).toMatchObject({ phase: "Skipped", reason: "PlanStopped" });
    expect(stepState(p, "sibling")).toMatchObject({ phase: "Succeeded", task: "fail-plan-sibling" });
    expect(condition(p, "Succeeded")).toMatchObject({ status: "False", reason: "StepFailed" });
    expect(p.status?.counts).toEqual({ total: 3, pending: 0, running: 0, succeeded: 1, failed: 1, skipped: 1 });
    await eventually(async () => (await planEvents("fail-plan")).some((e) => e.reason === "StepFailed"));
  }, 60_000);

  test("SkipDependants skips the steps after the failure, down the graph; Continue runs them, with the error", async () => {
    await Promise.all([
      createPlan("skip", [
        step("bad", "csv_to_json", { payload: { csv: badCsv }, onFailure: "SkipDependants" }),
        step("after", "echo", { dependsOn: ["bad"] }),
        step("after2", "echo", { dependsOn: ["after"] }),
        step("ok", "csv_to_json", { payload: { csv: csv(["r1,1"]) } }),
      ]),
      createPlan("continue", [
        step("bad", "csv_to_json", { payload: { csv: badCsv }, onFailure: "Continue" }),
        step("after", "echo", {
          dependsOn: ["bad"],
          inputs: { why: "$.steps.bad.error.reason", phase: "$.steps.bad.phase" },
        }),
      ]),
    ]);
    const skip = await finished("skip");
    expect(skip.status?.phase).toBe("Failed");
    expect(Object.fromEntries((skip.status?.steps ?? []).map((s) => [s.name, [s.phase, s.reason]]))).toEqual({
      bad: ["Failed", "InvalidInput"],
      after: ["Skipped", "DependencyFailed"],
      after2: ["Skipped", "DependencySkipped"],
      ok: ["Succeeded", undefined],
    });
    const cont = await finished("continue");
    expect(cont.status?.phase).toBe("Succeeded");
    const after = await cluster.mcp.tasks.get(ns, "continue-after");
    expect(after.status?.result).toEqual({ got: { why: "InvalidInput", phase: "Failed" } });
  }, 60_000);

  test("a cycle is refused: Accepted False with the cycle named, a Warning Event, and no Task", async () => {
    await createPlan("acyclic", [step("a", "echo"), step("b", "echo", { dependsOn: ["a"] })]);
    expect(condition(await finished("acyclic"), "Accepted")).toMatchObject({ status: "True", reason: "Valid" });
    await createPlan("cyclic", [
      step("a", "echo", { dependsOn: ["c"] }),
      step("b", "echo", { dependsOn: ["a"] }),
      step("c", "echo", { dependsOn: ["b"] }),
    ]);
    const p = await finished("cyclic");
    expect(p.status?.phase).toBe("Failed");
    expect(condition(p, "Accepted")).toMatchObject({
      status: "False",
      reason: "DependencyCycle",
      message: "dependencies form a cycle: a depends on c, which depends on b, which depends on a",
      observedGeneration: 1,
    });
    const events = await eventually(async () => {
      const e = await planEvents("cyclic");
      return e.some((x) => x.reason === "DependencyCycle") ? e : undefined;
    });
    expect(events.find((x) => x.reason === "DependencyCycle")?.type).toBe("Warning");
    expect((await cluster.mcp.tasks.list(ns, { labelSelector: "mcp.io/plan=cyclic" })).items).toEqual([]);
  }, 60_000);

  test("a step whose Task name is taken by a Task not of this plan: a Warning ReconcileFailed, not a retry loop", async () => {
    // Where it works: the plan's own Task by that name is taken over (an earlier pass's, its status write lost).
    await createPlan("taken-ok", [step("a", "echo", { payload: { text: "hi" } })]);
    expect((await finished("taken-ok")).status?.phase).toBe("Succeeded");
    // A Task of someone else's holds the name of the step's Task.
    await cluster.mcp.tasks.create(ns, {
      metadata: { name: stepTaskName("taken", "a") },
      spec: { requiredCapabilities: ["nobody-has-this"] },
    });
    await createPlan("taken", [step("a", "echo", { payload: { text: "hi" } })]);
    const failed = await eventually(async () => {
      const e = await planEvents("taken");
      return e.find((x) => x.reason === "ReconcileFailed");
    });
    expect(failed.type).toBe("Warning");
    expect(failed.message).toContain("exists and is not this plan's");
    // Not retried with backoff: one Event, the plan left as it is until it or the Task changes.
    await Bun.sleep(3_000);
    expect((await planEvents("taken")).filter((x) => x.reason === "ReconcileFailed")).toHaveLength(1);
  }, 60_000);

  test("the shared context: steps add to it and read it; additions over 64 KiB fail their step", async () => {
    await createPlan(
      "memory",
      [
        step("a", "remember", { payload: { key: "a", value: { x: "y".repeat(1000) } } }),
        step("b", "remember", { dependsOn: ["a"], payload: { key: "b" }, inputs: { value: "$.context.seed" } }),
        step("read", "echo", { dependsOn: ["b"], inputs: { memory: "$.context" } }),
      ],
      { context: { seed: 1 } },
    );
    const p = await finished("memory");
    expect(p.status?.phase).toBe("Succeeded");
    const context = { seed: 1, a: { x: "y".repeat(1000) }, b: 1 };
    expect(p.status?.context).toEqual(context);
    expect((await cluster.mcp.tasks.get(ns, "memory-read")).status?.result).toEqual({ got: { memory: context } });

    await createPlan("too-much", [step("big", "remember", { payload: { key: "big", value: "x".repeat(70_000) } })], {
      context: { seed: 1 },
    });
    const big = await finished("too-much");
    expect(big.status?.phase).toBe("Failed");
    expect(stepState(big, "big")).toMatchObject({ phase: "Failed", reason: "ContextTooLarge" });
    expect(stepState(big, "big")?.message).toContain("the bound is 65536");
    expect(big.status?.context).toEqual({ seed: 1 });
  }, 60_000);

  test("spec.cancel fails the running step's Task with reason Cancelled, stopping its agent; the rest are skipped", async () => {
    await createPlan("cancel-me", [step("long", "wait"), step("next", "echo", { dependsOn: ["long"] })]);
    await eventually(async () => (await cluster.mcp.tasks.get(ns, "cancel-me-long")).status?.phase === "Running", {
      message: "long Running",
    });
    await cluster.mcp.plans.patch(ns, "cancel-me", { spec: { cancel: true } }, "merge");
    const p = await finished("cancel-me");
    expect(p.status?.phase).toBe("Cancelled");
    expect(stepState(p, "long")).toMatchObject({ phase: "Failed", reason: "Cancelled" });
    expect(stepState(p, "next")).toMatchObject({ phase: "Skipped", reason: "Cancelled" });
    const t = await cluster.mcp.tasks.get(ns, "cancel-me-long");
    expect(t.status?.error).toMatchObject({ reason: "Cancelled", retryable: false });
    await eventually(() => aborted.has("cancel-me-long"), { message: "the agent stopped the tool" });
  }, 60_000);

  test("deleting a Plan deletes its Tasks (the garbage collector), which stops their agents", async () => {
    await cluster.ensureControllerManager();
    await createPlan("delete-me", [step("long", "wait")]);
    const t = await eventually(async () => {
      const x = await cluster.mcp.tasks.get(ns, "delete-me-long");
      return x.status?.phase === "Running" ? x : undefined;
    });
    expect(t.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Plan", name: "delete-me", controller: true });
    await cluster.mcp.plans.delete(ns, "delete-me");
    await eventually(
      () =>
        cluster.mcp.tasks.get(ns, "delete-me-long").then(
          () => false,
          (e: unknown) => e instanceof KubeApiError && e.statusCode === 404,
        ),
      { timeout: 30_000, message: "the Task garbage-collected" },
    );
    await eventually(() => aborted.has("delete-me-long"), { message: "the agent stopped the tool" });
  }, 90_000);
});

describe("a 20-step plan with fan-out and fan-in", () => {
  // Region rNN has NN rows: parse them, count each region's in parallel (18 steps), add the counts up.
  const regions = Array.from({ length: 18 }, (_, i) => `r${String(i + 1).padStart(2, "0")}`);
  const rows = regions.flatMap((r, i) => Array.from({ length: i + 1 }, (_, k) => `${r},${k}`));
  const expected = regions.reduce((sum, _, i) => sum + i + 1, 0);
  const countPayload = (region: string) => ({
    where: [{ field: "region", op: "eq", value: region }],
    aggregate: [{ op: "count", as: "n" }],
  });
  const steps = (): PlanSpecStepsItem[] => [
    step("parse", "csv_to_json", { payload: { csv: csv(rows) } }),
    ...regions.map((r) =>
      step(`count-${r}`, "query_records", {
        dependsOn: ["parse"],
        payload: countPayload(r),
        inputs: { rows: "$.steps.parse.result.rows" },
      }),
    ),
    step("total", "sum_fields", {
      dependsOn: regions.map((r) => `count-${r}`),
      inputs: Object.fromEntries(regions.map((r) => [r, `$.steps.count-${r}.result.rows[0].n`])),
    }),
  ];

  /** How long each step waited to start once its dependencies completed, as the watch saw it. */
  const startDelays = (name: (step: string) => string, t0: number) => {
    const at = (s: string) => watch.added.get(name(s)) as number;
    const done = (s: string) => watch.completed.get(name(s)) as number;
    return [
      at("parse") - t0,
      ...regions.map((r) => at(`count-${r}`) - done("parse")),
      at("total") - Math.max(...regions.map((r) => done(`count-${r}`))),
    ];
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const round = (x: number) => Math.round(x * 10) / 10;

  /** The same 20 Tasks created directly, each as soon as its dependencies completed: the baseline. */
  async function runDirect(prefix: string) {
    const name = (s: string) => `${prefix}-${s}`;
    const spec = (tool: string, capability: string, payload: Record<string, unknown>) => ({
      requiredCapabilities: [capability],
      tool,
      payload,
    });
    const before = watch.snapshot();
    const t0 = performance.now();
    await cluster.mcp.tasks.create(ns, {
      metadata: { name: name("parse") },
      spec: spec("csv_to_json", "data-processing", { csv: csv(rows) }),
    });
    await watch.completion([name("parse")]);
    const parsed = (await cluster.mcp.tasks.get(ns, name("parse"))).status?.result?.rows;
    await Promise.all(
      regions.map((r) =>
        cluster.mcp.tasks.create(ns, {
          metadata: { name: name(`count-${r}`) },
          spec: spec("query_records", "data-processing", { rows: parsed, ...countPayload(r) }),
        }),
      ),
    );
    await watch.completion(regions.map((r) => name(`count-${r}`)));
    const counts = await Promise.all(
      regions.map(async (r) => {
        const t = await cluster.mcp.tasks.get(ns, name(`count-${r}`));
        return [r, (t.status?.result?.rows as { n: number }[] | undefined)?.[0]?.n];
      }),
    );
    await cluster.mcp.tasks.create(ns, {
      metadata: { name: name("total") },
      spec: spec("sum_fields", capability, Object.fromEntries(counts)),
    });
    await watch.completion([name("total")]);
    const ms = performance.now() - t0;
    await Bun.sleep(500); // the last writes (Events) land before the next run's count starts
    expect((await cluster.mcp.tasks.get(ns, name("total"))).status?.result).toEqual({ sum: expected });
    return { ms, delays: startDelays(name, t0), writes: diff(watch.snapshot(), before) };
  }

  async function runPlan(planName: string) {
    const name = (s: string) => `${planName}-${s}`;
    const before = watch.snapshot();
    const t0 = performance.now();
    await createPlan(planName, steps());
    await watch.completion([name("total")]);
    const p = await finished(planName);
    const ms = performance.now() - t0;
    await Bun.sleep(500);
    expect(p.status?.phase).toBe("Succeeded");
    expect(p.status?.counts).toEqual({ total: 20, pending: 0, running: 0, succeeded: 20, failed: 0, skipped: 0 });
    expect((await cluster.mcp.tasks.get(ns, name("total"))).status?.result).toEqual({ sum: expected });
    expect(condition(p, "Succeeded")).toMatchObject({ status: "True", reason: "AllStepsSucceeded" });
    return { ms, delays: startDelays(name, t0), writes: diff(watch.snapshot(), before) };
  }

  test("runs on the agents with results passed on; kubectl shows it; its overhead per step is printed", async () => {
    // Three rounds, the order alternating, on a machine other work shares: the medians are the figures.
    const direct: Awaited<ReturnType<typeof runDirect>>[] = [];
    const plan: Awaited<ReturnType<typeof runPlan>>[] = [];
    for (const round of [1, 2, 3]) {
      if (round % 2) {
        direct.push(await runDirect(`direct${round}`));
        plan.push(await runPlan(`fan${round}`));
      } else {
        plan.push(await runPlan(`fan${round}`));
        direct.push(await runDirect(`direct${round}`));
      }
    }

    const get = await cluster.kubectl(["get", "plans", "-n", ns, "fan1"]);
    expect(get.code).toBe(0);
    const [header, row] = get.stdout.trim().split("\n");
    expect(header?.split(/\s+/)).toEqual(["NAME", "PHASE", "DONE", "RUNNING", "FAILED", "AGE"]);
    expect(row?.split(/\s+/).slice(0, 5)).toEqual(["fan1", "Succeeded", "20/20", "0", "0"]);
    const wide = await cluster.kubectl(["get", "pl", "-n", ns, "fan1", "-o", "wide"]);
    expect(wide.stdout.split("\n")[1]).toContain("AllStepsSucceeded");
    const tasks = await cluster.kubectl(["get", "tasks", "-n", ns, "-l", "mcp.io/plan=fan1", "-o", "name"]);
    expect(tasks.stdout.trim().split("\n")).toHaveLength(20);

    const n = 20;
    const writesOf = (w: Record<string, number>, k: string) => w[k] ?? 0;
    const planOwn = (w: Record<string, number>) =>
      writesOf(w, "plan create") + writesOf(w, "plan update") + writesOf(w, "event on Plan");
    const taskWrites = (w: Record<string, number>) => writesOf(w, "task create") + writesOf(w, "task update");
    const med = (runs: { ms: number }[]) => median(runs.map((r) => r.ms));
    const delays = (runs: { delays: number[] }[]) => runs.flatMap((r) => r.delays);
    const figures = {
      steps: n,
      rounds: 3,
      directMs: Math.round(med(direct)),
      planMs: Math.round(med(plan)),
      overheadMsPerStep: round((med(plan) - med(direct)) / n),
      startDelayMedianMs: { direct: round(median(delays(direct))), plan: round(median(delays(plan))) },
      startDelayMaxMs: { direct: round(Math.max(...delays(direct))), plan: round(Math.max(...delays(plan))) },
      writes: { direct: direct[0]?.writes, plan: plan[0]?.writes },
      planWritesPerStep: round(median(plan.map((r) => planOwn(r.writes))) / n),
      taskWritesPerStep: {
        direct: round(median(direct.map((r) => taskWrites(r.writes))) / n),
        plan: round(median(plan.map((r) => taskWrites(r.writes))) / n),
      },
    };
    console.log(`plan overhead per step: ${JSON.stringify(figures)}`);
    // The plan's own writes: its create, a status write per batch of steps that started or finished together, two Events.
    for (const r of plan) expect(planOwn(r.writes)).toBeLessThanOrEqual(2 * n);
    // Its steps' Tasks cost what the same Tasks cost when created directly.
    expect(plan.map((r) => taskWrites(r.writes))).toEqual(direct.map((r) => taskWrites(r.writes)));
  }, 180_000);
});

describe("over MCP", () => {
  let client: Client;
  beforeAll(async () => {
    client = new Client({ name: "plans-client", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${server.port}/mcp`)));
  });
  afterAll(() => client?.close());

  const gatewayPlans = async () =>
    (await cluster.mcp.plans.list(ns, { labelSelector: "mcp.io/created-by=gateway" })).items;

  test("conductor__run_plan runs a plan, with progress and a message per step, and returns its summary", async () => {
    const listed = (await client.listTools()).tools.find((t) => t.name === "conductor__run_plan");
    expect(listed?.execution).toEqual({ taskSupport: "forbidden" });
    const messages: { step: string; phase: string }[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (m) => {
      messages.push(m.params.data as { step: string; phase: string });
    });
    const progress: { progress: number; total?: number; message?: string }[] = [];
    const res = await client.callTool(
      {
        name: "conductor__run_plan",
        arguments: {
          name: "report",
          steps: [
            { name: "parse", tool: "csv_to_json", payload: { csv: csv(["r1,1", "r1,2", "r2,3"]) } },
            {
              name: "count",
              tool: "query_records",
              dependsOn: ["parse"],
              payload: { aggregate: [{ op: "count", as: "n" }] },
              inputs: { rows: "$.steps.parse.result.rows" },
            },
            {
              name: "note",
              tool: "remember",
              dependsOn: ["parse"],
              payload: { key: "by" },
              inputs: { value: "$.context.who" },
            },
          ],
          context: { who: "ada" },
        },
      },
      undefined,
      { onprogress: (p) => void progress.push(p), timeout: 60_000 },
    );
    expect(res.isError).toBeUndefined();
    const summary = res.structuredContent as Record<string, unknown>;
    expect(summary).toMatchObject({
      phase: "Succeeded",
      counts: { total: 3, succeeded: 3 },
      context: { who: "ada", by: "ada" },
      results: { count: { rows: [{ n: 3 }], count: 1 }, note: { remembered: "by", planContext: { by: "ada" } } },
    });
    expect(String(summary.plan)).toStartWith("report-");
    expect(progress.at(-1)).toMatchObject({ progress: 3, total: 3 });
    expect(progress.map((p) => p.progress)).toEqual([...new Set(progress.map((p) => p.progress))].sort());
    expect(progress[0]).toMatchObject({ progress: 0, total: 3, message: "plan started: 3 steps" });
    expect(progress.map((p) => p.message)).toContainEqual(expect.stringContaining("step parse Succeeded"));
    expect(messages).toContainEqual(expect.objectContaining({ step: "parse", phase: "Running" }));
    expect(messages).toContainEqual(expect.objectContaining({ step: "count", phase: "Succeeded" }));
  }, 60_000);

  test("the 2026-07-28 era reaches the same tool; with the tasks extension too, it answers in the response", async () => {
    const { status, body } = await rpc2026(
      `http://127.0.0.1:${server.port}/mcp`,
      "tools/call",
      { name: "conductor__run_plan", arguments: { steps: [{ name: "one", tool: "echo", payload: { x: 1 } }] } },
      { extensions: true },
    );
    expect(status).toBe(200);
    expect(body.result.structuredContent).toMatchObject({ phase: "Succeeded", results: { one: { got: { x: 1 } } } });
  }, 30_000);

  test("a plan that cannot run is refused with the reason, and no Plan is made", async () => {
    const before = (await gatewayPlans()).length;
    const call = (steps: unknown[]) =>
      client.callTool({ name: "conductor__run_plan", arguments: { steps } }).then(
        () => "accepted",
        (e: { code: number; message: string }) => `${e.code} ${e.message}`,
      );
    expect(
      await call([
        { name: "a", tool: "echo", dependsOn: ["b"] },
        { name: "b", tool: "echo", dependsOn: ["a"] },
      ]),
    ).toEndWith("Invalid plan: dependencies form a cycle: a depends on b, which depends on a");
    expect(await call([{ name: "a", tool: "no_such_tool" }])).toContain("Step a: unknown tool no_such_tool");
    expect(await call([{ name: "a", tool: "csv_to_json", payload: { csv: 1 } }])).toContain(
      "Invalid payload for tool csv_to_json: steps.a.payload.csv",
    );
    expect(await call([{ name: "a", tool: "echo", inputs: { x: "$.steps.z.result" } }])).toContain(
      "step a input x reads step z, which is not in its dependsOn",
    );
    expect((await gatewayPlans()).length).toBe(before);
  }, 30_000);

  test("a client that goes away cancels its plan", async () => {
    const abort = new AbortController();
    const call = client
      .callTool(
        { name: "conductor__run_plan", arguments: { name: "left", steps: [{ name: "long", tool: "wait" }] } },
        undefined,
        { signal: abort.signal, timeout: 60_000 },
      )
      .catch((e: unknown) => e);
    const plan = await eventually(async () =>
      (await gatewayPlans()).find(
        (p) => p.metadata.name?.startsWith("left-") && stepState(p, "long")?.phase === "Running",
      ),
    );
    abort.abort();
    await call;
    const p = await finished(plan.metadata.name ?? "");
    expect(p.spec.cancel).toBe(true);
    expect(p.status?.phase).toBe("Cancelled");
    await eventually(() => aborted.has(`${plan.metadata.name}-long`), { message: "the agent stopped the tool" });
  }, 60_000);
});
