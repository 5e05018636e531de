// A tool's questions to its client (ctx.requestInput, ctx.elicit, ctx.sample,
// ctx.listRoots) on a synchronous 2026-07-28 call: the gateway answers
// input_required (SEP-2322) with the questions and a sealed requestState, and
// the client's retry brings the answers to the same Task on any replica, also
// once the gateway that asked is gone. The 2.x SDK client answers by itself;
// a client without the capability a question needs is refused at once; an
// altered, foreign or stale requestState is refused, saying which. A question
// nobody answers ends its call at its answer-by time (InputTimeout, not
// retried), the tool's own time limit standing still meanwhile; answers are
// taken only by the attempt that asked, and only once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import { defineTool, ToolError } from "../../lib/agent/tool.ts";
import type { Task } from "../../lib/api/resources.ts";
import { answerByOf } from "../../lib/api/task-state.ts";
import { silentLogger } from "../../lib/log.ts";
import { Gateway, serveGateway } from "../../services/gateway/gateway.ts";
import { readTokenDir } from "../../services/gateway/security.ts";
import { conformanceTools } from "../fixtures/conformance-tools.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";
import { type Request2026Options, rpc2026 } from "../harness/mcp-2026.ts";

let cluster: TestCluster;
let stack: GatewayStack;
let tokens: string;
/** Two replicas of the domain's gateway, with bearer tokens for alice and bob. */
const replicas: { gateway: Gateway; server: ReturnType<typeof serveGateway>; url: string }[] = [];

const meta = (capabilities: Record<string, unknown>) => ({
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": capabilities,
});
const alice = (capabilities: Record<string, unknown> = { elicitation: {} }): Request2026Options => ({
  token: "alice-token",
  meta: meta(capabilities),
});
const call = (url: string, name: string, extra: Record<string, unknown>, opts: Request2026Options) =>
  rpc2026(url, "tools/call", { name, arguments: {}, ...extra }, opts);
const accept = (content: Record<string, unknown>) => ({ action: "accept", content });
const url = (i: number) => replicas[i]?.url ?? "";

async function startReplica(): Promise<(typeof replicas)[number]> {
  const gateway = new Gateway({
    conn: cluster.conn,
    namespace: stack.gateway.namespace,
    log: silentLogger,
    security: { tokens: readTokenDir(tokens), ratePerSecond: 10_000, burst: 10_000 },
  });
  await gateway.start();
  const server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
  await eventually(() => gateway.get("test_input_required_result_elicitation"), { message: "tools on a replica" });
  return { gateway, server, url: `http://127.0.0.1:${server.port}/mcp` };
}

/** Asks the same question twice: the second time under a key of its own. */
const askTwice = defineTool({
  name: "ask_twice",
  description: "Asks for a confirmation, then for another.",
  capability: "conformance",
  inputSchema: { type: "object", properties: {} },
  handler: async (_args: Record<string, unknown>, ctx) => {
    const ask = () =>
      ctx.elicit(
        { message: "Sure?", requestedSchema: { type: "object", properties: { ok: { type: "boolean" } } } },
        "confirm",
      );
    const first = await ask();
    const second = await ask();
    return { first: first.content?.ok, second: second.content?.ok };
  },
});

const confirmSchema = { type: "object", properties: { ok: { type: "boolean" } } };

/** Asks for a confirmation, on an agent whose tools have 1 s and whose questions 3 s (`timing`). */
const confirmOnce = defineTool({
  name: "confirm_once",
  description: "Asks for a confirmation.",
  capability: "input-timing",
  inputSchema: { type: "object", properties: {} },
  handler: async (_args: Record<string, unknown>, ctx) => {
    const answer = await ctx.elicit({ message: "Sure?", requestedSchema: confirmSchema }, "confirm");
    return { ok: answer.content?.ok };
  },
});

/**
 * Asks for a confirmation; its first attempt fails (retryably) a moment after
 * asking, answered or not, and the second runs after the controller's 5 s
 * backoff (on the domain's agent: its questions have the default 10 minutes).
 */
const flakyConfirm = defineTool({
  name: "flaky_confirm",
  description: "Asks for a confirmation; the first attempt fails.",
  capability: "conformance",
  inputSchema: { type: "object", properties: {} },
  handler: async (_args: Record<string, unknown>, ctx) => {
    const answer = ctx.elicit({ message: `Sure? (attempt ${ctx.attempt})`, requestedSchema: confirmSchema }, "confirm");
    if (ctx.attempt === 1) {
      await Promise.race([answer.catch(() => {}), Bun.sleep(300)]);
      throw new ToolError("Flaky", "the first attempt fails", { retryable: true });
    }
    return { ok: (await answer).content?.ok, attempt: ctx.attempt };
  },
});

/** The agent of the tools above: a tool may take 1 s of its own, a client 3 s to answer each question. */
let timing: AgentRuntime;
const answerTimeMs = 3_000;

/** The Tasks of calls of a tool. */
const tasksOf = async (tool: string): Promise<Task[]> =>
  (await cluster.mcp.tasks.list(stack.gateway.namespace, { labelSelector: `mcp.io/tool=${tool}` })).items;

beforeAll(async () => {
  cluster = await testCluster();
  stack = await startGatewayStack(cluster, await cluster.newNamespace("input-required"), [
    ...conformanceTools,
    askTwice,
    flakyConfirm,
  ]);
  tokens = mkdtempSync(join(tmpdir(), "gw-tokens-"));
  writeFileSync(join(tokens, "alice"), "alice-token");
  writeFileSync(join(tokens, "bob"), "bob-token");
  timing = new AgentRuntime({
    name: "timing-1",
    namespace: stack.gateway.namespace,
    conn: cluster.conn,
    tools: [confirmOnce],
    heartbeatIntervalMs: 500,
    shutdownGraceMs: 1_000,
    taskTimeoutMs: 1_000,
    inputAnswerTimeMs: answerTimeMs,
    log: silentLogger,
  });
  await timing.start();
  for (let i = 0; i < 2; i++) replicas.push(await startReplica());
  await eventually(() => replicas.every((r) => r.gateway.get("confirm_once")), {
    message: "the timing agent's tools",
  });
}, 120_000);

afterAll(async () => {
  for (const r of replicas) {
    await r.server.stop(true);
    await r.gateway.stop();
  }
  await timing?.shutdown();
  await stack?.stop();
});

describe("a 2026 client answering a tool's questions synchronously", () => {
  test("the 2.x SDK client answers by itself, round after round, several questions at once", async () => {
    const client = new ModernClient(
      { name: "answers", version: "1.0.0" },
      { capabilities: { elicitation: {}, sampling: {}, roots: {} }, versionNegotiation: { mode: "auto" } },
    );
    const asked: string[] = [];
    client.setRequestHandler("elicitation/create", async (req) => {
      asked.push(String(req.params.message));
      const content: Record<string, string> = String(req.params.message).includes("color")
        ? { color: "blue" }
        : { name: "Ada" };
      return { action: "accept", content };
    });
    client.setRequestHandler("sampling/createMessage", async () => ({
      role: "assistant",
      model: "test-model",
      content: { type: "text", text: "Good day" },
    }));
    client.setRequestHandler("roots/list", async () => ({ roots: [{ uri: "file:///work", name: "work" }] }));
    await client.connect(new ModernTransport(stack.url));
    try {
      expect(client.getProtocolEra()).toBe("modern");
      const rounds = await client.callTool({ name: "test_input_required_result_multi_round", arguments: {} });
      expect(rounds.content).toEqual([{ type: "text", text: "Ada likes blue" }]);
      expect(asked).toEqual(["Step 1: What is your name?", "Step 2: What is your favorite color?"]);
      const all = await client.callTool({ name: "test_input_required_result_multiple_inputs", arguments: {} });
      expect(all.content).toEqual([{ type: "text", text: "Good day Ada (1 roots)" }]);
      // a tool asks only what the client declared (ctx.client): all three here
      const caps = await client.callTool({ name: "test_input_required_result_capabilities", arguments: {} });
      expect(caps.content).toEqual([{ type: "text", text: "Asked the client: summary, confirm, client_roots" }]);
    } finally {
      await client.close();
    }
  }, 30_000);

  test("asked on one gateway, answered on another after the first stopped: the questions and answers live on the Task", async () => {
    const doomed = await startReplica();
    const first = await call(doomed.url, "test_input_required_result_elicitation", {}, alice());
    expect(first.status).toBe(200);
    const requestState = first.body.result.requestState;
    expect(typeof requestState).toBe("string");
    expect(first.body.result).toMatchObject({
      resultType: "input_required",
      inputRequests: {
        user_name: { method: "elicitation/create", params: { message: "What is your name?" } },
      },
    });
    expect(first.body.result.taskId).toBeUndefined();
    const asking = (await tasksOf("test_input_required_result_elicitation")).find(
      (t) => t.status?.phase === "Running" && t.status.inputRequests?.user_name,
    );
    expect(asking).toBeDefined();
    await doomed.server.stop(true);
    await doomed.gateway.stop();

    const second = await call(
      url(1),
      "test_input_required_result_elicitation",
      { inputResponses: { user_name: accept({ name: "Ada" }) }, requestState },
      alice(),
    );
    expect(second.status).toBe(200);
    expect(second.body.result).toMatchObject({
      resultType: "complete",
      content: [{ type: "text", text: "Hello, Ada!" }],
    });
    const done = await cluster.mcp.tasks.get(stack.gateway.namespace, asking?.metadata.name ?? "");
    expect(done.status?.phase).toBe("Completed");
    expect(done.status?.inputRequests).toEqual({});
    expect(done.status?.inputResponses).toEqual({});
  }, 30_000);

  test("each round of a multi-round call has a requestState of its own, and any replica takes the next", async () => {
    const r1 = await call(url(0), "test_input_required_result_multi_round", {}, alice());
    expect(Object.keys(r1.body.result.inputRequests)).toEqual(["step1"]);
    const r2 = await call(
      url(1),
      "test_input_required_result_multi_round",
      { inputResponses: { step1: accept({ name: "Ada" }) }, requestState: r1.body.result.requestState },
      alice(),
    );
    expect(r2.body.result.resultType).toBe("input_required");
    expect(Object.keys(r2.body.result.inputRequests)).toEqual(["step2"]);
    expect(r2.body.result.requestState).not.toBe(r1.body.result.requestState);
    const r3 = await call(
      url(0),
      "test_input_required_result_multi_round",
      { inputResponses: { step2: accept({ color: "green" }) }, requestState: r2.body.result.requestState },
      alice(),
    );
    expect(r3.body.result.content).toEqual([{ type: "text", text: "Ada likes green" }]);
  }, 30_000);

  test("a question asked again in the same call comes under a key of its own, never taking the first answer", async () => {
    const r1 = await call(url(0), "ask_twice", {}, alice());
    expect(Object.keys(r1.body.result.inputRequests)).toEqual(["confirm"]);
    const r2 = await call(
      url(1),
      "ask_twice",
      { inputResponses: { confirm: accept({ ok: true }) }, requestState: r1.body.result.requestState },
      alice(),
    );
    expect(Object.keys(r2.body.result.inputRequests)).toEqual(["confirm-2"]);
    const r3 = await call(
      url(0),
      "ask_twice",
      { inputResponses: { "confirm-2": accept({ ok: false }) }, requestState: r2.body.result.requestState },
      alice(),
    );
    expect(r3.body.result.structuredContent).toEqual({ first: true, second: false });
  }, 30_000);

  test("answers a call comes with (no requestState) answer the questions of those keys; others are ignored", async () => {
    const r = await call(
      url(0),
      "test_input_required_result_elicitation",
      { inputResponses: { user_name: accept({ name: "Grace" }), unasked: accept({ x: 1 }) } },
      alice(),
    );
    expect(r.body.result.content).toEqual([{ type: "text", text: "Hello, Grace!" }]);
    const wrong = await call(
      url(0),
      "test_input_required_result_elicitation",
      { inputResponses: { wrong_key: accept({ x: 1 }) } },
      alice(),
    );
    expect(wrong.body.result.resultType).toBe("input_required");
    expect(Object.keys(wrong.body.result.inputRequests)).toEqual(["user_name"]);
  }, 30_000);

  test("the tool asks only what the client declared; a question it cannot answer is -32021 at once, and the Task fails", async () => {
    const sampling = await call(url(0), "test_input_required_result_capabilities", {}, alice({ sampling: {} }));
    expect(Object.keys(sampling.body.result.inputRequests)).toEqual(["summary"]);
    const none = await call(url(0), "test_input_required_result_capabilities", {}, alice({}));
    expect(none.body.result.content[0].text).toContain("Nothing asked");

    const started = performance.now();
    const refused = await call(url(0), "test_missing_capability", {}, alice({ elicitation: {} }));
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: -32021,
      message: "the tool asked for sampling/createMessage, but this client did not declare the sampling capability",
      data: { requiredCapabilities: { sampling: {} } },
    });
    await eventually(
      async () =>
        (await tasksOf("test_missing_capability")).some((t) => t.status?.error?.reason === "InputNotSupported"),
      { message: "the call's Task failed with InputNotSupported" },
    );
  }, 30_000);

  test("an altered, another caller's or another tool's requestState, a bad answer, or a Task gone: -32602 saying which", async () => {
    const first = await call(url(0), "test_input_required_result_tampered_state", {}, alice());
    const state = first.body.result.requestState as string;
    const answers = { confirm: accept({ ok: "yes" }) };
    const retry = (name: string, requestState: string, opts = alice(), inputResponses: unknown = answers) =>
      call(url(1), name, { inputResponses, requestState }, opts);
    const refused = async (p: ReturnType<typeof retry>) => {
      const r = await p;
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe(-32602);
      return r.body.error.message as string;
    };
    expect(await refused(retry("test_input_required_result_tampered_state", `${state}-TAMPERED`))).toContain(
      "Invalid requestState",
    );
    expect(
      await refused(
        retry("test_input_required_result_tampered_state", state, {
          token: "bob-token",
          meta: meta({ elicitation: {} }),
        }),
      ),
    ).toBe("requestState was issued to another caller");
    expect(await refused(retry("test_input_required_result_elicitation", state))).toBe(
      "requestState continues a call of tool test_input_required_result_tampered_state, not test_input_required_result_elicitation",
    );
    expect(
      await refused(
        retry("test_input_required_result_tampered_state", state, alice(), { confirm: { action: "maybe" } }),
      ),
    ).toContain("inputResponses.confirm (elicitation/create) must have an action");
    expect(await refused(retry("test_input_required_result_tampered_state", state, alice(), null))).toContain(
      "inputResponses must be an object",
    );
    // none of that touched the call: the right answer still finishes it
    const ok = await retry("test_input_required_result_tampered_state", state);
    expect(ok.body.result.content).toEqual([{ type: "text", text: 'confirmed: {"ok":"yes"}' }]);

    const again = await call(url(0), "test_input_required_result_tampered_state", {}, alice());
    const asking = (await tasksOf("test_input_required_result_tampered_state")).find(
      (t) => t.status?.phase === "Running",
    );
    await cluster.mcp.tasks.delete(stack.gateway.namespace, asking?.metadata.name ?? "");
    await eventually(async () => (await tasksOf("test_input_required_result_tampered_state")).length === 1);
    expect(await refused(retry("test_input_required_result_tampered_state", again.body.result.requestState))).toContain(
      "The call this requestState continues is gone",
    );
  }, 30_000);

  test("two answers to one question, on two replicas: the first stands, the second is -32602 already answered", async () => {
    const r1 = await call(url(0), "ask_twice", {}, alice());
    const requestState = r1.body.result.requestState;
    const first = await call(
      url(0),
      "ask_twice",
      { inputResponses: { confirm: accept({ ok: true }) }, requestState },
      alice(),
    );
    expect(Object.keys(first.body.result.inputRequests)).toEqual(["confirm-2"]);
    const second = await call(
      url(1),
      "ask_twice",
      { inputResponses: { confirm: accept({ ok: false }) }, requestState },
      alice(),
    );
    expect(second.status).toBe(400);
    expect(second.body.error).toMatchObject({
      code: -32602,
      message: "inputResponses.confirm was already answered: an answer to it came first, and stands",
    });
    const last = await call(
      url(1),
      "ask_twice",
      { inputResponses: { "confirm-2": accept({ ok: false }) }, requestState: first.body.result.requestState },
      alice(),
    );
    expect(last.body.result.structuredContent).toEqual({ first: true, second: false });
  }, 30_000);
});

describe("how long a question waits, and for which attempt", () => {
  test("a question nobody answers ends the call at its answer-by time: InputTimeout, not retried, and the requestState expires with it", async () => {
    const started = Date.now();
    const asked = await call(url(0), "confirm_once", {}, alice());
    expect(asked.body.result.resultType).toBe("input_required");
    // the client sees the request as the tool made it; the Task keeps when it must be answered by
    expect(asked.body.result.inputRequests).toEqual({
      confirm: { method: "elicitation/create", params: { message: "Sure?", requestedSchema: confirmSchema } },
    });
    const task = (await tasksOf("confirm_once")).find((t) => t.status?.phase === "Running") as Task;
    const answerBy = answerByOf(task.status?.inputRequests?.confirm) ?? 0;
    expect(answerBy - started).toBeGreaterThan(answerTimeMs - 1_000);
    expect(answerBy - started).toBeLessThanOrEqual(answerTimeMs + 1_000);
    // past the tool's own 1 s, still waiting for its answer
    await Bun.sleep(1_500);
    expect((await cluster.mcp.tasks.get(stack.gateway.namespace, task.metadata.name ?? "")).status?.phase).toBe(
      "Running",
    );
    const failed = await eventually(
      async () => {
        const t = await cluster.mcp.tasks.get(stack.gateway.namespace, task.metadata.name ?? "");
        return t.status?.conditions?.some((c) => c.type === "Failed" && c.status === "True") && t;
      },
      { message: "the call's Task failed for good" },
    );
    expect(failed.status?.error).toMatchObject({ reason: "InputTimeout", retryable: false });
    expect(failed.status?.error?.message).toContain("the client did not answer confirm by");
    expect(failed.status?.attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(answerTimeMs + 5_000);
    const late = await call(
      url(1),
      "confirm_once",
      { inputResponses: { confirm: accept({ ok: true }) }, requestState: asked.body.result.requestState },
      alice(),
    );
    expect(late.status).toBe(400);
    expect(late.body.error.message).toContain("Expired requestState: its questions were to be answered by");
  }, 30_000);

  test("the time a tool waits for answers does not count against its own time limit", async () => {
    const asked = await call(url(0), "confirm_once", {}, alice());
    await Bun.sleep(1_500);
    const done = await call(
      url(1),
      "confirm_once",
      { inputResponses: { confirm: accept({ ok: true }) }, requestState: asked.body.result.requestState },
      alice(),
    );
    expect(done.body.result).toMatchObject({ resultType: "complete", structuredContent: { ok: true } });
  }, 30_000);

  test("answers for an attempt that is over are not taken by the next: the retry is asked the new attempt's question", async () => {
    const asked = await call(url(0), "flaky_confirm", {}, alice());
    expect(Object.keys(asked.body.result.inputRequests)).toEqual(["confirm"]);
    // the first attempt fails; the second asks again, under a key of its own
    const retried = await eventually(
      async () =>
        (await tasksOf("flaky_confirm")).find(
          (t) => t.status?.attempts === 2 && t.status.phase === "Running" && t.status.inputRequests?.["confirm@2"],
        ),
      { timeout: 20_000, message: "the second attempt asking" },
    );
    const again = await call(
      url(1),
      "flaky_confirm",
      { inputResponses: { confirm: accept({ ok: false }) }, requestState: asked.body.result.requestState },
      alice(),
    );
    expect(again.body.result).toMatchObject({
      resultType: "input_required",
      inputRequests: { "confirm@2": { params: { message: "Sure? (attempt 2)" } } },
    });
    const task = await cluster.mcp.tasks.get(stack.gateway.namespace, retried.metadata.name ?? "");
    expect(task.status?.inputResponses ?? {}).toEqual({});
    const done = await call(
      url(0),
      "flaky_confirm",
      { inputResponses: { "confirm@2": accept({ ok: true }) }, requestState: again.body.result.requestState },
      alice(),
    );
    expect(done.body.result.structuredContent).toEqual({ ok: true, attempt: 2 });
  }, 40_000);

  test("tasks/update with an answer to an earlier attempt's question answers nothing the retried task asks", async () => {
    const opts = { token: "alice-token", extensions: true };
    const created = await rpc2026(url(0), "tools/call", { name: "flaky_confirm", arguments: {} }, opts);
    const taskId = created.body.result.taskId as string;
    const get = async () => (await rpc2026(url(1), "tasks/get", { taskId }, opts)).body.result;
    const first = await eventually(async () => {
      const r = await get();
      return r.status === "input_required" && r;
    });
    expect(Object.keys(first.inputRequests)).toEqual(["confirm"]);
    const second = await eventually(
      async () => {
        const r = await get();
        return r.status === "input_required" && "confirm@2" in r.inputRequests && r;
      },
      { timeout: 20_000, message: "the second attempt asking" },
    );
    expect(second.inputRequests["confirm@2"]).toEqual({
      method: "elicitation/create",
      params: { message: "Sure? (attempt 2)", requestedSchema: confirmSchema },
    });
    // the client answers what it saw first: the retried task does not take it
    const stale = await rpc2026(
      url(0),
      "tasks/update",
      { taskId, inputResponses: { confirm: accept({ ok: false }) } },
      opts,
    );
    expect(stale.body.result.resultType).toBe("complete");
    expect((await get()).inputRequests).toHaveProperty("confirm@2");
    await rpc2026(url(0), "tasks/update", { taskId, inputResponses: { "confirm@2": accept({ ok: true }) } }, opts);
    const done = await eventually(async () => {
      const r = await get();
      return r.status === "completed" && r;
    });
    expect(done.result.structuredContent).toEqual({ ok: true, attempt: 2 });
  }, 40_000);
});
