// Unit tests of the agent runtime against an apiserver in memory
// (lib/kube/fake-apiserver.ts): what it registers, which tasks it takes, the
// status each outcome writes and how many writes, retries of status writes,
// cancellation, questions to the client, restarts and the drain. The same
// runtime against a real apiserver, with the controller: test/integration/agents.test.ts.
import { afterEach, describe, expect, test } from "bun:test";
import pino from "pino";
import { type Agent, mcpClients, type Task } from "../api/resources.ts";
import { boundAgentLabel } from "../api/task-state.ts";
import { FakeClock } from "../clock.ts";
import { FakeApiServer, type FakeRequest } from "../kube/fake-apiserver.ts";
import { type Lease, leaseClient } from "../kube/leases.ts";
import { traceparentAnnotation } from "../trace-context.ts";
import { startTracing, tracedServices } from "../tracing.ts";
import { AgentRuntime, type AgentRuntimeOptions, drainingAnnotation } from "./runtime.ts";
import { type AnyTool, defineTool, type ToolDefinition, ToolError } from "./tool.ts";

const ns = "team";
const me = "agent-1";

/** Lets what is under way reach its next wait, then moves the clock on. */
async function tick(clock: FakeClock, ms: number): Promise<void> {
  await Bun.sleep(5);
  clock.advance(ms);
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = 3_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

const echo = defineTool({
  name: "echo",
  description: "echoes",
  capability: "text",
  inputSchema: { properties: { text: { type: "string" } }, required: ["text"] },
  handler: (input: { text: string }) => ({ echoed: input.text }),
});

/** A tool of the capability "text" taking any object: what most tests here run. */
function textTool<I, O>(name: string, def: Pick<ToolDefinition<I, O>, "handler" | "timeoutMs">): ToolDefinition<I, O> {
  return defineTool({ name, description: name, capability: "text", inputSchema: {}, ...def });
}

/** A tool that runs until the test lets it go (or it is aborted), reporting its context. */
function gate(name = "gate", capability = "gated") {
  let release: (v: unknown) => void = () => {};
  let fail: (e: unknown) => void = () => {};
  const seen: { signal?: AbortSignal; attempt?: number; key?: string; started: number } = { started: 0 };
  const tool = defineTool({
    name,
    description: "waits",
    capability,
    inputSchema: {},
    handler: (_: unknown, ctx) =>
      new Promise((resolve, reject) => {
        seen.signal = ctx.signal;
        seen.attempt = ctx.attempt;
        seen.key = ctx.idempotencyKey;
        seen.started++;
        release = resolve;
        fail = reject;
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
      }),
  });
  return { tool, seen, release: (v: unknown) => release(v), fail: (e: unknown) => fail(e) };
}

const running: AgentRuntime[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.shutdown();
});

function setup(opts: Partial<AgentRuntimeOptions> = {}, api = new FakeApiServer()) {
  const conn = api.connection();
  // what the runtime logs, as JSON lines: operators read these, so some tests check them
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const logged = (msg: string) => logs.filter((l) => l.msg === msg);
  const clients = mcpClients(conn);
  const runtime = new AgentRuntime({
    name: me,
    namespace: ns,
    conn,
    tools: [echo],
    log,
    shutdownGraceMs: 50,
    ...opts,
  });
  running.push(runtime);
  const tasksPath = clients.tasks.path(ns);
  const taskPath = (name: string) => clients.tasks.path(ns, name);
  const task = (name: string) => api.get<Task>(taskPath(name));
  /** A Task the controller assigned to `agent` (this one by default), in `attempt`. */
  const assign = (name: string, spec: Partial<Task["spec"]> = {}, status: Partial<NonNullable<Task["status"]>> = {}) =>
    api.put<Task>(tasksPath, {
      metadata: { name },
      spec: { requiredCapabilities: ["text"], tool: "echo", payload: { text: name }, ...spec },
      status: { phase: "Assigned", assignedAgent: me, attempts: 1, ...status },
    });
  /** A Task the gateway created bound to this agent: no status. */
  const bind = (name: string, spec: Partial<Task["spec"]> = {}, agent = me) =>
    api.put<Task>(tasksPath, {
      metadata: { name, labels: { [boundAgentLabel]: agent } },
      spec: { requiredCapabilities: ["text"], tool: "echo", payload: { text: name }, ...spec },
    });
  /** Changes a Task's status as another writer (the controller, the gateway) would. */
  const update = (name: string, status: Partial<NonNullable<Task["status"]>>) => {
    const t = task(name) as Task;
    api.put(tasksPath, { ...t, status: { ...t.status, ...status } });
  };
  const statusWrites = (name: string) => api.writes(`/tasks/${name}/status`).length;
  const finished = (name: string) =>
    until(`${name} to finish`, () => {
      const t = task(name);
      return (t?.status?.phase === "Completed" || t?.status?.phase === "Failed") && t;
    });
  return {
    api,
    runtime,
    clients,
    task,
    assign,
    bind,
    update,
    statusWrites,
    finished,
    taskPath,
    tasksPath,
    logs,
    logged,
  };
}

describe("registering", () => {
  test("publishes its tools and capabilities as an Agent, owned by its pod", async () => {
    const { api, runtime, clients } = setup({
      tools: [
        echo,
        { ...echo, name: "shout", title: "Shout", outputSchema: { type: "object" }, taskSupport: "required" },
      ],
      capabilities: ["text", "extra"],
      tags: ["fast"],
      resources: { cpu: "1" },
      maxConcurrentTasks: 3,
      pod: { name: "pod-a", uid: "pod-uid" },
    });
    expect(runtime.ready).toBe(false);
    await runtime.start();
    expect(runtime.ready).toBe(true);
    const agent = api.get<Agent>(clients.agents.path(ns, me));
    expect(agent?.spec).toEqual({
      capabilities: ["text", "extra"],
      tools: [
        {
          name: "echo",
          description: "echoes",
          capability: "text",
          inputSchema: echo.inputSchema && { type: "object", ...echo.inputSchema },
        },
        {
          name: "shout",
          title: "Shout",
          description: "echoes",
          capability: "text",
          inputSchema: { type: "object", ...echo.inputSchema },
          outputSchema: { type: "object" },
          taskSupport: "required",
        },
      ],
      tags: ["fast"],
      resources: { cpu: "1" },
      maxConcurrentTasks: 3,
    });
    expect(agent?.metadata.ownerReferences).toEqual([{ apiVersion: "v1", kind: "Pod", name: "pod-a", uid: "pod-uid" }]);
    // its heartbeat: a Lease of its own, renewed at start
    const lease = api.get<Lease>(leaseClient(api.connection()).path(ns, me));
    expect(lease?.spec.holderIdentity).toBe(me);
  });

  test("an Agent left by an earlier run of the same name is taken over: no longer draining, the new pod its owner", async () => {
    const { api, runtime, clients } = setup({ pod: { name: "pod-b", uid: "uid-b" } });
    api.put<Agent>(clients.agents.path(ns), {
      metadata: {
        name: me,
        annotations: { [drainingAnnotation]: "true", keep: "yes" },
        ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "pod-a", uid: "uid-a" }],
      },
      spec: { capabilities: ["old"], tools: [], tags: [], maxConcurrentTasks: 1 },
    });
    await runtime.start();
    const agent = api.get<Agent>(clients.agents.path(ns, me));
    expect(agent?.metadata.annotations).toEqual({ keep: "yes" });
    expect(agent?.metadata.ownerReferences).toEqual([{ apiVersion: "v1", kind: "Pod", name: "pod-b", uid: "uid-b" }]);
    expect(agent?.spec.capabilities).toEqual(["text"]);
    expect(agent?.spec.maxConcurrentTasks).toBe(5);
    expect(agent?.spec.tags).toEqual([]);
    // the annotation the controller reads (services/controller) to stop placing on a draining agent
    expect(drainingAnnotation).toBe("mcp.io/draining");
  });

  test("any other failure to create the Agent fails the start", async () => {
    const { api, runtime } = setup();
    api.failNext((r) => r.method === "POST" && r.path.endsWith("/agents"), { code: 403, reason: "Forbidden" });
    await expect(runtime.start()).rejects.toThrow(/fault 403/);
    expect(runtime.ready).toBe(false);
  });

  test("two tools of one name are refused", () => {
    expect(() => setup({ tools: [echo, echo] })).toThrow("two tools are named echo");
  });
});

describe("running a task", () => {
  test("an assigned task runs its tool and ends in one status write: Completed, with the start's fields", async () => {
    const { runtime, assign, finished, statusWrites } = setup();
    await runtime.start();
    const before = Date.now();
    assign("t1", {}, { progress: { done: 1 } as never, messages: [{ seq: 1 }] as never });
    const t = await finished("t1");
    expect(t.status).toMatchObject({ phase: "Completed", assignedAgent: me, attempts: 1, result: { echoed: "t1" } });
    expect(t.status?.progress).toBeUndefined();
    expect(t.status?.messages).toBeUndefined();
    expect(t.status?.error).toBeUndefined();
    const start = Date.parse(t.status?.startTime ?? "");
    const end = Date.parse(t.status?.completionTime ?? "");
    expect(start).toBeGreaterThanOrEqual(before - 1);
    expect(end).toBeGreaterThanOrEqual(start);
    expect(statusWrites("t1")).toBe(1);
    expect(runtime.inFlight).toBe(0);
    expect(await runtime.metrics.executed.get()).toMatchObject({
      values: [
        expect.objectContaining({ labels: expect.objectContaining({ tool: "echo", outcome: "completed" }), value: 1 }),
      ],
    });
  });

  test("a task bound to it, with no status, is started by it: assignedAgent and attempt 1 in the same write", async () => {
    const { runtime, bind, finished, statusWrites } = setup();
    await runtime.start();
    bind("b1");
    const t = await finished("b1");
    expect(t.status).toMatchObject({ phase: "Completed", assignedAgent: me, attempts: 1, result: { echoed: "b1" } });
    expect(statusWrites("b1")).toBe(1);
  });

  test("tasks of other agents, other phases and bound elsewhere are left alone", async () => {
    const { runtime, assign, bind, task, api } = setup({ name: "agent-1" });
    await runtime.start();
    assign("other", {}, { assignedAgent: "agent-2" });
    assign("running", {}, { phase: "Running" });
    assign("pending", {}, { phase: "Pending" });
    assign("done", {}, { phase: "Completed" });
    bind("elsewhere", {}, "agent-2");
    assign("mine");
    await until("mine", () => task("mine")?.status?.phase === "Completed");
    await Bun.sleep(20);
    for (const name of ["other", "running", "pending", "done", "elsewhere"])
      expect(api.writes(`/tasks/${name}/`)).toEqual([]);
  });

  test("a task seen twice in one attempt (by its assignee and by its label) runs once; its next attempt runs again", async () => {
    const g = gate("gate", "text");
    const { runtime, api, tasksPath, task, finished } = setup({ tools: [g.tool] });
    await runtime.start();
    const labels = { [boundAgentLabel]: me };
    api.put<Task>(tasksPath, {
      metadata: { name: "twice", labels },
      spec: { requiredCapabilities: ["text"], tool: "gate" },
      status: { phase: "Assigned", assignedAgent: me, attempts: 1 },
    });
    await until("the tool to start", () => g.seen.started === 1);
    // the same attempt again (another cache's view), then the tool finishes
    const t = task("twice") as Task;
    api.put<Task>(tasksPath, { ...t, metadata: { ...t.metadata, annotations: { poke: "1" } } });
    await Bun.sleep(20);
    g.release({ ok: 1 });
    await finished("twice");
    expect(g.seen.started).toBe(1);
    // an old view of attempt 1 once it is over starts nothing
    api.put<Task>(tasksPath, { ...t, metadata: { ...t.metadata, resourceVersion: undefined } });
    await Bun.sleep(20);
    expect(g.seen.started).toBe(1);
    // attempt 2
    const t2 = task("twice") as Task;
    api.put<Task>(tasksPath, { ...t2, status: { phase: "Assigned", assignedAgent: me, attempts: 2 } });
    await until("attempt 2", () => g.seen.started === 2);
    expect(g.seen.attempt).toBe(2);
    expect(g.seen.key).toBe(`${t.metadata.uid}/2`);
    g.release("done");
    expect((await finished("twice")).status?.result).toEqual({ value: "done" });
  });

  test("a task that outlives runningAfterMs is marked Running first, then ends", async () => {
    const g = gate("gate", "text");
    const { runtime, assign, task, finished, statusWrites } = setup({ tools: [g.tool], runningAfterMs: 10 });
    await runtime.start();
    assign("slow", { tool: "gate" });
    const r = await until("Running", () => task("slow")?.status?.phase === "Running" && task("slow"));
    expect(r.status).toMatchObject({ assignedAgent: me, attempts: 1 });
    const startTime = r.status?.startTime;
    expect(startTime).toBeDefined();
    g.release([1, 2]);
    const t = await finished("slow");
    expect(t.status?.result).toEqual({ value: [1, 2] });
    expect(t.status?.startTime).toBe(startTime as string);
    expect(statusWrites("slow")).toBe(2);
  });

  // The same instant tool under both settings: a short task writes only its end,
  // unless runningAfterMs is 0, "at once", which even the quickest task must honour.
  test.each<[number, string[]]>([
    [10_000, ["Completed"]],
    [0, ["Running", "Completed"]],
  ])("an instant task with runningAfterMs %p writes %p", async (runningAfterMs, phases) => {
    const { runtime, assign, finished, api } = setup({ runningAfterMs });
    await runtime.start();
    assign("quick");
    await finished("quick");
    expect(
      api.requests.filter((r) => r.path.endsWith("/quick/status")).map((r) => (r.body as Task).status?.phase as string),
    ).toEqual(phases);
  });

  test("by capability: the one tool that serves it runs; none or several fail the task, not retryable", async () => {
    const other = { ...echo, name: "other", capability: "other" };
    const { runtime, assign, finished } = setup({ tools: [echo, other, { ...other, name: "other2" }] });
    await runtime.start();
    assign("by-cap", { tool: undefined, requiredCapabilities: ["text"] });
    expect((await finished("by-cap")).status?.result).toEqual({ echoed: "by-cap" });
    assign("none", { tool: undefined, requiredCapabilities: ["nothing", "else"] });
    expect((await finished("none")).status?.error).toEqual({
      reason: "UnknownTool",
      message: "no tool of this agent serves nothing, else",
      retryable: false,
    });
    assign("two", { tool: undefined, requiredCapabilities: ["other"] });
    expect((await finished("two")).status?.error).toEqual({
      reason: "UnknownTool",
      message: "the task names no tool and 2 tools serve its capabilities",
      retryable: false,
    });
    assign("unknown", { tool: "nope" });
    const u = await finished("unknown");
    expect(u.status?.error).toEqual({
      reason: "UnknownTool",
      message: "this agent has no tool nope",
      retryable: false,
    });
    expect(u.status).toMatchObject({ phase: "Failed", assignedAgent: me, attempts: 1 });
    expect(u.status?.startTime).toBeDefined();
  });

  test("input that does not fit the schema fails the task, not retryable, without running the tool", async () => {
    let ran = 0;
    const strict = defineTool({ ...echo, handler: () => ++ran });
    const { runtime, assign, finished } = setup({ tools: [strict] });
    await runtime.start();
    assign("bad", { payload: { text: 5 } });
    const t = await finished("bad");
    expect(t.status?.error?.reason).toBe("InvalidInput");
    expect(t.status?.error?.retryable).toBe(false);
    expect(t.status?.error?.message).toContain("text");
    expect(ran).toBe(0);
    assign("missing", { payload: undefined });
    expect((await finished("missing")).status?.error?.reason).toBe("InvalidInput");
  });

  test("the tool's failures: ToolError as it says, any other error ToolFailed and retryable", async () => {
    const thrower = textTool("throw", {
      handler: (input: { kind?: string }) => {
        if (input.kind === "tool") throw new ToolError("Quota", "over the quota", { retryable: true });
        if (input.kind === "plain") throw new ToolError("Bad", "bad thing");
        if (input.kind === "string") throw "a string";
        throw new Error("boom");
      },
    });
    const { runtime, assign, finished } = setup({ tools: [thrower] });
    await runtime.start();
    assign("a", { tool: "throw", payload: { kind: "tool" } });
    assign("b", { tool: "throw", payload: { kind: "plain" } });
    assign("c", { tool: "throw", payload: {} });
    assign("d", { tool: "throw", payload: { kind: "string" } });
    expect((await finished("a")).status?.error).toEqual({
      reason: "Quota",
      message: "over the quota",
      retryable: true,
    });
    expect((await finished("b")).status?.error).toEqual({ reason: "Bad", message: "bad thing", retryable: false });
    const c = await finished("c");
    expect(c.status?.error).toEqual({ reason: "ToolFailed", message: "boom", retryable: true });
    expect(c.status?.phase).toBe("Failed");
    expect((await finished("d")).status?.error).toEqual({ reason: "ToolFailed", message: "a string", retryable: true });
  });

  test("results: an object as it is, anything else under value; one larger than the limit fails the task", async () => {
    const give = textTool("give", { handler: (input: { v: unknown }) => input.v });
    const { runtime, assign, finished } = setup({ tools: [give], maxResultBytes: 40 });
    await runtime.start();
    assign("obj", { tool: "give", payload: { v: { a: 1 } } });
    assign("num", { tool: "give", payload: { v: 7 } });
    assign("nul", { tool: "give", payload: { v: null } });
    assign("exact", { tool: "give", payload: { v: { s: "x".repeat(32) } } }); // 40 bytes as JSON
    assign("big", { tool: "give", payload: { v: { s: "x".repeat(33) } } });
    expect((await finished("obj")).status?.result).toEqual({ a: 1 });
    expect((await finished("num")).status?.result).toEqual({ value: 7 });
    expect((await finished("nul")).status?.result).toEqual({ value: null });
    expect((await finished("exact")).status?.phase).toBe("Completed");
    expect((await finished("big")).status?.error).toEqual({
      reason: "ResultTooLarge",
      message: "the result is 41 bytes; the limit is 40",
      retryable: false,
    });
  });

  test("a tool that runs past its time limit fails Timeout, retryable; the tool's own limit wins over the agent's", async () => {
    const g = gate("gate", "text");
    const { runtime, assign, finished } = setup({ tools: [{ ...g.tool, timeoutMs: 30 }], taskTimeoutMs: 60_000 });
    await runtime.start();
    assign("late", { tool: "gate" });
    const t = await finished("late");
    expect(t.status?.error).toEqual({ reason: "Timeout", message: "the tool ran longer than 30 ms", retryable: true });
    expect(g.seen.signal?.aborted).toBe(true);
  });

  test("the agent's time limit applies to a tool without its own", async () => {
    const g = gate("gate", "text");
    const { runtime, assign, finished } = setup({ tools: [g.tool], taskTimeoutMs: 30 });
    await runtime.start();
    assign("late", { tool: "gate" });
    expect((await finished("late")).status?.error?.message).toBe("the tool ran longer than 30 ms");
  });

  test("past its deadline a task's tool is aborted and the agent writes nothing: the controller fails it", async () => {
    const g = gate("gate", "text");
    const { runtime, assign, api } = setup({ tools: [g.tool] });
    await runtime.start();
    assign("deadline", { tool: "gate", deadline: new Date(Date.now() + 40).toISOString() });
    await until("the abort", () => g.seen.signal?.aborted);
    await until("the run to end", () => runtime.inFlight === 0);
    expect(api.writes("/tasks/deadline/")).toEqual([]);
    expect(await outcomes(runtime)).toEqual({ "gate/timeout": 1 });
  });

  test("runs at most maxConcurrentTasks at once", async () => {
    const g1 = gate("g1", "text");
    const g2 = gate("g2", "text");
    const { runtime, assign, finished } = setup({ tools: [g1.tool, g2.tool], maxConcurrentTasks: 1 });
    await runtime.start();
    assign("first", { tool: "g1" });
    await until("first", () => g1.seen.started === 1);
    assign("second", { tool: "g2" });
    await Bun.sleep(30);
    expect(g2.seen.started).toBe(0);
    expect(runtime.inFlight).toBe(2);
    g1.release(1);
    await until("second", () => g2.seen.started === 1);
    g2.release(2);
    await finished("second");
  });
});

describe("a task that leaves the agent", () => {
  for (const [what, change] of [
    ["deleted", (s: ReturnType<typeof setup>) => s.api.remove(s.taskPath("gone"))],
    ["reassigned", (s: ReturnType<typeof setup>) => s.update("gone", { assignedAgent: "agent-2" })],
    ["sent back to Pending", (s: ReturnType<typeof setup>) => s.update("gone", { phase: "Pending" })],
    ["failed by the controller", (s: ReturnType<typeof setup>) => s.update("gone", { phase: "Failed" })],
    ["moved to another attempt", (s: ReturnType<typeof setup>) => s.update("gone", { attempts: 2 })],
  ] as const) {
    test(`${what}: its tool is aborted and nothing is written`, async () => {
      const g = gate("gate", "text");
      const s = setup({ tools: [g.tool] });
      await s.runtime.start();
      s.assign("gone", { tool: "gate" });
      await until("the tool", () => g.seen.started === 1);
      change(s);
      await until("the abort", () => g.seen.signal?.aborted);
      await until("the run to end", () => s.runtime.inFlight === 0);
      expect(s.api.writes("/tasks/gone/status")).toEqual([]);
      expect(await s.runtime.metrics.executed.get()).toMatchObject({
        values: [expect.objectContaining({ labels: expect.objectContaining({ outcome: "cancelled" }) })],
      });
    });
  }

  test("an update that leaves it with the agent in the same attempt reaches the run and aborts nothing", async () => {
    const g = gate("gate", "text");
    const s = setup({ tools: [g.tool] });
    await s.runtime.start();
    s.assign("stay", { tool: "gate" });
    await until("the tool", () => g.seen.started === 1);
    const t = s.task("stay") as Task;
    s.api.put(s.tasksPath, { ...t, metadata: { ...t.metadata, annotations: { x: "1" } } });
    await Bun.sleep(20);
    expect(g.seen.signal?.aborted).toBe(false);
    g.release({ fine: true });
    expect((await s.finished("stay")).status?.result).toEqual({ fine: true });
  });
});

const statusOf = (name: string) => (r: FakeRequest) => r.method === "PUT" && r.path.endsWith(`/tasks/${name}/status`);

describe("status writes", () => {
  test("an apiserver briefly away (connection dropped, 503) is waited out with backoff: the result is written", async () => {
    const clock = new FakeClock(Date.now());
    const { runtime, assign, api, finished } = setup({ clock });
    await runtime.start();
    api.failNext(statusOf("t"), "disconnect");
    api.failNext(statusOf("t"), { code: 503, reason: "ServiceUnavailable" });
    assign("t");
    const writes = () => api.requests.filter(statusOf("t")).length;
    await until("the first write", () => writes() === 1);
    // backoff: 250 ms, then 500 ms
    await tick(clock, 249);
    await Bun.sleep(5);
    expect(writes()).toBe(1);
    clock.advance(1);
    await until("the second write", () => writes() === 2);
    await tick(clock, 499);
    await Bun.sleep(5);
    expect(writes()).toBe(2);
    clock.advance(1);
    expect((await finished("t")).status?.phase).toBe("Completed");
    expect(writes()).toBe(3);
  });

  test("past statusWriteRetryMs a write that keeps failing is given up, and so is the failure written after it", async () => {
    const clock = new FakeClock(Date.now());
    const { runtime, assign, api, task } = setup({ clock, statusWriteRetryMs: 1_000 });
    await runtime.start();
    for (let i = 0; i < 10; i++) api.failNext(statusOf("t"), { code: 500, reason: "InternalError" });
    assign("t");
    await until("the first write", () => api.requests.filter(statusOf("t")).length === 1);
    for (let i = 0; i < 20 && runtime.inFlight > 0; i++) {
      await tick(clock, 5_000);
    }
    expect(runtime.inFlight).toBe(0);
    // each of the two writes (the result, then its failure) tried once more after 250 ms, 5 s past its limit
    expect(api.requests.filter(statusOf("t")).length).toBe(4);
    expect(task("t")?.status?.phase).toBe("Assigned");
  });

  test("a conflict reads the task again (by name and assignee, never by get) and writes over the new version", async () => {
    const { runtime, assign, api, finished } = setup();
    await runtime.start();
    api.failNext(statusOf("t"), { code: 409, reason: "Conflict" });
    assign("t");
    const t = await finished("t");
    expect(t.status?.phase).toBe("Completed");
    const reads = api.requests.filter(
      (r) => r.method === "GET" && r.path.endsWith("/tasks") && r.query.get("watch") !== "true",
    );
    const read = reads.at(-1) as FakeRequest;
    expect(read.query.get("fieldSelector")).toBe(`metadata.name=t,status.assignedAgent=${me}`);
    expect(api.requests.some((r) => r.method === "GET" && r.path.endsWith("/tasks/t"))).toBe(false);
    expect(api.requests.filter(statusOf("t")).length).toBe(2);
  });

  test("a bound task is read again through its label", async () => {
    const { runtime, bind, api, finished } = setup();
    await runtime.start();
    api.failNext(statusOf("b"), { code: 409, reason: "Conflict" });
    // the read after the conflict finds it unstarted and bound: it is written again
    bind("b");
    expect((await finished("b")).status?.phase).toBe("Completed");
    const read = api.requests.filter(
      (r) => r.method === "GET" && r.query.get("fieldSelector") === "metadata.name=b",
    )[0];
    expect(read?.query.get("labelSelector")).toBe(`${boundAgentLabel}=${me}`);
  });

  test("a conflict after which the task is another agent's, in another attempt or finished, writes nothing more", async () => {
    const { runtime, assign, api, task, tasksPath, logged } = setup();
    await runtime.start();
    for (const [name, change] of [
      ["moved", { assignedAgent: "agent-2" }],
      ["retried", { attempts: 2 }],
      ["ended", { phase: "Failed" }],
    ] as const) {
      // the write conflicts because the controller changed the task just before
      const off = api.onRequest((r) => {
        if (!statusOf(name)(r)) return;
        off();
        const t = task(name) as Task;
        api.put(tasksPath, { ...t, status: { ...t.status, ...change } });
      });
      // the runtime sees the change too: keep its watch from cancelling first by changing within the write
      assign(name);
      await until(`${name} handled`, () => api.requests.filter(statusOf(name)).length >= 1 && runtime.inFlight === 0);
      await Bun.sleep(10);
      expect(api.requests.filter(statusOf(name)).length).toBe(1);
      expect(task(name)?.status?.phase).not.toBe("Completed");
    }
    expect(logged("Task execution failed unexpectedly")).toEqual([]);
  });

  test("a 403 from the admission policy is a conflict: read again, and given up when the task moved", async () => {
    const { runtime, assign, api, task, tasksPath } = setup();
    await runtime.start();
    const off = api.onRequest((r) => {
      if (!statusOf("t")(r)) return;
      off();
      const t = task("t") as Task;
      api.put(tasksPath, { ...t, status: { ...t.status, assignedAgent: "agent-2" } });
    });
    api.failNext(statusOf("t"), { code: 403, reason: "Forbidden" });
    assign("t");
    await until("the write", () => api.requests.filter(statusOf("t")).length === 1 && runtime.inFlight === 0);
    await Bun.sleep(10);
    expect(api.requests.filter(statusOf("t")).length).toBe(1);
  });

  for (const [code, reason] of [
    [403, "Forbidden"],
    [422, "Invalid"],
  ] as const)
    test(`a ${code} refusing the result of a task still ours is not retried: the task fails with the refusal, once`, async () => {
      const { runtime, assign, api, finished } = setup();
      await runtime.start();
      api.failNext(statusOf("t"), { code, reason, message: `refused: ${reason}` });
      assign("t");
      const t = await finished("t");
      expect(t.status?.error).toEqual({ reason: "ToolFailed", message: `refused: ${reason}`, retryable: true });
      expect(api.requests.filter(statusOf("t")).map((r) => (r.body as Task).status?.phase)).toEqual([
        "Completed",
        "Failed",
      ]);
    });

  test("conflict after conflict gives up after five more writes", async () => {
    const { runtime, assign, api, task } = setup();
    await runtime.start();
    for (let i = 0; i < 12; i++) api.failNext(statusOf("t"), { code: 409, reason: "Conflict" });
    assign("t");
    await until("the run to end", () => api.requests.filter(statusOf("t")).length >= 1 && runtime.inFlight === 0);
    // the result's write and the failure's (too many conflicting writes), six each
    expect(api.requests.filter(statusOf("t")).length).toBe(12);
    expect(task("t")?.status?.phase).toBe("Assigned");
  });

  test("the failure written after a result's conflicts says so", async () => {
    const { runtime, assign, api, finished } = setup();
    await runtime.start();
    for (let i = 0; i < 6; i++) api.failNext(statusOf("t"), { code: 409, reason: "Conflict" });
    assign("t");
    expect((await finished("t")).status?.error).toEqual({
      reason: "ToolFailed",
      message: "too many conflicting writes",
      retryable: true,
    });
    expect(api.requests.filter(statusOf("t")).length).toBe(7);
  });

  test("a task deleted before its write is not written", async () => {
    const { runtime, assign, api } = setup();
    await runtime.start();
    api.failNext(statusOf("t"), { code: 404, reason: "NotFound" });
    assign("t");
    await until("the run to end", () => api.requests.filter(statusOf("t")).length === 1 && runtime.inFlight === 0);
    await Bun.sleep(10);
    expect(api.requests.filter(statusOf("t")).length).toBe(1);
  });

  test("a read after a conflict that fails briefly is tried again", async () => {
    const clock = new FakeClock(Date.now());
    const { runtime, assign, api, finished } = setup({ clock });
    await runtime.start();
    api.failNext(statusOf("t"), { code: 409, reason: "Conflict" });
    api.failNext(
      (r) => r.method === "GET" && r.query.get("fieldSelector")?.startsWith("metadata.name=t") === true,
      "disconnect",
    );
    assign("t");
    await until(
      "the failed read",
      () => api.requests.filter((r) => r.query.get("fieldSelector")?.startsWith("metadata.name=t")).length === 1,
    );
    await tick(clock, 250);
    expect((await finished("t")).status?.phase).toBe("Completed");
  });
});

describe("restarts and the drain", () => {
  test("tasks it had when it started are given back (AgentRestarted, retryable), not run", async () => {
    let ran = 0;
    const counting = defineTool({ ...echo, handler: () => ++ran });
    const s = setup({ tools: [counting] });
    s.assign("was-assigned");
    s.assign("was-running", {}, { phase: "Running", startTime: "2026-01-01T00:00:00.000Z", attempts: 2 });
    s.bind("was-bound");
    s.assign("finished", {}, { phase: "Completed" });
    s.assign("pending", {}, { phase: "Pending" });
    await s.runtime.start();
    for (const name of ["was-assigned", "was-running", "was-bound"]) {
      const t = await s.finished(name);
      expect(t.status?.error).toEqual({
        reason: "AgentRestarted",
        message: `agent ${me} restarted during the task`,
        retryable: true,
      });
      expect(t.status?.assignedAgent).toBe(me);
    }
    expect(s.task("was-running")?.status?.startTime).toBe("2026-01-01T00:00:00.000Z");
    expect(s.task("was-running")?.status?.attempts).toBe(2);
    expect(s.task("was-bound")?.status?.attempts).toBe(1);
    expect(s.api.writes("/tasks/finished/")).toEqual([]);
    expect(s.api.writes("/tasks/pending/")).toEqual([]);
    // a Running task's give-back is its end only; an unstarted one's carries the start's fields
    expect((s.api.requests.find(statusOf("was-running"))?.body as Task | undefined)?.status?.phase).toBe("Failed");
    expect(Date.parse(s.task("was-assigned")?.status?.startTime ?? "")).toBeGreaterThan(Date.now() - 60_000);
    await Bun.sleep(20);
    expect(ran).toBe(0);
    // new work after the start runs
    s.assign("new");
    expect((await s.finished("new")).status?.result).toEqual({ value: 1 });
  });

  test("a give-back that fails is logged and the start goes on", async () => {
    const s = setup();
    s.assign("was");
    s.api.failNext(statusOf("was"), { code: 422, reason: "Invalid" });
    await s.runtime.start();
    expect(s.runtime.ready).toBe(true);
    expect(s.task("was")?.status?.phase).toBe("Assigned");
  });

  test("shutdown marks the Agent draining, lets a task finish within the grace, then deregisters", async () => {
    const g = gate("gate", "text");
    const s = setup({ tools: [g.tool], shutdownGraceMs: 5_000 });
    await s.runtime.start();
    s.assign("t", { tool: "gate" });
    await until("the tool", () => g.seen.started === 1);
    const stopped = s.runtime.shutdown();
    await until(
      "draining",
      () => s.api.get<Agent>(s.clients.agents.path(ns, me))?.metadata.annotations?.[drainingAnnotation] === "true",
    );
    expect(s.runtime.ready).toBe(false);
    // no new work while draining
    s.assign("late");
    await Bun.sleep(10);
    g.release({ ok: true });
    await stopped;
    expect(s.task("t")?.status?.phase).toBe("Completed");
    expect(s.api.writes("/tasks/late/")).toEqual([]);
    expect(s.api.get(s.clients.agents.path(ns, me))).toBeUndefined();
    expect(s.api.watchCount).toBe(0);
    // twice is once
    await s.runtime.shutdown();
  });

  test("a task still running when the grace ends is aborted and given back (AgentShutdown, retryable)", async () => {
    const g = gate("gate", "text");
    const clock = new FakeClock(Date.now());
    const s = setup({ tools: [g.tool], shutdownGraceMs: 1_000, clock });
    await s.runtime.start();
    s.assign("t", { tool: "gate" });
    await until("the tool", () => g.seen.started === 1);
    const stopped = s.runtime.shutdown();
    await until("draining", () => s.api.writes("/agents/").length === 1);
    await tick(clock, 999);
    await Bun.sleep(10);
    expect(g.seen.signal?.aborted).toBe(false);
    clock.advance(1);
    await stopped;
    expect(s.task("t")?.status?.error).toEqual({
      reason: "AgentShutdown",
      message: `agent ${me} shut down during the task`,
      retryable: true,
    });
    expect((g.seen.signal?.reason as Error | undefined)?.message).toBe("the agent is shutting down");
    expect(await outcomes(s.runtime)).toEqual({ "gate/cancelled": 1 });
  });

  test("a failed drain mark or deregistration does not stop the shutdown; an Agent already gone is fine", async () => {
    const s = setup();
    await s.runtime.start();
    s.api.failNext((r) => r.method === "PATCH", { code: 500 });
    s.api.remove(s.clients.agents.path(ns, me));
    await s.runtime.shutdown();
    expect(s.api.watchCount).toBe(0);
  });

  test("heartbeats renew the Lease every interval, not the Agent", async () => {
    const clock = new FakeClock(Date.now());
    const s = setup({ clock, heartbeatIntervalMs: 2_000 });
    await s.runtime.start();
    const renewals = () => s.api.writes("/leases").length;
    expect(renewals()).toBe(1);
    clock.advance(1_999);
    await Bun.sleep(5);
    expect(renewals()).toBe(1);
    clock.advance(1);
    await until("a renewal", () => renewals() === 2);
    await tick(clock, 2_000);
    await until("another", () => renewals() === 3);
    expect(s.api.writes("/agents/")).toEqual([]);
    const lease = s.api.get<Lease>(leaseClient(s.api.connection()).path(ns, me));
    expect(lease?.spec.leaseDurationSeconds).toBe(8);
  });
});

/** A tool that runs `body` with its context, then waits at the gate (when it returns "wait"). */
function scripted(body: (ctx: Parameters<AnyTool["handler"]>[1]) => Promise<unknown>, timeoutMs?: number) {
  return defineTool({
    name: "script",
    description: "runs a script",
    capability: "text",
    inputSchema: {},
    ...(timeoutMs ? { timeoutMs } : {}),
    handler: (_: unknown, ctx) => body(ctx),
  });
}

/** A tool that asks its client for roots once and notes how the question ended, when it was refused. */
function asksOnce() {
  const seen: { refused?: unknown } = {};
  const tool = scripted(async (ctx) => {
    try {
      await ctx.listRoots("r");
    } catch (err) {
      seen.refused = err;
    }
    return "x";
  });
  return { tool, seen };
}

describe("talking to the client", () => {
  test("progress and messages: Running is written first, then what the tool reports; the last interval's go with the end", async () => {
    let go: () => void = () => {};
    const tool = scripted(async (ctx) => {
      ctx.progress(1, 4, "a quarter");
      ctx.log("info", { step: 1 });
      await new Promise<void>((r) => {
        go = r;
      });
      ctx.progress(3, 4);
      ctx.log("warning", "late", "tool");
      return { ok: true };
    });
    const s = setup({ tools: [tool], runningAfterMs: 60_000 });
    await s.runtime.start();
    s.assign("p", { tool: "script" });
    await until("progress", () => s.task("p")?.status?.progress);
    const phases = s.api.requests.filter(statusOf("p")).map((r) => (r.body as Task).status?.phase);
    expect(phases[0]).toBe("Running");
    const t = s.task("p") as Task;
    expect(t.status?.progress).toEqual({ done: 1, total: 4, message: "a quarter" });
    go();
    const done = await s.finished("p");
    // the first notes were written at once; the later ones within the interval ride on the end
    expect(done.status?.progress).toEqual({ done: 3, total: 4 });
    expect(done.status?.messages).toEqual([
      { seq: 1, level: "info", data: { step: 1 } },
      { seq: 2, level: "warning", logger: "tool", data: "late" },
    ]);
    expect(done.status?.result).toEqual({ ok: true });
    expect(s.api.requests.filter(statusOf("p")).length).toBe(3);
  });

  test("a question goes on the Task with its answer-by time; the answer reaches the tool and both are taken off", async () => {
    const answers: unknown[] = [];
    const tool = scripted(async (ctx) => {
      answers.push(await ctx.elicit({ message: "sure?", requestedSchema: { type: "object" } }));
      return { answers };
    });
    const s = setup({ tools: [tool], inputAnswerTimeMs: 60_000 });
    await s.runtime.start();
    const before = Date.now();
    s.assign("q", { tool: "script" });
    const asked = await until("the question", () => s.task("q")?.status?.inputRequests);
    expect(Object.keys(asked)).toEqual(["elicitation"]);
    const request = asked.elicitation as { method: string; params: unknown; answerBy: string };
    expect(request.method).toBe("elicitation/create");
    expect(request.params).toEqual({ message: "sure?", requestedSchema: { type: "object" } });
    const answerBy = Date.parse(request.answerBy);
    expect(answerBy).toBeGreaterThanOrEqual(before + 60_000);
    expect(answerBy).toBeLessThan(Date.now() + 60_001);
    expect(s.task("q")?.status?.phase).toBe("Running");
    expect(s.logged("Asked the client for input")).toEqual([
      expect.objectContaining({ task: "q", keys: ["elicitation"], answerBy: request.answerBy }),
    ]);
    // an answer under another key is not this one's
    const t = s.task("q") as Task;
    s.api.put(s.tasksPath, { ...t, status: { ...t.status, inputResponses: { other: 1 } } });
    await Bun.sleep(20);
    expect(answers).toEqual([]);
    const t2 = s.task("q") as Task;
    s.api.put(s.tasksPath, {
      ...t2,
      status: { ...t2.status, inputResponses: { other: 1, elicitation: { action: "accept" } } },
    });
    const done = await s.finished("q");
    expect(answers).toEqual([{ action: "accept" }]);
    expect(done.status?.result).toEqual({ answers: [{ action: "accept" }] });
    // the tool's question and answer are gone; the answer it did not ask for stays until the end clears nothing of it
    const cleared = s.api.requests.filter(statusOf("q")).map((r) => (r.body as Task).status);
    const afterAnswer = cleared.find((st) => st?.inputResponses && !("elicitation" in st.inputResponses));
    expect(afterAnswer?.inputResponses).toEqual({ other: 1 });
    expect(afterAnswer?.inputRequests).toEqual({});
    // Running, the question, its removal, the end: each from the version the one before wrote, so no conflict
    expect(s.api.requests.filter(statusOf("q")).length).toBe(4);
  });

  test("keys: the second attempt's carry @2, a key taken on the Task or earlier in the attempt gets -2, -3", async () => {
    const keys: string[][] = [];
    const s = setup({
      tools: [
        scripted(async (ctx) => {
          const first = ctx.requestInput({ confirm: { method: "roots/list" }, pick: { method: "roots/list" } });
          await until("asked", () => Object.keys(s.task("k")?.status?.inputRequests ?? {}).length >= 2);
          keys.push(Object.keys(s.task("k")?.status?.inputRequests ?? {}));
          const a = await first;
          const second = ctx.requestInput({ confirm: { method: "roots/list" } });
          await until("asked again", () => Object.keys(s.task("k")?.status?.inputRequests ?? {}).length >= 1);
          keys.push(Object.keys(s.task("k")?.status?.inputRequests ?? {}));
          const b = await second;
          return { a, b };
        }),
      ],
    });
    await s.runtime.start();
    // attempt 2, with an answer of attempt 1 still on the Task and `confirm@2` already taken
    s.assign("k", { tool: "script" }, { attempts: 2, inputResponses: { "confirm@2": "stale" } as never });
    const answer = async (values: Record<string, unknown>) => {
      const t = s.task("k") as Task;
      s.api.put(s.tasksPath, {
        ...t,
        status: { ...t.status, inputResponses: { ...t.status?.inputResponses, ...values } },
      });
    };
    await until("the first questions", () => keys.length === 1);
    expect(keys[0]).toEqual(["confirm@2", "pick@2"]);
    expect(Object.keys(s.task("k")?.status?.inputResponses ?? {})).toEqual([]);
    await answer({ "confirm@2": "yes", "pick@2": "b" });
    await until("the second question", () => keys.length === 2);
    expect(keys[1]).toEqual(["confirm@2-2"]);
    await answer({ "confirm@2-2": "again" });
    expect((await s.finished("k")).status?.result).toEqual({
      a: { confirm: "yes", pick: "b" },
      b: { confirm: "again" },
    });
  });

  test("a key used earlier in the attempt is not used again even when the Task no longer shows it", async () => {
    const s = setup({
      tools: [
        scripted(async (ctx) => {
          const a = await ctx.listRoots("r");
          const b = await ctx.listRoots("r");
          return { a, b };
        }),
      ],
    });
    await s.runtime.start();
    s.assign("r", { tool: "script" });
    const answerWhenAsked = async (key: string, value: unknown) => {
      await until(`${key} asked`, () => s.task("r")?.status?.inputRequests?.[key]);
      const t = s.task("r") as Task;
      s.api.put(s.tasksPath, { ...t, status: { ...t.status, inputResponses: { [key]: value } } });
    };
    await answerWhenAsked("r", { roots: [] });
    await answerWhenAsked("r-2", { roots: [{ uri: "file:///x" }] });
    expect((await s.finished("r")).status?.result).toEqual({ a: { roots: [] }, b: { roots: [{ uri: "file:///x" }] } });
  });

  test("a question not answered by its answer-by time fails the task with InputTimeout, not retryable; the tool's time stands still meanwhile", async () => {
    const clock = new FakeClock(Date.now());
    let aborted: unknown;
    const tool = scripted(async (ctx) => {
      ctx.signal.addEventListener("abort", () => {
        aborted = ctx.signal.reason;
      });
      return ctx.sample({ messages: [], maxTokens: 5 });
    }, 1_000);
    const s = setup({ tools: [tool], inputAnswerTimeMs: 5_000, clock, runningAfterMs: 0 });
    await s.runtime.start();
    s.assign("late", { tool: "script" });
    await until("the question", () => s.task("late")?.status?.inputRequests?.sampling);
    const answerBy =
      (s.task("late")?.status?.inputRequests?.sampling as { answerBy: string } | undefined)?.answerBy ?? "";
    expect(Date.parse(answerBy)).toBe(clock.now() + 5_000);
    await Bun.sleep(5);
    // past the tool's 1 s limit, which stands still while it waits
    clock.advance(4_999);
    await Bun.sleep(10);
    expect(aborted).toBeUndefined();
    clock.advance(1);
    const t = await s.finished("late");
    expect(t.status?.error).toEqual({
      reason: "InputTimeout",
      message: `the client did not answer sampling by ${answerBy}`,
      retryable: false,
    });
    expect((aborted as ToolError).reason).toBe("InputTimeout");
  });

  test("the tool's time runs again once its question is answered", async () => {
    const clock = new FakeClock(Date.now());
    const tool = scripted(async (ctx) => {
      await ctx.elicit({ message: "go?", requestedSchema: {} }, "go");
      return new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
    }, 1_000);
    const s = setup({ tools: [tool], clock, runningAfterMs: 0 });
    await s.runtime.start();
    s.assign("t", { tool: "script" });
    await until("the question", () => s.task("t")?.status?.inputRequests?.go);
    await tick(clock, 30_000); // waiting: no time passes for the tool
    const t = s.task("t") as Task;
    s.api.put(s.tasksPath, { ...t, status: { ...t.status, inputResponses: { go: { action: "accept" } } } });
    await until("the answer taken", () => !s.task("t")?.status?.inputRequests?.go);
    await tick(clock, 999);
    await Bun.sleep(10);
    expect(s.task("t")?.status?.phase).toBe("Running");
    clock.advance(1);
    expect((await s.finished("t")).status?.error?.reason).toBe("Timeout");
  });

  test("a question asked after the task left the agent is refused", async () => {
    let refused: unknown;
    const g = gate("gate", "text");
    const tool = scripted(async (ctx) => {
      await until("the task gone", () => s.task("t")?.status?.assignedAgent === "agent-2");
      try {
        await ctx.elicit({ message: "?", requestedSchema: {} });
      } catch (err) {
        refused = err;
      }
      return "after";
    });
    const s = setup({ tools: [tool, g.tool] });
    await s.runtime.start();
    // the controller moves it the moment the agent writes Running
    const off = s.api.onRequest((r) => {
      if (!statusOf("t")(r)) return;
      off();
      s.update("t", { assignedAgent: "agent-2" });
    });
    s.assign("t", { tool: "script" });
    await until("refused", () => refused);
    expect((refused as Error).message).toMatch(/no longer this agent's|aborted/);
    expect(s.task("t")?.status?.inputRequests).toBeUndefined();
    await until("the run to end", () => s.runtime.inFlight === 0);
    // the Running write, refused; no end is written over a task that left
    expect(s.api.requests.filter(statusOf("t")).length).toBe(1);
  });
});

/** Tasks executed so far by outcome ("tool/outcome" → count). */
async function outcomes(runtime: AgentRuntime): Promise<Record<string, number>> {
  const { values } = await runtime.metrics.executed.get();
  return Object.fromEntries(values.map((v) => [`${v.labels.tool}/${v.labels.outcome}`, v.value]));
}

/** A tool that never settles and ignores its signal, as a stuck handler does. */
const stuck = textTool("stuck", { timeoutMs: 20, handler: () => new Promise(() => {}) });

describe("what operators see: metrics and logs", () => {
  test("each outcome is counted under its tool; in-flight and durations follow the runs", async () => {
    const g = gate("gate", "text");
    const give = textTool("give", {
      handler: (input: { v?: unknown; fail?: string }) => {
        if (input.fail === "tool") throw new ToolError("Nope", "no");
        if (input.fail === "plain") throw new Error("boom");
        return input.v;
      },
    });
    const s = setup({ tools: [echo, give, g.tool, stuck], maxResultBytes: 20 });
    await s.runtime.start();
    s.assign("ok", { tool: "echo" });
    s.assign("bad-input", { tool: "echo", payload: {} });
    s.assign("no-tool", { tool: "nope" });
    s.assign("by-cap-none", { tool: undefined, requiredCapabilities: ["none"] });
    s.assign("big", { tool: "give", payload: { v: { s: "x".repeat(40) } } });
    s.assign("tool-error", { tool: "give", payload: { fail: "tool" } });
    s.assign("plain-error", { tool: "give", payload: { fail: "plain" } });
    s.assign("late", { tool: "stuck" });
    for (const n of ["ok", "bad-input", "no-tool", "by-cap-none", "big", "tool-error", "plain-error", "late"])
      await s.finished(n);
    s.assign("running", { tool: "gate" });
    await until("the gate", () => g.seen.started === 1);
    expect((await s.runtime.metrics.inFlight.get()).values[0]?.value).toBe(1);
    s.api.remove(s.taskPath("running"));
    await until("the cancel", () => s.runtime.inFlight === 0);
    expect(await outcomes(s.runtime)).toEqual({
      "echo/completed": 1,
      "echo/invalid_input": 1,
      "nope/invalid_input": 1,
      "/invalid_input": 1,
      "give/too_large": 1,
      "give/failed": 2,
      "stuck/timeout": 1,
      "gate/cancelled": 1,
    });
    expect((await s.runtime.metrics.inFlight.get()).values[0]?.value).toBe(0);
    const durations = (await s.runtime.metrics.duration.get()).values.filter((v) => v.metricName?.endsWith("_count"));
    expect(Object.fromEntries(durations.map((v) => [v.labels.tool, v.value]))).toEqual({
      echo: 1,
      give: 3,
      stuck: 1,
      gate: 1,
    });
  });

  test("the lines an operator reads: start, each task with its outcome, why input was refused, the drain", async () => {
    const g = gate("gate", "text");
    const s = setup({ tools: [echo, g.tool] });
    await s.runtime.start();
    expect(s.logged("Agent started")).toEqual([
      expect.objectContaining({ agent: me, domain: ns, tools: ["echo", "gate"] }),
    ]);
    s.assign("ok");
    await s.finished("ok");
    expect(s.logged("Executed task")).toEqual([
      expect.objectContaining({ agent: me, domain: ns, task: "ok", attempt: 1, outcome: "completed" }),
    ]);
    s.assign("bad", { payload: {} });
    await s.finished("bad");
    expect(s.logged("Rejected invalid input")).toEqual([
      expect.objectContaining({ task: "bad", why: expect.stringContaining("text") }),
    ]);
    s.assign("gone", { tool: "gate" });
    await until("the gate", () => g.seen.started === 1);
    s.api.remove(s.taskPath("gone"));
    await until("cancelled", () => s.logged("Cancelled task").length === 1);
    expect(s.logged("Cancelled task")[0]).toMatchObject({ task: "gone", why: "the task was deleted or reassigned" });
    await s.runtime.shutdown();
    expect(s.logged("Draining")).toEqual([expect.objectContaining({ inFlight: 0 })]);
    expect(s.logged("Agent stopped")).toHaveLength(1);
  });

  test("a retried status write says so, with its delay", async () => {
    const clock = new FakeClock(Date.now());
    const s = setup({ clock });
    await s.runtime.start();
    s.api.failNext(statusOf("t"), { code: 503, reason: "ServiceUnavailable" });
    s.assign("t");
    await until("the warning", () => s.logged("Status write failed; retrying").length === 1);
    expect(s.logged("Status write failed; retrying")[0]).toMatchObject({
      level: 40,
      task: "t",
      retryInMs: 250,
      err: expect.anything(),
    });
    await tick(clock, 250);
    await s.finished("t");
  });

  test("failures around the edges are logged and survived: heartbeat, drain mark, deregistration, give-back, the last write", async () => {
    const clock = new FakeClock(Date.now());
    const s = setup({ clock, heartbeatIntervalMs: 1_000, statusWriteRetryMs: 0 });
    s.assign("earlier");
    s.api.failNext(statusOf("earlier"), { code: 400, reason: "BadRequest" });
    await s.runtime.start();
    expect(s.logged("Could not give back an earlier task")).toEqual([
      expect.objectContaining({ level: 40, task: "earlier", err: expect.objectContaining({ message: "fault 400" }) }),
    ]);
    s.api.failNext((r) => r.path.includes("/leases/"), { code: 400 });
    clock.advance(1_000);
    await until("the heartbeat warning", () => s.logged("Heartbeat failed").length === 1);
    expect(s.logged("Heartbeat failed")[0]).toMatchObject({ level: 40, err: expect.anything() });
    // the last write failing twice (result, then the failure): the run ends, logged as an error
    for (let i = 0; i < 2; i++) s.api.failNext(statusOf("last"), { code: 400, reason: "BadRequest" });
    s.assign("last");
    await until("the error", () => s.logged("Task execution failed unexpectedly").length === 1);
    expect(s.logged("Task execution failed unexpectedly")[0]).toMatchObject({ level: 50, task: "last" });
    await until("the run to end", () => s.runtime.inFlight === 0);
    s.api.failNext((r) => r.method === "PATCH" && r.path.endsWith(`/agents/${me}`), { code: 500 });
    s.api.failNext((r) => r.method === "DELETE" && r.path.endsWith(`/agents/${me}`), { code: 500 });
    await s.runtime.shutdown();
    expect(s.logged("Could not mark the agent draining")).toEqual([
      expect.objectContaining({ level: 40, err: expect.anything() }),
    ]);
    expect(s.logged("Could not deregister the agent")).toEqual([
      expect.objectContaining({ level: 40, err: expect.anything() }),
    ]);
    expect(s.logged("Agent stopped")).toHaveLength(1);
  });

  test("an Agent already gone at shutdown is no warning", async () => {
    const s = setup();
    await s.runtime.start();
    s.api.remove(s.clients.agents.path(ns, me));
    await s.runtime.shutdown();
    expect(s.logged("Could not deregister the agent")).toEqual([]);
    expect(s.logged("Could not mark the agent draining")).toHaveLength(1);
  });
});

describe("the watches and the agent's state", () => {
  test("it lists and watches only its own tasks: by assignee and by the bound label, in its namespace", async () => {
    const s = setup();
    await s.runtime.start();
    const reads = s.api.requests
      .filter((r) => r.method === "GET" && r.path.endsWith("/tasks"))
      .map(
        (r) =>
          `${r.path} watch=${r.query.get("watch") ?? "false"} ${r.query.get("fieldSelector") ?? ""}|${r.query.get("labelSelector") ?? ""}`,
      );
    expect(reads.sort()).toEqual(
      [
        `/apis/mcp.io/v1/namespaces/${ns}/tasks watch=false status.assignedAgent=${me}|`,
        `/apis/mcp.io/v1/namespaces/${ns}/tasks watch=true status.assignedAgent=${me}|`,
        `/apis/mcp.io/v1/namespaces/${ns}/tasks watch=false |${boundAgentLabel}=${me}`,
        `/apis/mcp.io/v1/namespaces/${ns}/tasks watch=true |${boundAgentLabel}=${me}`,
      ].sort(),
    );
  });

  test("an agent whose name can be no label value watches no label, and is ready all the same", async () => {
    const long = `${"a".repeat(40)}.${"b".repeat(40)}`;
    const s = setup({ name: long });
    await s.runtime.start();
    expect(s.runtime.ready).toBe(true);
    expect(s.api.requests.some((r) => r.query.get("labelSelector"))).toBe(false);
    s.api.put(s.tasksPath, {
      metadata: { name: "t" },
      spec: { requiredCapabilities: ["text"], tool: "echo", payload: { text: "x" } },
      status: { phase: "Assigned", assignedAgent: long, attempts: 1 },
    });
    expect((await s.finished("t")).status?.result).toEqual({ echoed: "x" });
    await s.runtime.shutdown();
    expect(s.api.watchCount).toBe(0);
  });

  test("not ready until both caches synced; its Lease is owned by its Agent; a slow renewal is waited for", async () => {
    const s = setup({ heartbeatIntervalMs: 100 });
    const readyAtList: boolean[] = [];
    s.api.onRequest(async (r) => {
      if (r.method === "GET" && r.path.endsWith("/tasks") && r.query.get("watch") !== "true")
        readyAtList.push(s.runtime.ready);
      // within the renewal's time limit (the lease's duration: 1 s here)
      if (r.path.includes("/leases")) await Bun.sleep(30);
    });
    await s.runtime.start();
    expect(readyAtList).toEqual([false, false]);
    expect(s.runtime.ready).toBe(true);
    const agent = s.api.get<Agent>(s.clients.agents.path(ns, me));
    const lease = s.api.get<Lease>(leaseClient(s.api.connection()).path(ns, me));
    expect(lease?.metadata.ownerReferences).toEqual([
      { apiVersion: "mcp.io/v1", kind: "Agent", name: me, uid: agent?.metadata.uid as string },
    ]);
  });

  test("a renewal that hangs past the lease's duration is given up; the next one goes through", async () => {
    const s = setup({ heartbeatIntervalMs: 100 });
    let hang = true;
    s.api.onRequest(async (r) => {
      if (hang && r.path.includes("/leases")) {
        hang = false;
        await Bun.sleep(1_500);
      }
    });
    const started = s.runtime.start();
    await expect(started).rejects.toThrow();
    expect(s.logged("Agent started")).toEqual([]);
  });

  test("shutdown stops the heartbeats, and a second shutdown does nothing", async () => {
    const clock = new FakeClock(Date.now());
    const s = setup({ clock, heartbeatIntervalMs: 1_000 });
    await s.runtime.start();
    await s.runtime.shutdown();
    const writes = s.api.writes().length;
    clock.advance(5_000);
    await Bun.sleep(10);
    await s.runtime.shutdown();
    expect(s.api.writes().length).toBe(writes);
    expect(s.logged("Draining")).toHaveLength(1);
  });

  test("a task bound to it but assigned to another agent (moved before it started) is not run", async () => {
    const s = setup();
    await s.runtime.start();
    s.api.put<Task>(s.tasksPath, {
      metadata: { name: "moved", labels: { [boundAgentLabel]: me } },
      spec: { requiredCapabilities: ["text"], tool: "echo", payload: { text: "x" } },
      status: { phase: "Assigned", assignedAgent: "agent-2", attempts: 1 },
    });
    s.assign("mine");
    await s.finished("mine");
    await Bun.sleep(10);
    expect(s.api.writes("/tasks/moved/")).toEqual([]);
  });

  test("why a run is aborted reaches the tool: deleted, reassigned (a bound task seen through its label), another phase", async () => {
    const reasons: string[] = [];
    const g = gate("gate", "text");
    const s = setup({ tools: [g.tool] });
    await s.runtime.start();
    const abortOf = async (name: string, change: () => void) => {
      const before = g.seen.started;
      await until(`${name} to start`, () => g.seen.started === before + 1);
      change();
      await until(`${name} aborted`, () => g.seen.signal?.aborted);
      reasons.push(String((g.seen.signal?.reason as Error | undefined)?.message));
      await until("the run to end", () => s.runtime.inFlight === 0);
    };
    s.assign("a", { tool: "gate" });
    await abortOf("a", () => s.api.remove(s.taskPath("a")));
    s.bind("b", { tool: "gate" });
    await abortOf("b", () => s.api.remove(s.taskPath("b")));
    s.bind("c", { tool: "gate" });
    await abortOf("c", () => {
      s.api.put(s.tasksPath, {
        ...(s.task("c") as Task),
        status: { phase: "Assigned", assignedAgent: "agent-2", attempts: 1 },
      });
    });
    s.assign("d", { tool: "gate" });
    await abortOf("d", () => {
      s.update("d", { phase: "Pending" });
    });
    expect(reasons).toEqual([
      "the task was deleted or reassigned",
      "the task was deleted",
      "the task is now Assigned",
      "the task is now Pending",
    ]);
  });

  test("a task waiting for a slot that is deleted meanwhile never runs; nor does one waiting when the drain begins", async () => {
    const g = gate("gate", "text");
    let ran = 0;
    const counting = defineTool({ ...echo, handler: () => ++ran });
    const s = setup({ tools: [counting, g.tool], maxConcurrentTasks: 1, shutdownGraceMs: 5_000 });
    await s.runtime.start();
    s.assign("first", { tool: "gate" });
    await until("first", () => g.seen.started === 1);
    s.assign("queued");
    await until("queued", () => s.runtime.inFlight === 2);
    s.api.remove(s.taskPath("queued"));
    await Bun.sleep(10);
    g.release(1);
    await s.finished("first");
    await until("the queue to empty", () => s.runtime.inFlight === 0);
    expect(ran).toBe(0);
    s.assign("second", { tool: "gate" });
    await until("second", () => g.seen.started === 2);
    s.assign("waiting");
    await until("waiting", () => s.runtime.inFlight === 2);
    const stopped = s.runtime.shutdown();
    await until("draining", () => s.logged("Draining").length === 1);
    g.release(2);
    await stopped;
    expect(ran).toBe(0);
    expect(s.task("waiting")?.status?.phase).toBe("Assigned");
  });

  test("attempts it started are remembered up to 10,000 tasks, the most recent kept", () => {
    const s = setup();
    // a private method, reached by TypeScript's index access: the bound is not worth 10,000 Tasks in a test
    // biome-ignore lint/complexity/useLiteralKeys: markStarted is private
    const mark = (uid: string, attempt: number): boolean => s.runtime["markStarted"](uid, attempt);
    expect(mark("first", 1)).toBe(true);
    expect(mark("first", 1)).toBe(false);
    for (let i = 0; i < 9_999; i++) mark(`t${i}`, 1);
    // seen again in a later attempt: now the most recent
    expect(mark("first", 2)).toBe(true);
    expect(mark("one-more", 1)).toBe(true);
    // the oldest (t0) is forgotten, not `first`
    expect(mark("first", 2)).toBe(false);
    expect(mark("t1", 1)).toBe(false);
    expect(mark("t0", 1)).toBe(true);
  });
});

describe("the edges of a run", () => {
  test("completionTime is when the tool finished, after its start; a deadline far ahead changes nothing", async () => {
    const slow = defineTool({
      ...echo,
      handler: async (input: { text: string }) => {
        await Bun.sleep(25);
        return input.text;
      },
    });
    const s = setup({ tools: [slow] });
    await s.runtime.start();
    s.assign("t", { deadline: new Date(Date.now() + 60_000).toISOString() });
    const t = await s.finished("t");
    expect(t.status?.phase).toBe("Completed");
    expect(Date.parse(t.status?.completionTime ?? "") - Date.parse(t.status?.startTime ?? "")).toBeGreaterThanOrEqual(
      20,
    );
  });

  test("a tool that throws undefined fails ToolFailed with that said", async () => {
    const s = setup({ tools: [defineTool({ ...echo, handler: () => Promise.reject(undefined) })] });
    await s.runtime.start();
    s.assign("t");
    expect((await s.finished("t")).status?.error).toEqual({
      reason: "ToolFailed",
      message: "undefined",
      retryable: true,
    });
  });

  test("progress written during the run stays on the Task after its end", async () => {
    const g = gate("gate", "text");
    const tool = scripted(async (ctx) => {
      ctx.progress(1, 2, "half");
      return g.tool.handler({}, ctx);
    });
    const s = setup({ tools: [tool, g.tool], runningAfterMs: 60_000 });
    await s.runtime.start();
    s.assign("p", { tool: "script" });
    await until("progress", () => s.task("p")?.status?.progress);
    g.release("done");
    const t = await s.finished("p");
    expect(t.status?.progress).toEqual({ done: 1, total: 2, message: "half" });
    expect(t.status?.result).toEqual({ value: "done" });
  });

  test("no timer is left behind by a run: the claim, the tool's limit, a question's answer-by time", async () => {
    const clock = new FakeClock(Date.now());
    const tool = scripted(async (ctx) => {
      // asks and does not wait for the answer; its end reaches the agent's watch only later
      ctx.elicit({ message: "later?", requestedSchema: {} }).catch(() => {});
      await until("asked", () => s.task(ctx.task.metadata.name ?? "")?.status?.inputRequests);
      await Bun.sleep(5);
      s.api.holdWatches();
      return "went on";
    });
    const asker = defineTool({
      ...echo,
      name: "asker",
      inputSchema: {},
      handler: (_: unknown, ctx) => {
        ctx.listRoots().catch(() => {});
        return new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
      },
    });
    const s = setup({ tools: [tool, asker], clock, heartbeatIntervalMs: 1_000 });
    await s.runtime.start();
    const idle = clock.pending;
    s.assign("t", { tool: "script" });
    expect((await s.finished("t")).status?.result).toEqual({ value: "went on" });
    await until("the run to end", () => s.runtime.inFlight === 0);
    expect(clock.pending).toEqual(idle);
    s.api.releaseWatches();
    // nor by a run that was cancelled, with its question open
    s.assign("c", { tool: "asker" });
    await until("asked", () => s.task("c")?.status?.inputRequests);
    s.api.remove(s.taskPath("c"));
    await until("the run to end", () => s.runtime.inFlight === 0);
    expect(clock.pending).toEqual(idle);
  });

  test("a tool that asks after its time ran out is refused, and nothing more is written", async () => {
    let refused: unknown;
    const tool = scripted(async (ctx) => {
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
      await Bun.sleep(20);
      try {
        await ctx.elicit({ message: "still there?", requestedSchema: {} });
      } catch (err) {
        refused = err;
      }
    }, 20);
    const s = setup({ tools: [tool] });
    await s.runtime.start();
    s.assign("t", { tool: "script" });
    expect((await s.finished("t")).status?.error?.reason).toBe("Timeout");
    const writes = s.api.writes().length;
    await until("refused", () => refused);
    await Bun.sleep(10);
    expect(s.api.writes().length).toBe(writes);
  });
});

describe("questions, further", () => {
  /** Answers `values` on the Task, as the gateway does for a client. */
  const answer = (s: ReturnType<typeof setup>, name: string, values: Record<string, unknown>) => {
    const t = s.task(name) as Task;
    s.api.put(s.tasksPath, {
      ...t,
      status: { ...t.status, inputResponses: { ...t.status?.inputResponses, ...values } },
    });
  };

  test("all the answers are waited for, not the first; a key a client already wrote is not reused", async () => {
    let ask: () => void = () => {};
    const tool = scripted(async (ctx) => {
      await new Promise<void>((r) => {
        ask = r;
      });
      return ctx.requestInput({ a: { method: "roots/list" }, b: { method: "roots/list" } });
    });
    const s = setup({ tools: [tool], runningAfterMs: 0 });
    await s.runtime.start();
    s.assign("q", { tool: "script" });
    await until("Running", () => s.task("q")?.status?.phase === "Running");
    // an answer under `a` before anything was asked
    answer(s, "q", { a: "unasked" });
    ask();
    await until("asked", () => Object.keys(s.task("q")?.status?.inputRequests ?? {}).length === 2);
    expect(Object.keys(s.task("q")?.status?.inputRequests ?? {})).toEqual(["a-2", "b"]);
    answer(s, "q", { b: 2 });
    await Bun.sleep(20);
    expect(s.task("q")?.status?.phase).toBe("Running");
    answer(s, "q", { "a-2": 1 });
    const t = await s.finished("q");
    expect(t.status?.result).toEqual({ a: 1, b: 2 });
  });

  test("keys go on -2, -3 as one name is asked again in the attempt", async () => {
    const tool = scripted(async (ctx) => {
      const got: unknown[] = [];
      for (let i = 0; i < 3; i++) got.push(await ctx.listRoots("r"));
      return { got };
    });
    const s = setup({ tools: [tool] });
    await s.runtime.start();
    s.assign("r", { tool: "script" });
    for (const key of ["r", "r-2", "r-3"]) {
      await until(`${key} asked`, () => s.task("r")?.status?.inputRequests?.[key]);
      answer(s, "r", { [key]: key });
    }
    expect((await s.finished("r")).status?.result).toEqual({ got: ["r", "r-2", "r-3"] });
  });

  test("an update that arrives while the question is being written is not taken for its answer", async () => {
    const tool = scripted(async (ctx) => ctx.listRoots("r"));
    const s = setup({ tools: [tool], runningAfterMs: 0 });
    await s.runtime.start();
    let poked = false;
    s.api.onRequest((r) => {
      // the read before the question's write: another change to the task arrives then
      if (!poked && r.method === "GET" && r.query.get("fieldSelector")?.startsWith("metadata.name=r")) {
        poked = true;
        const t = s.task("r") as Task;
        s.api.put(s.tasksPath, { ...t, metadata: { ...t.metadata, annotations: { poke: "1" } } });
      }
    });
    s.assign("r", { tool: "script" });
    await until("asked", () => s.task("r")?.status?.inputRequests?.r);
    await Bun.sleep(10);
    expect(s.task("r")?.status?.phase).toBe("Running");
    answer(s, "r", { r: { roots: [] } });
    expect((await s.finished("r")).status?.result).toEqual({ roots: [] });
  });

  test("a question's write that conflicts or meets a brief outage is tried again with the same keys", async () => {
    const clock = new FakeClock(Date.now());
    const tool = scripted(async (ctx) => ctx.listRoots("r"));
    const s = setup({ tools: [tool], clock, runningAfterMs: 0 });
    await s.runtime.start();
    const questionWrites = () =>
      s.api.requests.filter((r) => statusOf("r")(r) && (r.body as Task).status?.inputRequests);
    s.api.failNext((r) => statusOf("r")(r) && !!(r.body as Task).status?.inputRequests, {
      code: 409,
      reason: "Conflict",
    });
    s.api.failNext((r) => statusOf("r")(r) && !!(r.body as Task).status?.inputRequests, { code: 503 });
    s.assign("r", { tool: "script" });
    await until("the conflict", () => questionWrites().length === 1);
    await tick(clock, 99);
    await Bun.sleep(5);
    expect(questionWrites().length).toBe(1);
    clock.advance(1);
    await until("the outage", () => questionWrites().length === 2);
    await tick(clock, 199);
    await Bun.sleep(5);
    expect(questionWrites().length).toBe(2);
    clock.advance(1);
    await until("asked", () => s.task("r")?.status?.inputRequests?.r);
    expect(Object.keys(s.task("r")?.status?.inputRequests ?? {})).toEqual(["r"]);
    answer(s, "r", { r: { roots: [] } });
    expect((await s.finished("r")).status?.result).toEqual({ roots: [] });
  });

  test("a question's write refused otherwise, or conflicting 21 times, fails the question", async () => {
    const clock = new FakeClock(Date.now());
    const errors: string[] = [];
    const tool = scripted(async (ctx) => {
      for (let i = 0; i < 2; i++)
        await ctx.listRoots(`r${i}`).catch((err: Error) => {
          errors.push(err.message);
        });
      return "after";
    });
    const s = setup({ tools: [tool], clock, runningAfterMs: 0 });
    await s.runtime.start();
    const isQuestion = (r: FakeRequest) => statusOf("q")(r) && !!(r.body as Task).status?.inputRequests;
    s.api.failNext(isQuestion, { code: 422, reason: "Invalid", message: "inputRequests: too many" });
    for (let i = 0; i < 21; i++) s.api.failNext(isQuestion, { code: 409, reason: "Conflict" });
    s.assign("q", { tool: "script" });
    await until("the first refusal", () => errors.length === 1);
    expect(errors[0]).toBe("inputRequests: too many");
    for (let i = 0; i < 40 && errors.length < 2; i++) {
      await Bun.sleep(3);
      clock.advance(2_000);
    }
    expect(errors[1]).toBe("fault 409");
    expect(s.api.requests.filter(isQuestion).length).toBe(22);
    expect((await s.finished("q")).status?.result).toEqual({ value: "after" });
  });

  test("a question to a task the controller ended meanwhile is refused without a write", async () => {
    const { tool, seen } = asksOnce();
    const s = setup({ tools: [tool], runningAfterMs: 0 });
    await s.runtime.start();
    s.api.onRequest((r) => {
      if (r.method === "GET" && r.query.get("fieldSelector")?.startsWith("metadata.name=t") && !seen.refused) {
        const t = s.task("t") as Task;
        if (t.status?.phase === "Running") s.api.put(s.tasksPath, { ...t, status: { ...t.status, phase: "Failed" } });
      }
    });
    s.assign("t", { tool: "script" });
    await until("refused", () => seen.refused);
    expect((seen.refused as Error).message).toMatch(/no longer this agent's|the task is now Failed/);
    expect(s.api.requests.filter((r) => statusOf("t")(r) && (r.body as Task).status?.inputRequests)).toEqual([]);
  });

  test("a question still open when the task leaves the agent ends with the run", async () => {
    let ended: unknown;
    const tool = scripted(async (ctx) => {
      try {
        await ctx.listRoots("r");
      } catch (err) {
        ended = err;
      }
      return "x";
    });
    const s = setup({ tools: [tool] });
    await s.runtime.start();
    s.assign("t", { tool: "script" });
    await until("asked", () => s.task("t")?.status?.inputRequests?.r);
    s.api.remove(s.taskPath("t"));
    await until("the question ended", () => ended);
    expect((ended as Error).message).toBe("the task was deleted or reassigned");
  });

  test("questions unanswered by their time are named in the failure", async () => {
    const clock = new FakeClock(Date.now());
    const tool = scripted(async (ctx) =>
      ctx.requestInput({ a: { method: "roots/list" }, b: { method: "roots/list" } }),
    );
    const s = setup({ tools: [tool], clock, inputAnswerTimeMs: 1_000 });
    await s.runtime.start();
    s.assign("t", { tool: "script" });
    await until("asked", () => s.task("t")?.status?.inputRequests?.b);
    const answerBy = new Date(clock.now() + 1_000).toISOString();
    await tick(clock, 1_000);
    expect((await s.finished("t")).status?.error?.message).toBe(`the client did not answer a, b by ${answerBy}`);
    expect(await outcomes(s.runtime)).toEqual({ "script/timeout": 1 });
  });
});

describe("traces", () => {
  test("each run is a span continuing the call's trace, with its outcome; a failure is an error span", async () => {
    type OtlpSpan = {
      traceId: string;
      parentSpanId?: string;
      name: string;
      kind: number;
      status?: { code?: number; message?: string };
      attributes?: { key: string; value: { stringValue?: string; intValue?: string } }[];
    };
    const spans: OtlpSpan[] = [];
    const sink = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const body = (await req.json()) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        return Response.json({});
      },
    });
    const tracer = await startTracing(tracedServices.agent, { endpoint: `http://127.0.0.1:${sink.port}/v1/traces` });
    try {
      const failing = defineTool({ ...echo, name: "fail", handler: () => Promise.reject(new ToolError("Nope", "")) });
      const s = setup({ tools: [echo, failing] });
      await s.runtime.start();
      const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      s.api.put<Task>(s.tasksPath, {
        metadata: { name: "ok", annotations: { [traceparentAnnotation]: parent } },
        spec: { requiredCapabilities: ["text"], tool: "echo", payload: { text: "x" } },
        status: { phase: "Assigned", assignedAgent: me, attempts: 2 },
      });
      s.assign("bad", { tool: "fail" });
      s.assign("cap", { tool: undefined, requiredCapabilities: ["nothing"] });
      for (const n of ["ok", "bad", "cap"]) await s.finished(n);
      await tracer?.flush();
      const attrs = (sp: OtlpSpan | undefined) =>
        Object.fromEntries((sp?.attributes ?? []).map((a) => [a.key, a.value.stringValue ?? Number(a.value.intValue)]));
      const ok = spans.find((sp) => attrs(sp)["mcp.task"] === "ok");
      expect(ok?.name).toBe("execute_tool echo");
      expect(ok?.kind).toBe(5); // CONSUMER
      expect(ok?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
      expect(ok?.parentSpanId).toBe("00f067aa0ba902b7");
      expect(attrs(ok)).toEqual({
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "echo",
        "mcp.task": "ok",
        "mcp.task.attempt": 2,
        "mcp.agent": me,
        "mcp.task.outcome": "completed",
      });
      expect(ok?.status?.code ?? 0).toBe(0);
      const bad = spans.find((sp) => attrs(sp)["mcp.task"] === "bad");
      expect(attrs(bad)["mcp.task.outcome"]).toBe("Nope");
      expect(bad?.status).toEqual({ code: 2, message: "Nope" });
      const cap = spans.find((sp) => attrs(sp)["mcp.task"] === "cap");
      expect(cap?.name).toBe("execute_tool (by capability)");
      expect(cap?.status).toEqual({ code: 2, message: "no tool of this agent serves nothing" });
    } finally {
      await tracer?.shutdown();
      sink.stop(true);
    }
  });
});

describe("guards, one by one", () => {
  test("a task completed or failed by someone else while it runs is stopped", async () => {
    const g = gate("gate", "text");
    const s = setup({ tools: [g.tool] });
    await s.runtime.start();
    for (const [i, phase] of (["Completed", "Failed"] as const).entries()) {
      const name = `t${i}`;
      s.assign(name, { tool: "gate" });
      await until(`${name} to start`, () => g.seen.started === i + 1);
      const t = s.task(name) as Task;
      s.api.put(s.tasksPath, { ...t, status: { ...t.status, phase } });
      await until(`${name} aborted`, () => g.seen.signal?.aborted);
      expect((g.seen.signal?.reason as Error | undefined)?.message).toBe(`the task is now ${phase}`);
      await until("the run to end", () => s.runtime.inFlight === 0);
    }
  });

  test("at a restart, a task bound to it but since assigned to another agent is not given back", async () => {
    const s = setup();
    s.api.put<Task>(s.tasksPath, {
      metadata: { name: "theirs", labels: { [boundAgentLabel]: me } },
      spec: { requiredCapabilities: ["text"], tool: "echo", payload: { text: "x" } },
      status: { phase: "Assigned", assignedAgent: "agent-2", attempts: 1 },
    });
    s.assign("mine-running", {}, { phase: "Running", progress: { done: 3, total: 4 } as never });
    await s.runtime.start();
    expect(s.api.writes("/tasks/theirs/")).toEqual([]);
    // a Running task's give-back is only its end: what its attempt reported stays
    const t = await s.finished("mine-running");
    expect(t.status?.progress).toEqual({ done: 3, total: 4 });
  });

  test("tasks that arrive while earlier ones are given back run once the start is done", async () => {
    const s = setup();
    s.assign("earlier");
    const off = s.api.onRequest((r) => {
      if (!statusOf("earlier")(r)) return;
      off();
      s.assign("meanwhile");
    });
    await s.runtime.start();
    expect((await s.finished("meanwhile")).status?.result).toEqual({ echoed: "meanwhile" });
  });

  test("not ready while one cache is still listing, though the other synced", async () => {
    const s = setup();
    const readyWhenLabelWatchOpened: boolean[] = [];
    s.api.onRequest(async (r) => {
      if (r.method !== "GET" || !r.path.endsWith("/tasks")) return;
      if (r.query.get("fieldSelector") && r.query.get("watch") !== "true") await Bun.sleep(40);
      if (r.query.get("labelSelector") && r.query.get("watch") === "true")
        readyWhenLabelWatchOpened.push(s.runtime.ready);
    });
    await s.runtime.start();
    expect(readyWhenLabelWatchOpened).toEqual([false]);
    expect(s.runtime.ready).toBe(true);
  });

  test("a finished task deleted (its time to live over) is no trouble; nor is a bound task's update before its first write", async () => {
    const g = gate("gate", "text");
    const s = setup({ tools: [echo, g.tool], runningAfterMs: 60_000 });
    await s.runtime.start();
    s.assign("done");
    await s.finished("done");
    s.api.remove(s.taskPath("done"));
    s.bind("b", { tool: "gate" });
    await until("b", () => g.seen.started === 1);
    const t = s.task("b") as Task;
    s.api.put(s.tasksPath, { ...t, metadata: { ...t.metadata, annotations: { poke: "1" } } });
    await Bun.sleep(20);
    g.release("ok");
    expect((await s.finished("b")).status?.result).toEqual({ value: "ok" });
    expect(s.logged("Informer handler threw")).toEqual([]);
  });

  test("a conflict on a bound task now assigned to another agent writes nothing over it", async () => {
    const s = setup();
    await s.runtime.start();
    const off = s.api.onRequest((r) => {
      if (!statusOf("b")(r)) return;
      off();
      const t = s.task("b") as Task;
      s.api.put(s.tasksPath, { ...t, status: { phase: "Assigned", assignedAgent: "agent-2", attempts: 1 } });
    });
    s.bind("b");
    await until("the run to end", () => s.api.requests.filter(statusOf("b")).length >= 1 && s.runtime.inFlight === 0);
    await Bun.sleep(10);
    expect(s.api.requests.filter(statusOf("b")).length).toBe(1);
    expect(s.task("b")?.status).toEqual({ phase: "Assigned", assignedAgent: "agent-2", attempts: 1 });
  });

  test("a question to a bound task reassigned meanwhile is refused without a write", async () => {
    const { tool, seen } = asksOnce();
    const s = setup({ tools: [tool], runningAfterMs: 0 });
    await s.runtime.start();
    s.api.onRequest((r) => {
      if (r.method !== "GET" || r.query.get("fieldSelector") !== "metadata.name=b" || seen.refused) return;
      const t = s.task("b") as Task;
      if (t.status?.phase === "Running")
        s.api.put(s.tasksPath, { ...t, status: { ...t.status, assignedAgent: "agent-2" } });
    });
    s.bind("b", { tool: "script" });
    await until("refused", () => seen.refused);
    expect(s.api.requests.filter((r) => statusOf("b")(r) && (r.body as Task).status?.inputRequests)).toEqual([]);
  });

  test("two questions asked at once both go on the Task", async () => {
    const tool = scripted(async (ctx) => Promise.all([ctx.listRoots("a"), ctx.listRoots("b")]));
    const s = setup({ tools: [tool] });
    await s.runtime.start();
    s.assign("q", { tool: "script" });
    await until("both asked", () => Object.keys(s.task("q")?.status?.inputRequests ?? {}).length === 2);
    const t = s.task("q") as Task;
    s.api.put(s.tasksPath, { ...t, status: { ...t.status, inputResponses: { a: 1, b: 2 } } });
    expect((await s.finished("q")).status?.result).toEqual({ value: [1, 2] });
  });

  test("a Running write refused: the run is stopped, its progress dropped, and both said", async () => {
    const g = gate("gate", "text");
    const tool = scripted(async (ctx) => {
      await Bun.sleep(30);
      ctx.progress(1);
      return g.tool.handler({}, ctx);
    });
    const s = setup({ tools: [tool, g.tool], runningAfterMs: 5 });
    await s.runtime.start();
    s.api.failNext(statusOf("t"), { code: 422, reason: "Invalid", message: "no" });
    s.assign("t", { tool: "script" });
    await until("the abort", () => g.seen.signal?.aborted);
    expect((g.seen.signal?.reason as Error | undefined)?.message).toBe("the task is no longer this agent's");
    expect(s.logged("Could not mark the task Running")).toEqual([
      expect.objectContaining({ level: 40, task: "t", err: expect.objectContaining({ message: "no" }) }),
    ]);
    expect(s.logged("Task is no longer ours; stopping it")).toHaveLength(1);
    await until("the run to end", () => s.runtime.inFlight === 0);
    expect(s.api.requests.filter(statusOf("t")).length).toBe(1);
  });

  test("a progress write that fails is dropped with a debug line; the run goes on", async () => {
    const g = gate("gate", "text");
    const tool = scripted(async (ctx) => {
      ctx.progress(1, 2);
      return g.tool.handler({}, ctx);
    });
    const s = setup({ tools: [tool, g.tool], runningAfterMs: 60_000 });
    await s.runtime.start();
    s.api.failNext((r) => statusOf("t")(r) && !!(r.body as Task).status?.progress, { code: 422, message: "too big" });
    s.assign("t", { tool: "script" });
    await until("the debug line", () => s.logged("Could not write progress or messages; dropped").length === 1);
    expect(s.logged("Could not write progress or messages; dropped")[0]).toMatchObject({
      level: 20,
      err: expect.objectContaining({ message: "too big" }),
    });
    g.release("done");
    expect((await s.finished("t")).status?.result).toEqual({ value: "done" });
  });

  test("a claim refused after the tool already finished stops nothing and writes no end", async () => {
    const tool = scripted(async (ctx) => {
      ctx.progress(1);
      return "quick";
    });
    const s = setup({ tools: [tool], runningAfterMs: 60_000 });
    await s.runtime.start();
    s.api.onRequest(async (r) => {
      if (statusOf("t")(r) && (r.body as Task).status?.phase === "Running") await Bun.sleep(30);
    });
    s.api.failNext((r) => statusOf("t")(r) && (r.body as Task).status?.phase === "Running", {
      code: 422,
      message: "no",
    });
    s.assign("t", { tool: "script" });
    await until("the run to end", () => s.api.requests.filter(statusOf("t")).length === 1 && s.runtime.inFlight === 0);
    await Bun.sleep(10);
    expect(s.logged("Task is no longer ours; stopping it")).toEqual([]);
    expect(s.api.requests.filter(statusOf("t")).length).toBe(1);
  });

  test("a write given up exactly at its limit is not tried again", async () => {
    const clock = new FakeClock(Date.now());
    const s = setup({ clock, statusWriteRetryMs: 250 });
    await s.runtime.start();
    for (let i = 0; i < 4; i++) s.api.failNext(statusOf("t"), { code: 503 });
    s.assign("t");
    await until("the first write", () => s.api.requests.filter(statusOf("t")).length === 1);
    await Bun.sleep(5);
    // the retry comes exactly at the limit: that one is the last of this write
    clock.advance(250);
    await until("the rest", () => s.api.requests.filter(statusOf("t")).length === 3);
    await tick(clock, 250);
    await until("the run to end", () => s.runtime.inFlight === 0);
    expect(s.api.requests.filter(statusOf("t")).length).toBe(4);
  });

  test("a read after a conflict refused outright, or failing past the limit, fails the write", async () => {
    const clock = new FakeClock(Date.now());
    const s = setup({ clock, statusWriteRetryMs: 1_000 });
    await s.runtime.start();
    const byName = (name: string) => (r: FakeRequest) =>
      r.method === "GET" && r.query.get("fieldSelector")?.startsWith(`metadata.name=${name},`) === true;
    s.api.failNext(statusOf("a"), { code: 409, reason: "Conflict" });
    s.api.failNext(byName("a"), { code: 400, reason: "BadRequest", message: "bad selector" });
    s.assign("a");
    expect((await s.finished("a")).status?.error).toEqual({
      reason: "ToolFailed",
      message: "bad selector",
      retryable: true,
    });
    s.api.failNext(statusOf("b"), { code: 409, reason: "Conflict" });
    for (let i = 0; i < 3; i++) s.api.failNext(byName("b"), { code: 503, message: "away" });
    s.assign("b");
    await until("the first read", () => s.api.requests.filter(byName("b")).length === 1);
    await tick(clock, 600);
    await until("the second read", () => s.api.requests.filter(byName("b")).length === 2);
    await tick(clock, 600);
    // past the limit: the write fails, and the failure is written instead
    expect((await s.finished("b")).status?.error).toEqual({ reason: "ToolFailed", message: "away", retryable: true });
  });
});
