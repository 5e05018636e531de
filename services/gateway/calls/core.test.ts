// The call core without a network: a fake Task store, fake federation, the
// real metrics registry and a logger that keeps its lines.
import { beforeEach, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import pino from "pino";
import type { Task } from "../../../lib/api/resources.ts";
import { FakeClock } from "../../../lib/clock.ts";
import { KubeApiError } from "../../../lib/kube/errors.ts";
import type { Federation } from "../federation.ts";
import { GatewayMetrics } from "../metrics.ts";
import { annotations, callerMarks, labels } from "../task-calls.ts";
import type { GatewayTool } from "../tool-registry.ts";
import { CallCore, type CallRequest } from "./core.ts";
import { CallError, ServerUnavailableError } from "./errors.ts";
import { madeBy } from "./marks.ts";
import type { CallStore, TaskOutcome } from "./store.ts";
import { TaskView, taskEnvelope, toMcpTask } from "./task-view.ts";
import type { Caller } from "./tools.ts";

const tool = (name: string, extra: Partial<GatewayTool> = {}): GatewayTool => ({
  name,
  description: name,
  capability: "c",
  inputSchema: { type: "object", properties: { n: { type: "integer" } } },
  agents: ["a"],
  generic: false,
  taskSupport: "optional",
  ...extra,
});

class FakeStore implements CallStore {
  readonly namespace = "ns";
  readonly tasks = new Map<string, Task>();
  readonly deleted: string[] = [];
  createError: unknown;
  /** What writeInput throws, when set. */
  writeError: unknown;
  /** What writeInput wrote: the answers of each write. */
  readonly answered: Record<string, unknown>[] = [];
  private readonly waiting = new Map<
    string,
    Set<{ resolve: (o: TaskOutcome) => void; onChange?: (t: Task) => void }>
  >();
  private n = 0;

  cached(name: string) {
    return this.tasks.get(name);
  }
  list() {
    return [...this.tasks.values()];
  }
  async get(name: string) {
    const t = this.tasks.get(name);
    if (!t) throw new KubeApiError(404, { reason: "NotFound", message: "not found" }, "GET", name);
    return t;
  }
  async create(
    t: GatewayTool,
    args: Record<string, unknown>,
    meta: { requestId: string; caller: Caller; counted?: () => void; clientCapabilities?: Record<string, unknown> },
  ) {
    if (this.createError) throw this.createError;
    const name = `call-${(this.n++).toString(16).padStart(24, "0")}`;
    const marks = callerMarks(meta.caller);
    const task: Task = {
      metadata: {
        name,
        labels: { ...marks.labels, [labels.tool]: t.name },
        annotations: {
          ...marks.annotations,
          ...(meta.clientCapabilities ? { "mcp.io/client-capabilities": JSON.stringify(meta.clientCapabilities) } : {}),
        },
      },
      spec: { requiredCapabilities: [t.capability], tool: t.name, payload: args },
      status: { phase: "Pending" },
    };
    this.tasks.set(name, task);
    meta.counted?.();
    return task;
  }
  inFlightOf(caller: Caller) {
    return this.list().filter((t) => madeBy(t, caller) && !["Completed", "Failed"].includes(t.status?.phase ?? ""))
      .length;
  }
  wait(task: Task, onChange?: (t: Task) => void, stop?: AbortSignal) {
    const name = task.metadata.name ?? "";
    return new Promise<TaskOutcome>((resolve) => {
      const w = { resolve, onChange };
      const ws = this.waiting.get(name) ?? new Set();
      ws.add(w);
      this.waiting.set(name, ws);
      stop?.addEventListener("abort", () => {
        ws.delete(w);
        resolve({ kind: "stopped" });
      });
    });
  }
  async cancel(task: Task) {
    const name = task.metadata.name ?? "";
    this.tasks.delete(name);
    this.deleted.push(name);
    for (const w of this.waiting.get(name) ?? []) w.resolve({ kind: "deleted" });
  }
  async cancelTask(task: Task, message: string, reason = "Cancelled") {
    const done: Task = {
      ...task,
      status: {
        phase: "Failed",
        error: { reason, message, retryable: false },
        conditions: [{ type: "Failed", status: "True", reason, lastTransitionTime: new Date().toISOString() }],
      },
    };
    this.tasks.set(task.metadata.name ?? "", done);
    return done;
  }
  async writeInput(task: Task, stillAsked: Record<string, unknown>, answers: Record<string, unknown>) {
    if (this.writeError) throw this.writeError;
    this.answered.push(answers);
    const s = this.tasks.get(task.metadata.name ?? "")?.status ?? {};
    this.update(task.metadata.name ?? "", {
      ...s,
      inputRequests: stillAsked,
      inputResponses: { ...(s.inputResponses ?? {}), ...answers },
    });
    return this.tasks.get(task.metadata.name ?? "") as Task;
  }
  /** Moves a Task on, as an agent would. */
  update(name: string, status: Task["status"]) {
    const t = { ...(this.tasks.get(name) as Task), status };
    this.tasks.set(name, t);
    for (const w of [...(this.waiting.get(name) ?? [])]) {
      w.onChange?.(t);
      if (status?.phase === "Completed") w.resolve({ kind: "completed", task: t });
      if (status?.phase === "Failed") w.resolve({ kind: "failed", task: t });
    }
  }
}

let store: FakeStore;
let clock: FakeClock;
let metrics: GatewayMetrics;
let lines: Record<string, unknown>[];
let log: pino.Logger;
const tools = new Map<string, GatewayTool>();
const registry = { tools: () => [...tools.values()], get: (n: string) => tools.get(n) };

const core = (extra: Partial<ConstructorParameters<typeof CallCore>[0]> = {}) =>
  new CallCore({ tools: registry, store, metrics, clock, ...extra });
const request = (r: Partial<CallRequest>): CallRequest => ({
  name: "t",
  arguments: {},
  caller: { client: "alice" },
  requestId: "1",
  form: "sync",
  era: "2026",
  log,
  ...r,
});
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined as unknown as CallError,
    (e: CallError) => e,
  );
const counted = async (tool: string, outcome: string) =>
  (await metrics.toolCalls.get()).values.find((v) => v.labels.tool === tool && v.labels.outcome === outcome)?.value ??
  0;

beforeEach(() => {
  store = new FakeStore();
  clock = new FakeClock();
  metrics = new GatewayMetrics("ns", { inFlight: () => 0, sessions: () => 0 });
  lines = [];
  log = pino(
    { level: "info" },
    new Writable({
      write(chunk, _e, done) {
        for (const l of String(chunk).split("\n")) if (l.trim()) lines.push(JSON.parse(l));
        done();
      },
    }),
  );
  tools.clear();
  for (const t of [
    tool("t"),
    tool("required", { taskSupport: "required" }),
    tool("forbidden", { taskSupport: "forbidden" }),
    tool("fed", { taskSupport: "forbidden", federated: { server: "s", upstreamName: "up" } }),
  ])
    tools.set(t.name, t);
});

describe("checks before any Task", () => {
  test.each([
    { name: "unknown", form: "sync", era: "2026", code: -32602, message: "Unknown tool: unknown" },
    { name: "t", args: { n: "x" }, form: "sync", era: "2026", code: -32602, message: "arguments.n" },
    { name: "t", args: [1], form: "sync", era: "2025", code: -32602, message: "arguments must be an object" },
    { name: "required", form: "sync", era: "2026", code: -32021, message: "runs only as a task" },
    { name: "required", form: "sync", era: "2025", code: -32602, message: "must be called as a task" },
    { name: "forbidden", form: "task", era: "2025", code: -32602, message: "cannot be called as a task" },
    { name: "fed", form: "task", era: "2025", code: -32602, message: "runs on an MCP server" },
  ] as const)("$name as $form ($era): $code, and no Task", async ({ name, form, era, code, message, ...rest }) => {
    const e = await refusal(core().call(request({ name, arguments: "args" in rest ? rest.args : {}, form, era })));
    expect(e).toBeInstanceOf(CallError);
    expect(e.code).toBe(code);
    expect(e.message).toContain(message);
    expect(store.tasks.size).toBe(0);
    expect(await counted(name === "unknown" ? "(unknown)" : name, "invalid_params")).toBe(1);
  });

  test("a forbidden tool with the 2026 tasks extension runs synchronously; an optional one as a task", async () => {
    const c = core();
    expect((await c.call(request({ name: "t", form: "either" }))).kind).toBe("task");
    const sync = c.call(request({ name: "forbidden", form: "either" }));
    await Bun.sleep(0);
    const name = [...store.tasks.keys()][1] as string;
    store.update(name, { phase: "Completed", result: { ok: 1 } });
    expect(await sync).toEqual({
      kind: "result",
      result: { content: [{ type: "text", text: '{"ok":1}' }], structuredContent: { ok: 1 } },
    });
  });

  test("the authorize hook sees the caller and the tool; a refusal is -32003, creates no Task, and hides the tool", async () => {
    const seen: string[] = [];
    const c = core({
      authorize: async (caller, t) => {
        seen.push(`${caller.client}:${t}`);
        return t !== "t";
      },
      onDenied: (caller, t) => denied.push(`${caller.subject?.user}:${t.name}`),
    });
    const denied: string[] = [];
    const bob = { client: "bob", session: "s1", subject: { user: "bob", groups: ["readers"] } };
    const e = await refusal(c.call(request({ name: "t", caller: bob })));
    expect(e.code).toBe(-32003);
    expect(e.message).toBe("Forbidden: bob may not call tool t (verb call on tools.mcp.io/t)");
    expect(seen).toEqual(["bob:t"]);
    expect(denied).toEqual(["bob:t"]);
    expect(store.tasks.size).toBe(0);
    expect(await counted("t", "forbidden")).toBe(1);
    expect((await c.list({ client: "bob" })).map((t) => t.name)).toEqual(["required", "forbidden", "fed"]);
    // An unknown tool is not a denial: nothing to record.
    await refusal(c.call(request({ name: "nope", caller: bob })));
    expect(denied).toEqual(["bob:t"]);
  });
});

describe("waiting, with the caller's signal", () => {
  test("progress through the phases, awaited to the last step before the result", async () => {
    const steps: number[] = [];
    const call = core().call(request({ onProgress: async (p) => void steps.push(p.progress) }));
    await Bun.sleep(0);
    const name = [...store.tasks.keys()][0] as string;
    store.update(name, { phase: "Assigned" });
    store.update(name, { phase: "Running" });
    store.update(name, { phase: "Failed", error: { reason: "Boom", message: "no", retryable: false } });
    expect(await call).toEqual({
      kind: "result",
      result: { isError: true, content: [{ type: "text", text: "Boom: no" }] },
    });
    expect(steps).toEqual([0, 2, 3, 4]);
    expect(await counted("t", "tool_error")).toBe(1);
  });

  test("the tool's own progress moves the call within Running, only ever forward, with its message", async () => {
    const seen: { progress: number; message?: string }[] = [];
    const call = core().call(request({ onProgress: async (p) => void seen.push(p) }));
    await Bun.sleep(0);
    const name = [...store.tasks.keys()][0] as string;
    store.update(name, { phase: "Running" });
    store.update(name, { phase: "Running", progress: { done: 1, total: 4, message: "read the file" } });
    store.update(name, { phase: "Running", progress: { done: 3, total: 4 } });
    // an older write seen late (or a tool that went back) is not sent
    store.update(name, { phase: "Running", progress: { done: 2, total: 4, message: "behind" } });
    store.update(name, { phase: "Running", progress: { done: 7 } });
    store.update(name, { phase: "Completed", result: { ok: 1 } });
    await call;
    expect(seen.map((p) => p.progress)).toEqual([0, 3, 3.25, 3.75, 3.875, 4]);
    expect(seen.map((p) => p.message)).toEqual([
      "task created",
      "task running",
      "read the file",
      "3 of 4",
      "7 done",
      "task finished",
    ]);
  });

  test("the tool's messages reach the caller once each, in order, and again from 1 after a retry", async () => {
    const seen: string[] = [];
    const call = core().call(request({ onMessage: (m) => void seen.push(`${m.seq}:${m.level}:${m.data}`) }));
    await Bun.sleep(0);
    const name = [...store.tasks.keys()][0] as string;
    const m = (seq: number, data: string) => ({ seq, level: "info" as const, data });
    store.update(name, { phase: "Running", messages: [m(1, "a"), m(2, "b")] });
    store.update(name, { phase: "Running", messages: [m(1, "a"), m(2, "b")] }); // seen again: not sent twice
    store.update(name, { phase: "Running", messages: [m(3, "c")] });
    // retried: the last attempt's messages are still there while Pending and Assigned
    store.update(name, { phase: "Assigned", attempts: 1, messages: [m(1, "a"), m(2, "b"), m(3, "c")] });
    store.update(name, { phase: "Running", attempts: 1, messages: [m(1, "again")] });
    store.update(name, { phase: "Completed", attempts: 1, result: {} });
    await call;
    expect(seen).toEqual(["1:info:a", "2:info:b", "3:info:c", "1:info:again"]);
  });

  test("the client going away deletes the Task, in either era", async () => {
    for (const era of ["2025", "2026"] as const) {
      const gone = new AbortController();
      const call = refusal(core().call(request({ era, signal: gone.signal })));
      await Bun.sleep(0);
      gone.abort();
      expect((await call).message).toContain("cancelled");
    }
    expect(store.deleted.length).toBe(2);
    expect(store.tasks.size).toBe(0);
    expect(await counted("t", "cancelled")).toBe(2);
  });

  test("a request cut off by the gateway stopping (not by its client) leaves its Task running", async () => {
    const c = core();
    const cut = new AbortController();
    void refusal(c.call(request({ signal: cut.signal })));
    await Bun.sleep(0);
    expect(store.tasks.size).toBe(1);
    c.drain();
    cut.abort();
    await Bun.sleep(0);
    expect(store.deleted).toEqual([]);
    expect(store.tasks.size).toBe(1);
    expect(lines.some((l) => l.msg === "Gateway stopping; the call's Task carries on")).toBe(true);
  });

  test("a Task deleted under a call (not by its client) is -32603 with a correlation id", async () => {
    const call = refusal(core().call(request({})));
    await Bun.sleep(0);
    await store.cancel([...store.tasks.values()][0] as Task);
    const e = await call;
    expect(e.code).toBe(-32603);
    expect(e.message).toContain("deleted before it finished");
    expect(lines.some((l) => l.correlationId === (e.data as { correlationId: string }).correlationId)).toBe(true);
  });
});

describe("2026 questions (SEP-2322)", () => {
  const elicit = (message: string) => ({ method: "elicitation/create", params: { message } });
  const sample = { method: "sampling/createMessage", params: { messages: [], maxTokens: 9 } };
  const yes = { action: "accept", content: { ok: true } };
  const asking = (inputRequests: Record<string, unknown>, attempts = 1) => ({
    phase: "Running" as const,
    attempts,
    inputRequests,
  });
  const first = () => [...store.tasks.keys()][0] as string;
  /** Lets the promises in flight run (no time passes: the clock moves only by hand). */
  const flush = async () => {
    for (let i = 0; i < 5; i++) await Bun.sleep(0);
  };
  /** The outcome of a call if it has one by now, else "waiting". */
  const outcome = async <T>(p: Promise<T>): Promise<T | "waiting"> => {
    await flush();
    return Promise.race([p, flush().then(() => "waiting" as const)]);
  };
  /** The moment the core waits for questions asked together passes. */
  const settle = async () => {
    await flush();
    clock.advance(50);
    await flush();
  };

  test("a synchronous call whose tool asks is answered with the questions asked together; the Task carries on", async () => {
    const call = core().call(request({ input: {}, clientCapabilities: { elicitation: {}, sampling: {} } }));
    await flush();
    store.update(first(), asking({ a: elicit("name?") }));
    clock.advance(49);
    // asked a moment later, in parallel: one answer with both
    store.update(first(), asking({ a: elicit("name?"), b: sample }));
    expect(await outcome(call)).toBe("waiting");
    await settle();
    expect(await outcome(call)).toMatchObject({ kind: "input", requests: { a: elicit("name?"), b: sample } });
    expect(store.deleted).toEqual([]);
    expect(await counted("t", "input_required")).toBe(1);
    // the tool learns what the client declared
    expect(JSON.parse(store.tasks.get(first())?.metadata.annotations?.["mcp.io/client-capabilities"] ?? "")).toEqual({
      elicitation: {},
      sampling: {},
    });
  });

  test("the questions come with their attempt and the earliest of their answer-by times; the client sees only the requests", async () => {
    const call = core().call(request({ input: {}, clientCapabilities: { elicitation: {}, sampling: {} } }));
    await flush();
    const by = (ms: number) => new Date(ms).toISOString();
    store.update(
      first(),
      asking(
        {
          "a@3": { ...elicit("name?"), answerBy: by(2_000_000_000_000) },
          "b@3": { ...sample, answerBy: by(1_900_000_000_000) },
        },
        3,
      ),
    );
    await settle();
    expect(await outcome(call)).toEqual({
      kind: "input",
      task: store.tasks.get(first()) as Task,
      attempt: 3,
      requests: { "a@3": elicit("name?"), "b@3": sample },
      answerBy: 1_900_000_000_000,
    });
  });

  test("answers the call came with go to the questions of their keys (others ignored); the rest are asked", async () => {
    const call = core().call(
      request({ input: { given: { a: yes, nobody: yes } }, clientCapabilities: { elicitation: {}, sampling: {} } }),
    );
    await flush();
    store.update(first(), asking({ a: elicit("name?"), b: sample }));
    await settle();
    expect(await outcome(call)).toMatchObject({ kind: "input", requests: { b: sample } });
    expect(store.answered).toEqual([{ a: yes }]);
  });

  test("every question answered from what the call brought: the wait goes on to the result", async () => {
    const call = core().call(request({ input: { given: { a: yes } }, clientCapabilities: { elicitation: {} } }));
    await flush();
    store.update(first(), asking({ a: elicit("name?") }));
    await settle();
    expect(store.answered).toEqual([{ a: yes }]);
    expect(await outcome(call)).toBe("waiting");
    store.update(first(), { phase: "Completed", result: { ok: 1 } });
    expect((await call).kind).toBe("result");
  });

  test("an answer the call came with that cannot be written is asked of the client, also when it answered every question", async () => {
    store.writeError = new Error("etcdserver: request timed out");
    const call = core().call(request({ input: { given: { a: yes } }, clientCapabilities: { elicitation: {} } }));
    await flush();
    store.update(first(), asking({ a: elicit("name?") }));
    await settle();
    expect(await outcome(call)).toMatchObject({ kind: "input", requests: { a: elicit("name?") } });
    expect(lines.some((l) => l.msg === "Could not answer a tool's question with the answers the call came with")).toBe(
      true,
    );
  });

  test("a question the client did not declare it can answer: -32021 naming the capability, and the Task failed", async () => {
    const e = refusal(core().call(request({ input: {}, clientCapabilities: { elicitation: {} } })));
    await flush();
    store.update(first(), asking({ a: elicit("name?"), s: sample }));
    expect(await e).toMatchObject({
      code: -32021,
      message: "the tool asked for sampling/createMessage, but this client did not declare the sampling capability",
      data: { requiredCapabilities: { sampling: {} } },
    });
    await flush();
    expect(store.tasks.get(first())?.status?.error?.reason).toBe("InputNotSupported");
    expect(await counted("t", "invalid_params")).toBe(1);
  });

  test("a resumed call does not ask again what its retry just answered, while the Task still shows it", async () => {
    const c = core();
    const call = c.call(request({ input: {}, clientCapabilities: { elicitation: {} } }));
    await flush();
    store.update(first(), asking({ a: elicit("name?") }));
    await settle();
    await call;
    const task = store.tasks.get(first()) as Task;
    const resumed = c.resume(request({ input: { answered: ["a"] }, clientCapabilities: { elicitation: {} } }), task);
    await flush();
    store.update(first(), asking({ a: elicit("name?") })); // a watch that lags behind the answer
    await settle();
    expect(await outcome(resumed)).toBe("waiting");
    store.update(first(), asking({ b: elicit("colour?") }));
    await settle();
    expect(await outcome(resumed)).toMatchObject({ kind: "input", requests: { b: elicit("colour?") } });
    const last = c.resume(request({ input: { answered: ["b"] } }), store.tasks.get(first()) as Task);
    await flush();
    store.update(first(), { phase: "Completed", result: { ok: 1 } });
    expect((await last).kind).toBe("result");
  });

  test("resumed where the call may be a task (the tasks extension declared now): its task at once", async () => {
    const call = core().call(request({ input: {}, clientCapabilities: { elicitation: {} } }));
    await flush();
    store.update(first(), asking({ a: elicit("name?") }));
    await settle();
    await call;
    const out = await core().resume(request({ form: "either" }), store.tasks.get(first()) as Task);
    expect(out).toMatchObject({ kind: "task", task: { metadata: { name: first() } } });
  });

  test("without `input` (a 2025 call) the questions are the adapter's: the wait goes on", async () => {
    const call = core().call(request({ era: "2025" }));
    await flush();
    store.update(first(), asking({ a: elicit("name?") }));
    await settle();
    clock.advance(60_000);
    expect(await outcome(call)).toBe("waiting");
    expect(clock.pending).toEqual([]);
    store.update(first(), { phase: "Completed", result: {} });
    expect((await call).kind).toBe("result");
  });
});

describe("internal errors", () => {
  test("an apiserver failure is generic to the client and logged in full under its correlation id", async () => {
    store.createError = Object.assign(new Error('etcdserver: request timed out, node 10.0.0.7 "secret-detail"'), {
      statusCode: 500,
    });
    const e = await refusal(core().call(request({})));
    const correlationId = (e.data as { correlationId: string }).correlationId;
    expect(e).toMatchObject({ code: -32603, status: 500, message: `Internal error (correlation id ${correlationId})` });
    expect(JSON.stringify({ m: e.message, d: e.data })).not.toContain("etcd");
    const line = lines.find((l) => l.correlationId === correlationId) as {
      level: number;
      err: { message: string; stack: string; statusCode: number };
      tool: string;
    };
    expect(line.level).toBe(50);
    expect(line.err.message).toContain("secret-detail");
    expect(line.err.stack).toContain("Error");
    expect(line.err.statusCode).toBe(500);
    expect(line.tool).toBe("t");
    expect(await counted("t", "internal_error")).toBe(1);
  });

  test("an authorize hook that throws is an internal error too, and no Task", async () => {
    const e = await refusal(
      core({
        authorize: () => {
          throw new Error("SubjectAccessReview: connection refused");
        },
      }).call(request({})),
    );
    expect(e.code).toBe(-32603);
    expect(e.message).not.toContain("SubjectAccessReview");
    expect(store.tasks.size).toBe(0);
  });
});

describe("federated calls", () => {
  const fakeFederation = (impl: Federation["callTool"]) => ({ callTool: impl }) as unknown as Federation;

  test("progress and the signal reach the server; the call is counted and timed", async () => {
    let signal: AbortSignal | undefined;
    const steps: number[] = [];
    const federation = fakeFederation(async (t, args, opts) => {
      signal = opts.signal;
      opts.onprogress?.({ progress: 1, total: 2 });
      return { content: [{ type: "text", text: `${t.upstreamName} ${JSON.stringify(args)}` }] };
    });
    const gone = new AbortController();
    const out = await core({ federation }).call(
      request({
        name: "fed",
        arguments: { n: 1 },
        signal: gone.signal,
        onProgress: (p) => void steps.push(p.progress),
      }),
    );
    expect(out).toEqual({ kind: "result", result: { content: [{ type: "text", text: 'up {"n":1}' }] } });
    expect(signal).toBe(gone.signal);
    expect(steps).toEqual([1]);
    expect(store.tasks.size).toBe(0);
    expect(await counted("fed", "completed")).toBe(1);
    const timed = (await metrics.toolCallDuration.get()).values.find(
      (v) => v.labels.tool === "fed" && v.metricName === "mcp_gateway_tool_call_duration_seconds_count",
    );
    expect(timed?.value).toBe(1);
  });

  test("a client going away cancels the upstream request and counts cancelled", async () => {
    const federation = fakeFederation(
      (_t, _a, opts) =>
        new Promise((_, reject) => opts.signal?.addEventListener("abort", () => reject(new Error("aborted")))),
    );
    const gone = new AbortController();
    const call = refusal(core({ federation }).call(request({ name: "fed", signal: gone.signal })));
    gone.abort();
    expect((await call).message).toContain("cancelled");
    expect(await counted("fed", "cancelled")).toBe(1);
  });

  test("an unavailable server is named, its reason only logged", async () => {
    const federation = fakeFederation(async () => {
      throw new ServerUnavailableError("s", "connect ECONNREFUSED 10.1.2.3:8080");
    });
    const e = await refusal(core({ federation }).call(request({ name: "fed" })));
    expect(e.code).toBe(-32603);
    expect(e.message).toMatch(/^MCP server s is unavailable \(correlation id [0-9a-f-]+\)$/);
    expect(JSON.stringify(lines)).toContain("ECONNREFUSED");
  });
});

describe("the task view", () => {
  test("a client sees only its own Tasks; an apiserver failure is generic", async () => {
    const view = new TaskView(store, log);
    const { task } = (await core().call(request({ form: "task" }))) as { task: Task };
    expect(await view.find(task.metadata.name, { client: "alice" })).toBe(task);
    expect(await view.find(task.metadata.name, { client: "bob" })).toBeUndefined();
    expect(await view.find("call-zzz", { client: "alice" })).toBeUndefined();
    expect((await refusal(view.owned(task.metadata.name, { client: "bob" }))).code).toBe(-32602);
    expect((await view.list({ client: "alice" })).tasks).toEqual([task]);
    expect((await view.list({ client: "bob" })).tasks).toEqual([]);
    const cancelled = await view.cancel(task, "stop");
    expect(view.status(cancelled)).toBe("cancelled");
    store.get = async () => {
      throw new Error("dial tcp 10.0.0.1:6443: connection refused");
    };
    const e = await refusal(view.find("call-000000000000000000000009", { client: "alice" }, { fresh: true }));
    expect(e.code).toBe(-32603);
    expect(e.message).not.toContain("dial tcp");
  });
});

describe("the caller on its Tasks", () => {
  const alice: Caller = { client: "alice", subject: { user: "alice", groups: ["team-a", "system:authenticated"] } };

  test("user, groups digest and client are recorded; the view knows the caller by all three", async () => {
    const view = new TaskView(store, log);
    const { task } = (await core().call(request({ form: "task", caller: alice }))) as { task: Task };
    expect(task.metadata.annotations?.[annotations.callerUser]).toBe("alice");
    expect(task.metadata.labels?.[labels.callerGroups]).toMatch(/^[0-9a-f]{16}$/);
    // The same caller, its groups in another order: the same.
    const same = { ...alice, subject: { user: "alice", groups: ["system:authenticated", "team-a"] } };
    expect(await view.find(task.metadata.name, same)).toBe(task);
    // Another user whose client name reads the same as a label value: not theirs.
    const lookalike = {
      client: "alice",
      subject: { user: "system:serviceaccount:x:alice", groups: alice.subject?.groups ?? [] },
    };
    expect(await view.find(task.metadata.name, lookalike)).toBeUndefined();
    // The same user with other groups is another caller to RBAC, and here.
    expect(
      await view.find(task.metadata.name, { ...alice, subject: { user: "alice", groups: ["team-b"] } }),
    ).toBeUndefined();
    expect((await view.list(lookalike)).tasks).toEqual([]);
  });

  test("task methods ask the authorize hook again: a revoked tool's tasks are refused and not listed", async () => {
    let allowed = true;
    const authorize = (_c: Caller, tool: string) => allowed || tool !== "t";
    const view = new TaskView(store, log, authorize);
    const { task } = (await core({ authorize }).call(request({ form: "task", caller: alice }))) as { task: Task };
    expect(await view.find(task.metadata.name, alice)).toBe(task);
    allowed = false;
    const e = await refusal(view.find(task.metadata.name, alice));
    expect(e.code).toBe(-32003);
    expect(e.message).toContain("may not call tool t");
    expect((await view.list(alice)).tasks).toEqual([]);
  });
});

describe("limits", () => {
  const carol: Caller = { client: "carol", subject: { user: "carol", groups: [] } };
  const limited = async (reason: string) =>
    (await metrics.callsLimited.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

  test("a caller's Tasks in flight are capped; a finished one frees a place; others are not affected", async () => {
    const c = core({ maxInFlightPerCaller: 2 });
    const first = (await c.call(request({ form: "task", caller: carol }))) as { task: Task };
    await c.call(request({ form: "task", caller: carol }));
    const e = await refusal(c.call(request({ form: "task", caller: carol })));
    expect(e.code).toBe(-32004);
    expect(e.status).toBe(429);
    expect(e.message).toContain("carol has 2 Tasks unfinished, at most 2");
    expect(e.data).toEqual({ reason: "CallerInFlightLimit", limit: 2, inFlight: 2 });
    expect(store.tasks.size).toBe(2);
    expect(await limited("caller_in_flight")).toBe(1);
    expect(await counted("t", "limited")).toBe(1);
    expect((await c.call(request({ form: "task", caller: alice2 }))).kind).toBe("task");
    store.update(first.task.metadata.name ?? "", { phase: "Completed", result: {} });
    expect((await c.call(request({ form: "task", caller: carol }))).kind).toBe("task");
  });
  const alice2: Caller = { client: "alice", subject: { user: "alice", groups: [] } };

  test("concurrent calls cannot all slip under the cap while their Tasks are being created", async () => {
    const c = core({ maxInFlightPerCaller: 2 });
    const outcomes = await Promise.all(
      [1, 2, 3].map((i) => refusal(c.call(request({ form: "task", caller: carol, requestId: String(i) })))),
    );
    expect(outcomes.filter((o) => o === undefined).length).toBe(2);
    expect(outcomes.filter((o) => o?.code === -32004).length).toBe(1);
    expect(store.tasks.size).toBe(2);
  });

  test("the domain's ResourceQuota refusing a Task is -32004 naming the quota, not an internal error", async () => {
    store.createError = new KubeApiError(
      403,
      {
        reason: "Forbidden",
        message:
          'tasks.mcp.io "call-1" is forbidden: exceeded quota: mcp-tasks, requested: count/tasks.mcp.io=1, used: count/tasks.mcp.io=5, limited: count/tasks.mcp.io=5',
      },
      "POST",
      "/apis/mcp.io/v1/namespaces/ns/tasks",
    );
    const e = await refusal(core().call(request({})));
    expect(e.code).toBe(-32004);
    expect(e.status).toBe(429);
    expect(e.message).toContain("ResourceQuota mcp-tasks allows 5 Tasks");
    expect(e.data).toEqual({ reason: "DomainQuota", quota: "mcp-tasks", limit: 5 });
    expect(await limited("domain_quota")).toBe(1);
    // A quota Kubernetes has not counted yet refuses every Task: a clear, retryable -32004 too.
    store.createError = new KubeApiError(
      403,
      {
        reason: "Forbidden",
        message:
          'tasks.mcp.io "call-2" is forbidden: status unknown for quota: mcp-tasks, resources: count/tasks.mcp.io',
      },
      "POST",
      "/apis/mcp.io/v1/namespaces/ns/tasks",
    );
    const uncounted = await refusal(core().call(request({})));
    expect(uncounted.code).toBe(-32004);
    expect(uncounted.data).toEqual({ reason: "QuotaNotCounted", quota: "mcp-tasks" });
    // Any other 403 stays an internal error (the gateway's own RBAC is broken, not the caller's fault).
    store.createError = new KubeApiError(
      403,
      { reason: "Forbidden", message: "tasks is forbidden: User cannot create" },
      "POST",
      "/x",
    );
    expect((await refusal(core().call(request({})))).code).toBe(-32603);
  });
});

describe("a working task's status message", () => {
  test("names the phase and agent, and the tool's own progress once it reports", () => {
    const t = (status: Task["status"]): Task => ({
      metadata: { name: "call-1", creationTimestamp: "2026-12-03T00:00:00Z" },
      spec: { requiredCapabilities: ["c"] },
      status,
    });
    expect(toMcpTask(t({ phase: "Assigned", assignedAgent: "a-1" })).statusMessage).toBe("Assigned on a-1");
    const running = t({ phase: "Running", assignedAgent: "a-1", progress: { done: 2, total: 5, message: "page 2" } });
    expect(toMcpTask(running).statusMessage).toBe("Running on a-1: page 2");
    expect(taskEnvelope(running).statusMessage).toBe("Running on a-1: page 2");
    expect(toMcpTask(t({ phase: "Running", progress: { done: 2, total: 5 } })).statusMessage).toBe("Running: 2 of 5");
  });
});
