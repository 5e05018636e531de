// A tool's questions to its client (ctx.requestInput, ctx.elicit, ctx.sample,
// ctx.listRoots) on a synchronous 2026-07-28 call: the gateway answers
// input_required (SEP-2322) with the questions and a sealed requestState, and
// the client's retry brings the answers to the same Task on any replica, also
// once the gateway that asked is gone. The 2.x SDK client answers by itself;
// a client without the capability a question needs is refused at once; an
// altered, foreign or stale requestState is refused, saying which.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { defineTool } from "../../lib/agent/tool.ts";
import type { Task } from "../../lib/api/resources.ts";
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

/** The Tasks of calls of a tool. */
const tasksOf = async (tool: string): Promise<Task[]> =>
  (await cluster.mcp.tasks.list(stack.gateway.namespace, { labelSelector: `mcp.io/tool=${tool}` })).items;

beforeAll(async () => {
  cluster = await testCluster();
  stack = await startGatewayStack(cluster, await cluster.newNamespace("input-required"), [
    ...conformanceTools,
    askTwice,
  ]);
  tokens = mkdtempSync(join(tmpdir(), "gw-tokens-"));
  writeFileSync(join(tokens, "alice"), "alice-token");
  writeFileSync(join(tokens, "bob"), "bob-token");
  for (let i = 0; i < 2; i++) replicas.push(await startReplica());
}, 120_000);

afterAll(async () => {
  for (const r of replicas) {
    await r.server.stop(true);
    await r.gateway.stop();
  }
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
});
