// A federated MCPServer's prompt that asks the client something while it is
// got (elicitation, sampling): a 2026-07-28 client gets input_required with
// the question and a sealed requestState and gets the prompt with its
// answers, round after round; a 2025 session's client is asked over its own
// stream by the official 1.x SDK client's handlers; a client that did not
// declare the capability is refused clearly, never left hanging.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { type ConformanceServer, federateConformanceServer } from "../fixtures/conformance-server.ts";
import { conformanceTools } from "../fixtures/conformance-tools.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";
import { protocol2026, rpc2026 } from "../harness/mcp-2026.ts";

let cluster: TestCluster;
let stack: GatewayStack;
let server: ConformanceServer;

const meta = (capabilities: Record<string, unknown>) => ({
  "io.modelcontextprotocol/protocolVersion": protocol2026,
  "io.modelcontextprotocol/clientCapabilities": capabilities,
});
const canAnswer = meta({ elicitation: { form: {} }, sampling: {} });
const getPrompt = (params: Record<string, unknown>, capabilities = canAnswer) =>
  rpc2026(stack.url, "prompts/get", params, { meta: capabilities });
const accept = (content: Record<string, unknown>) => ({ action: "accept", content });
const textOf = (body: { result?: { messages?: { content: { text?: string } }[] } }) =>
  body.result?.messages?.[0]?.content.text;

beforeAll(async () => {
  cluster = await testCluster();
  const ns = await cluster.newNamespace("prompt-input");
  stack = await startGatewayStack(cluster, ns, conformanceTools);
  server = await federateConformanceServer(cluster, stack);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await server?.stop();
});

describe("2026-07-28: a prompt's questions are input_required", () => {
  test("round 1 asks, the retry with the answer gets the prompt", async () => {
    const first = await getPrompt({ name: "test_input_required_result_prompt" });
    expect(first.status).toBe(200);
    expect(first.body.result.resultType).toBe("input_required");
    expect(Object.keys(first.body.result.inputRequests)).toEqual(["elicitation-1"]);
    const question = first.body.result.inputRequests["elicitation-1"];
    expect(question.method).toBe("elicitation/create");
    expect(question.params.message).toBe("What context should the prompt use?");
    expect(typeof first.body.result.requestState).toBe("string");

    const second = await getPrompt({
      name: "test_input_required_result_prompt",
      inputResponses: { "elicitation-1": accept({ context: "the release notes" }) },
      requestState: first.body.result.requestState,
    });
    expect(second.status).toBe(200);
    expect(second.body.result.resultType).not.toBe("input_required");
    expect(textOf(second.body)).toBe("Prompt with context: the release notes");
    // Answering does not count against the server: it stays federated.
    expect(stack.gateway.federation.states()["conformance-resources"]).toBe("ready");
  });

  test("a prompt that asks twice takes two rounds; the requestState carries the first answer", async () => {
    const first = await getPrompt({ name: "test_prompt_asking_twice" });
    expect(Object.keys(first.body.result.inputRequests)).toEqual(["sampling-1"]);
    const second = await getPrompt({
      name: "test_prompt_asking_twice",
      inputResponses: {
        "sampling-1": { role: "assistant", content: { type: "text", text: "Ship it" }, model: "test-model" },
      },
      requestState: first.body.result.requestState,
    });
    expect(second.body.result.resultType).toBe("input_required");
    expect(Object.keys(second.body.result.inputRequests)).toEqual(["elicitation-1"]);
    expect(second.body.result.inputRequests["elicitation-1"].params.message).toBe('Use the title "Ship it"?');
    // Only the new answer is sent: the first comes back from the requestState.
    const third = await getPrompt({
      name: "test_prompt_asking_twice",
      inputResponses: { "elicitation-1": accept({ ok: true }) },
      requestState: second.body.result.requestState,
    });
    expect(textOf(third.body)).toBe("Title: Ship it");
    // Without the requestState the first answer is missing, and asked again.
    const forgetful = await getPrompt({
      name: "test_prompt_asking_twice",
      inputResponses: { "elicitation-1": accept({ ok: true }) },
    });
    expect(Object.keys(forgetful.body.result.inputRequests)).toEqual(["sampling-1"]);
  });

  test("requests in parallel each get the prompt with their own answers", async () => {
    const contexts = ["alpha", "beta", "gamma", "delta", "epsilon"];
    const answers = await Promise.all(
      contexts.map((context) =>
        getPrompt({
          name: "test_input_required_result_prompt",
          inputResponses: { "elicitation-1": accept({ context }) },
        }),
      ),
    );
    expect(answers.map((a) => textOf(a.body))).toEqual(contexts.map((c) => `Prompt with context: ${c}`));
  });

  test("a client without the elicitation capability is refused with -32021 naming it", async () => {
    const res = await getPrompt({ name: "test_input_required_result_prompt" }, meta({ sampling: {} }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(-32021);
    expect(res.body.error.message).toContain("did not declare the elicitation capability");
    expect(res.body.error.data.requiredCapabilities).toEqual({ elicitation: {} });
  });

  test("a requestState altered, or of another prompt, is -32602", async () => {
    const first = await getPrompt({ name: "test_prompt_asking_twice" });
    const state = first.body.result.requestState as string;
    const tampered = await getPrompt({
      name: "test_prompt_asking_twice",
      requestState: `${state.slice(0, -4)}AAAA`,
    });
    expect(tampered.body.error.code).toBe(-32602);
    expect(tampered.body.error.message).toContain("Invalid requestState");
    const other = await getPrompt({ name: "test_input_required_result_prompt", requestState: state });
    expect(other.body.error.code).toBe(-32602);
    expect(other.body.error.message).toBe(
      "requestState continues prompt test_prompt_asking_twice, not test_input_required_result_prompt",
    );
  });
});

describe("2025-11-25: a prompt's questions go to the session's client", () => {
  const connect = async (capabilities: Record<string, unknown>) => {
    const client = new Client({ name: "prompt-client", version: "1.0.0" }, { capabilities });
    await client.connect(new StreamableHTTPClientTransport(stack.url));
    return client;
  };

  test("the official client's handlers answer elicitation and sampling", async () => {
    const client = await connect({ elicitation: { form: {} }, sampling: {} });
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(req.params.message);
      return req.params.message.startsWith("Use the title")
        ? { action: "accept", content: { ok: true } }
        : { action: "accept", content: { context: "from a 2025 session" } };
    });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      role: "assistant",
      content: { type: "text", text: "Sessions" },
      model: "test-model",
    }));
    try {
      const one = await client.getPrompt({ name: "test_input_required_result_prompt" });
      expect(one.messages[0]?.content).toEqual({ type: "text", text: "Prompt with context: from a 2025 session" });
      const two = await client.getPrompt({ name: "test_prompt_asking_twice" });
      expect(two.messages[0]?.content).toEqual({ type: "text", text: "Title: Sessions" });
      expect(asked).toEqual(["What context should the prompt use?", 'Use the title "Sessions"?']);
    } finally {
      await client.close();
    }
  });

  test("a client without the capability gets the prompt's failure saying so", async () => {
    const client = await connect({});
    try {
      // the same client gets a prompt that asks nothing
      const simple = await client.getPrompt({ name: "test_simple_prompt" });
      expect(simple.messages.length).toBe(1);
      const err = await client.getPrompt({ name: "test_input_required_result_prompt" }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toContain("did not declare the elicitation capability");
    } finally {
      await client.close();
    }
  });
});
