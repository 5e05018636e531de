// A 2025 session's waited-for call whose tool asks the client for input: the
// gateway asks the official SDK client itself (elicitation, sampling, roots),
// question after question, and the tool gets the answers; a client without
// the capability gets the call failed at once with a reason that says so,
// not a hang.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { defineTool } from "../../lib/agent/tool.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";

let cluster: TestCluster;
let stack: GatewayStack;

const confirm = defineTool({
  name: "confirm_it",
  description: "Asks the user to confirm (elicitation).",
  capability: "input",
  inputSchema: { type: "object", properties: { what: { type: "string" } }, required: ["what"] },
  handler: async ({ what }: { what: string }, ctx) => {
    const { ok } = await ctx.requestInput({
      ok: {
        method: "elicitation/create",
        params: {
          mode: "form",
          message: `Really ${what}?`,
          requestedSchema: { type: "object", properties: { yes: { type: "boolean" } }, required: ["yes"] },
        },
      },
    });
    const a = ok as { action?: string; content?: { yes?: boolean } };
    return { confirmed: a.action === "accept" && a.content?.yes === true };
  },
});
const summarize = defineTool({
  name: "summarize_with_client_llm",
  description: "Asks the client's model (sampling).",
  capability: "input",
  inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  handler: async ({ text }: { text: string }, ctx) => {
    const { s } = await ctx.requestInput({
      s: {
        method: "sampling/createMessage",
        params: { messages: [{ role: "user", content: { type: "text", text: `Summarize: ${text}` } }], maxTokens: 50 },
      },
    });
    return { summary: (s as { content: { text: string } }).content.text };
  },
});

const planTrip = defineTool({
  name: "plan_trip",
  description: "Asks where to (elicitation), then where to save the plan (roots); says what the client could answer.",
  capability: "input",
  inputSchema: { type: "object", properties: {} },
  handler: async (_args: Record<string, unknown>, ctx) => {
    const where = await ctx.elicit({
      message: "Where to?",
      requestedSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    });
    const { roots } = await ctx.listRoots();
    return {
      city: where.content?.city,
      saveTo: roots[0]?.uri,
      clientCould: Object.keys(ctx.client.capabilities).sort(),
    };
  },
});

async function client(capabilities: Record<string, unknown>) {
  const c = new Client({ name: "input-test", version: "1.0.0" }, { capabilities });
  if (capabilities.elicitation)
    c.setRequestHandler(ElicitRequestSchema, async (req) => ({
      action: "accept",
      content:
        req.params.message === "Where to?" ? { city: "Oslo" } : { yes: String(req.params.message).includes("deploy") },
    }));
  if (capabilities.sampling)
    c.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
      role: "assistant",
      model: "test-model",
      content: { type: "text", text: `short: ${JSON.stringify(req.params.messages[0]?.content).length} chars` },
    }));
  if (capabilities.roots)
    c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///trips" }] }));
  await c.connect(new StreamableHTTPClientTransport(stack.url));
  return c;
}

beforeAll(async () => {
  cluster = await testCluster();
  const ns = await cluster.newNamespace("session-input");
  stack = await startGatewayStack(cluster, ns, [confirm, summarize, planTrip]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

test("elicitation: the gateway asks the client, and the tool gets its answer", async () => {
  const c = await client({ elicitation: {} });
  try {
    const yes = await c.callTool({ name: "confirm_it", arguments: { what: "deploy" } });
    expect(yes.structuredContent).toEqual({ confirmed: true });
    const no = await c.callTool({ name: "confirm_it", arguments: { what: "delete" } });
    expect(no.structuredContent).toEqual({ confirmed: false });
  } finally {
    await c.close();
  }
});

test("sampling: the client's model answers the tool", async () => {
  const c = await client({ sampling: {} });
  try {
    const res = await c.callTool({ name: "summarize_with_client_llm", arguments: { text: "a long story" } });
    expect((res.structuredContent as { summary: string }).summary).toMatch(/^short: \d+ chars$/);
  } finally {
    await c.close();
  }
});

test("one question after another (ctx.elicit, then ctx.listRoots); the tool knows what the client declared", async () => {
  const c = await client({ elicitation: {}, roots: {} });
  try {
    const res = await c.callTool({ name: "plan_trip", arguments: {} });
    expect(res.structuredContent).toEqual({
      city: "Oslo",
      saveTo: "file:///trips",
      clientCould: ["elicitation", "roots"],
    });
  } finally {
    await c.close();
  }
});

test("a client without the capability gets the call failed at once, saying why", async () => {
  const c = await client({});
  try {
    const started = performance.now();
    const res = await c.callTool({ name: "confirm_it", arguments: { what: "deploy" } });
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toContain("InputNotSupported");
    expect(JSON.stringify(res.content)).toContain("did not declare the elicitation capability");
    expect(performance.now() - started).toBeLessThan(20_000);
  } finally {
    await c.close();
  }
});
