/**
 * What a Plan costs per step, on a real local control plane with the
 * conductor and agents in this process: a plan of one step, WIDTH steps
 * that each take its result (fan-out), and one that depends on them all
 * (fan-in), against the same Tasks created directly by this process, each
 * as soon as its dependencies completed. ROUNDS rounds, the order
 * alternating; per run the wall time, each step's start after its
 * dependencies completed (as a watch sees it), and the writes by kind (a
 * watch over the namespace: every add and update is one). Prints a table,
 * then one JSON line of figures; asserts nothing.
 *   WIDTH=30 ROUNDS=5 bun bench/plans.ts
 */
import type { Plan, Task } from "../lib/api/resources.ts";
import { LocalControlPlane } from "../lib/control-plane/local.ts";
import { Informer } from "../lib/kube/informer.ts";
import { type KubeObject, ResourceClient } from "../lib/kube/resource-client.ts";
import { setUpDomain } from "./control-plane.ts";
import { echoTool, benchLog as log, startInProcessConductor } from "./harness.ts";
import { type Figures, fmt, printFigures, summarize, table } from "./stats.ts";

const WIDTH = Number(process.env.WIDTH ?? 30);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const AGENTS = Number(process.env.AGENTS ?? 2);
if (WIDTH < 1 || WIDTH > 62) throw new Error("WIDTH is 1 to 62: a plan has at most 64 steps");
const STEPS = WIDTH + 2;
const ns = "bench-plans";

const cp = await LocalControlPlane.start();
let stopConductor: (() => Promise<void>) | undefined;
try {
  const { conn, mcp } = await setUpDomain(cp, ns);
  const conductor = await startInProcessConductor({
    conn,
    namespace: ns,
    agents: {
      names: Array.from({ length: AGENTS }, (_, i) => `agent-${i}`),
      tools: [echoTool],
      maxConcurrentTasks: WIDTH,
    },
  });
  stopConductor = conductor.stop;
  await until(async () => (await mcp.agents.list(ns)).items.every((a) => a.status?.phase === "Ready"), "agents Ready");

  // The namespace as a watch sees it: when each Task appeared and completed, and the writes of each kind.
  const added = new Map<string, number>();
  const completed = new Map<string, number>();
  const writes = new Map<string, number>();
  const succeeded = new Map<string, number>();
  const count = (k: string) => writes.set(k, (writes.get(k) ?? 0) + 1);
  const waiters = new Set<() => void>();
  const seen = (t: Task) => {
    if (t.status?.phase === "Completed" && !completed.has(t.metadata.name ?? ""))
      completed.set(t.metadata.name ?? "", performance.now());
    for (const w of [...waiters]) w();
  };
  /** Resolves when the watch has seen every named Task completed: no polling interval in the measurement. */
  const done = (names: string[]) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!names.every((n) => completed.has(n))) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const eventType = { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true };
  const informers = [
    new Informer<Task>(mcp.tasks, { namespace: ns }).on({
      add: (t) => {
        added.set(t.metadata.name ?? "", performance.now());
        count("task create");
        seen(t);
      },
      update: (t) => {
        count("task update");
        seen(t);
      },
    }),
    new Informer<Plan>(mcp.plans, { namespace: ns }).on({
      add: () => count("plan create"),
      update: (p) => {
        count("plan update");
        if (p.status?.phase === "Succeeded" && !succeeded.has(p.metadata.name ?? ""))
          succeeded.set(p.metadata.name ?? "", performance.now());
        for (const w of [...waiters]) w();
      },
    }),
    new Informer<KubeObject & { involvedObject?: { kind?: string } }>(new ResourceClient(conn, eventType), {
      namespace: ns,
    }).on({ add: (e) => count(`event on ${e.involvedObject?.kind}`) }),
  ] as Informer<KubeObject>[];
  await Promise.all(informers.map((i) => i.start()));

  const fan = Array.from({ length: WIDTH }, (_, i) => `fan-${i}`);
  const spec = (message: unknown) => ({
    requiredCapabilities: [echoTool.capability],
    tool: echoTool.name,
    payload: { message },
  });

  /** Start delays (ms) of the steps: after the run started, or after their last dependency completed. */
  const delays = (name: (s: string) => string, t0: number) => {
    const at = (s: string) => added.get(name(s)) as number;
    const doneAt = (s: string) => completed.get(name(s)) as number;
    return [
      at("first") - t0,
      ...fan.map((s) => at(s) - doneAt("first")),
      at("last") - Math.max(...fan.map((s) => doneAt(s))),
    ];
  };

  async function direct(prefix: string) {
    const name = (s: string) => `${prefix}-${s}`;
    const before = new Map(writes);
    const t0 = performance.now();
    await mcp.tasks.create(ns, { metadata: { name: name("first") }, spec: spec("hello") });
    await done([name("first")]);
    const value = (await mcp.tasks.get(ns, name("first"))).status?.result?.value;
    await Promise.all(fan.map((s) => mcp.tasks.create(ns, { metadata: { name: name(s) }, spec: spec(value) })));
    await done(fan.map(name));
    const last = (await mcp.tasks.get(ns, name(fan[0] as string))).status?.result?.value;
    await mcp.tasks.create(ns, { metadata: { name: name("last") }, spec: spec(last) });
    await done([name("last")]);
    return finish(name, t0, before);
  }

  async function plan(planName: string) {
    const name = (s: string) => `${planName}-${s}`;
    const before = new Map(writes);
    const t0 = performance.now();
    await mcp.plans.create(ns, {
      metadata: { name: planName },
      spec: {
        steps: [
          { name: "first", tool: echoTool.name, payload: { message: "hello" } },
          ...fan.map((s) => ({
            name: s,
            tool: echoTool.name,
            dependsOn: ["first"],
            inputs: { message: "$.steps.first.result.value" },
          })),
          { name: "last", tool: echoTool.name, dependsOn: fan, inputs: { message: `$.steps.${fan[0]}.result.value` } },
        ],
      },
    });
    await done([name("last")]);
    await new Promise<void>((resolve) => {
      const check = () => {
        if (!succeeded.has(planName)) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
    const run = await finish(name, t0, before);
    return { ...run, finishMs: (succeeded.get(planName) as number) - (completed.get(name("last")) as number) };
  }

  async function finish(name: (s: string) => string, t0: number, before: Map<string, number>) {
    const ms = performance.now() - t0;
    await Bun.sleep(500); // the run's last writes (Events) land before the next run counts
    const w = Object.fromEntries([...writes].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
    return { ms, delays: delays(name, t0), writes: w };
  }

  type Run = Awaited<ReturnType<typeof finish>>;
  const runs: { direct: Run[]; plan: (Run & { finishMs: number })[] } = { direct: [], plan: [] };
  log(`warming up, then ${ROUNDS} rounds of ${STEPS} steps (${WIDTH} wide) on ${AGENTS} agents`);
  await direct("warm-direct");
  await plan("warm-plan");
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      runs.direct.push(await direct(`direct-${r}`));
      runs.plan.push(await plan(`plan-${r}`));
    } else {
      runs.plan.push(await plan(`plan-${r}`));
      runs.direct.push(await direct(`direct-${r}`));
    }
  }
  await Promise.all(informers.map((i) => i.stop()));

  const of = (rs: Run[], k: string) => summarize(rs.map((r) => r.writes[k] ?? 0)).p50;
  const own = (rs: Run[]) => of(rs, "plan create") + of(rs, "plan update") + of(rs, "event on Plan");
  const tasks = (rs: Run[]) => of(rs, "task create") + of(rs, "task update");
  const wall = { direct: summarize(runs.direct.map((r) => r.ms)), plan: summarize(runs.plan.map((r) => r.ms)) };
  const start = {
    direct: summarize(runs.direct.flatMap((r) => r.delays)),
    plan: summarize(runs.plan.flatMap((r) => r.delays)),
  };
  const planEnd = summarize(runs.plan.map((r) => r.finishMs));
  console.log(
    table([
      ["", "directly", "as a plan"],
      ["wall time p50 (ms)", fmt(wall.direct.p50, 0), fmt(wall.plan.p50, 0)],
      ["step start after its dependencies p50 (ms)", fmt(start.direct.p50, 1), fmt(start.plan.p50, 1)],
      ["step start after its dependencies p99 (ms)", fmt(start.direct.p99, 1), fmt(start.plan.p99, 1)],
      ["the plan Succeeded after its last step completed p50 (ms)", "-", fmt(planEnd.p50, 1)],
      ["Task writes per step", fmt(tasks(runs.direct) / STEPS, 2), fmt(tasks(runs.plan) / STEPS, 2)],
      ["the Plan's own writes per step", "-", fmt(own(runs.plan) / STEPS, 2)],
    ]),
  );
  const figures: Figures = {
    steps: STEPS,
    width: WIDTH,
    rounds: ROUNDS,
    agents: AGENTS,
    wallMs: { direct: wall.direct.p50, plan: wall.plan.p50 },
    overheadMsPerStep: (wall.plan.p50 - wall.direct.p50) / STEPS,
    planFinishAfterLastStepMs: planEnd.p50,
    startDelayMs: {
      direct: { p50: start.direct.p50, p99: start.direct.p99 },
      plan: { p50: start.plan.p50, p99: start.plan.p99 },
    },
    taskWritesPerStep: { direct: tasks(runs.direct) / STEPS, plan: tasks(runs.plan) / STEPS },
    planWritesPerStep: own(runs.plan) / STEPS,
    planWrites: {
      create: of(runs.plan, "plan create"),
      status: of(runs.plan, "plan update"),
      events: of(runs.plan, "event on Plan"),
    },
  };
  printFigures("plans", figures);
} finally {
  await stopConductor?.().catch(() => {});
  await cp.stop();
}

/** Polls `cond` every `everyMs` until it holds. */
async function until(cond: () => boolean | Promise<boolean>, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}
