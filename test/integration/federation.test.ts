// Gateway federation with the MCP reference server (server-everything) run
// locally as a remote MCPServer: its tools, resources and prompts through
// the gateway beside the agents' tools, list_changed as servers come and go,
// and a failing server cut off without harm to the rest.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { freePort } from "../../lib/control-plane/local.ts";
import { tools as dataTools } from "../../services/agents/data-processor/tools.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type EverythingServer, startEverythingServer } from "../harness/everything-server.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";

let cluster: TestCluster;
let stack: GatewayStack;
let ns: string;
let ref: EverythingServer;
let client: Client;
let toolListChanges = 0;

const text = (r: unknown) => JSON.stringify((r as { content?: unknown }).content);
const toolNames = async () => (await client.listTools()).tools.map((t) => t.name);

async function federate(name: string, url: URL, extra: Record<string, unknown> = {}) {
  await cluster.mcp.mcpServers.create(ns, { metadata: { name }, spec: { url: url.toString(), ...extra } });
  await eventually(() => stack.gateway.federation.states()[name] === "ready", {
    timeout: 20_000,
    message: `the gateway federating ${name}`,
  });
}

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("federation");
  ref = await startEverythingServer();
  stack = await startGatewayStack(cluster, ns, dataTools, {
    federation: { breaker: { failureThreshold: 2, cooldownMs: 300, maxCooldownMs: 1_000 }, callTimeoutMs: 5_000 },
  });
  await federate("ref", ref.url);
  client = new Client({ name: "federation-test", version: "1.0.0" });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    toolListChanges++;
  });
  await client.connect(new StreamableHTTPClientTransport(stack.url));
}, 120_000);

afterAll(async () => {
  await client?.close();
  await stack?.stop();
  await ref?.stop();
});

describe("gateway federation", () => {
  test("the server's tools appear prefixed, beside the agents' tools, with their schemas", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain("ref__echo");
    expect(names).toContain("ref__get-sum");
    expect(names).toContain("csv_to_json"); // an agent's tool, unprefixed
    const echo = tools.find((t) => t.name === "ref__echo");
    expect(echo?.inputSchema.properties).toHaveProperty("message");
    expect(echo?.execution?.taskSupport).toBe("forbidden");
  });

  test("calls are proxied to the server and return its results", async () => {
    const echo = await client.callTool({ name: "ref__echo", arguments: { message: "via the gateway" } });
    expect(text(echo)).toContain("via the gateway");
    const sum = await client.callTool({ name: "ref__get-sum", arguments: { a: 19, b: 23 } });
    expect(text(sum)).toContain("42");
    // and the agents' tools still run as Tasks
    const csv = await client.callTool({ name: "csv_to_json", arguments: { csv: "a\n1" } });
    expect(csv.structuredContent).toEqual({ rows: [{ a: "1" }], count: 1 });
  });

  test("the server's errors come back as its errors", async () => {
    const err = await client.callTool({ name: "ref__get-sum", arguments: { a: "not a number" } }).then(
      (r) => r,
      (e: Error) => e,
    );
    // the reference server answers bad arguments with a tool error or InvalidParams; either way it is the server's answer
    const said = err instanceof Error ? err.message : text(err);
    expect(said.toLowerCase()).toMatch(/invalid|expected|number/);
    expect(stack.gateway.federation.states().ref).toBe("ready");
  });

  test("progress from the server reaches the client", async () => {
    const tools = await toolNames();
    const longOp = tools.find((n) => n.startsWith("ref__") && n.includes("long-running"));
    expect(longOp).toBeDefined();
    const seen: number[] = [];
    await client.callTool({ name: longOp ?? "", arguments: { duration: 1, steps: 3 } }, undefined, {
      onprogress: (p) => seen.push(p.progress),
      timeout: 20_000,
    });
    expect(seen.length).toBeGreaterThanOrEqual(2);
  }, 30_000);

  test("its prompts and resources are offered too", async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toContain("ref__simple-prompt");
    const got = await client.getPrompt({ name: "ref__simple-prompt" });
    expect(got.messages.length).toBeGreaterThan(0);
    const { resources } = await client.listResources();
    expect(resources.length).toBeGreaterThan(0);
    const first = resources[0];
    const read = await client.readResource({ uri: first?.uri ?? "" });
    expect(read.contents[0]?.uri).toBe(first?.uri);
    const missing = await client.readResource({ uri: "nowhere://nothing" }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(missing?.message).toContain("Resource not found");
  });

  test("a server coming and going changes the list and tells clients", async () => {
    const before = toolListChanges;
    const second = await startEverythingServer();
    try {
      await federate("other", second.url, { toolPrefix: "o." });
      await eventually(async () => (await toolNames()).includes("o.echo"), { message: "o.echo listed" });
      await eventually(() => toolListChanges > before, { message: "a tools/list_changed notification" });
      const seenAfterAdd = toolListChanges;
      await cluster.mcp.mcpServers.delete(ns, "other");
      await eventually(async () => !(await toolNames()).includes("o.echo"), { message: "o.echo gone" });
      await eventually(() => toolListChanges > seenAfterAdd, { message: "list_changed on removal" });
    } finally {
      await second.stop();
    }
  }, 40_000);

  test("a failing server is cut off and comes back; the gateway and the others carry on", async () => {
    const port = await freePort();
    let flaky = await startEverythingServer(port);
    await federate("flaky", flaky.url);
    expect(await toolNames()).toContain("flaky__echo");
    await flaky.stop();
    // calls fail with a JSON-RPC error, then the breaker hides the server's tools
    for (let i = 0; i < 2; i++) {
      const err = await client.callTool({ name: "flaky__echo", arguments: { message: "x" } }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message ?? "").toMatch(/unavailable|Unknown tool/);
    }
    await eventually(async () => !(await toolNames()).includes("flaky__echo"), { message: "flaky's tools hidden" });
    expect(stack.gateway.federation.states().flaky).not.toBe("ready");
    // the rest is untouched
    expect(text(await client.callTool({ name: "ref__echo", arguments: { message: "still here" } }))).toContain(
      "still here",
    );
    // back up on the same address: the half-open retry reconnects
    flaky = await startEverythingServer(port);
    try {
      await eventually(async () => (await toolNames()).includes("flaky__echo"), {
        timeout: 15_000,
        message: "flaky's tools back",
      });
      expect(text(await client.callTool({ name: "flaky__echo", arguments: { message: "back" } }))).toContain("back");
    } finally {
      await flaky.stop();
    }
  }, 60_000);
});
