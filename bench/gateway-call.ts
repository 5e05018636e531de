/**
 * tools/call round trip for an echo tool: through the gateway (each call a
 * Task, placed by the controller, run by an agent, on a real local control
 * plane) against the same tool on a plain SDK server over Streamable HTTP,
 * measured in the same run, at 1, 10 and 100 concurrent clients. Prints
 * figures; asserts nothing.
 *   bun bench/gateway-call.ts
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { silentLogger } from "../lib/log.ts";
import { Gateway, serveGateway } from "../services/gateway/gateway.ts";
import { echoTool, benchLog as log, startBenchConductor } from "./harness.ts";
import { fmt, summarize, table } from "./stats.ts";

const ns = "bench-gateway";

// ---- the conductor, all in this process ----

const conductor = await startBenchConductor({ ns, tools: [echoTool] });
const conn = conductor.conn;
const gateway = new Gateway({
  conn,
  namespace: ns,
  log: silentLogger,
  security: { ratePerSecond: 1e6, burst: 1e6, allowUnauthenticated: true },
});
await gateway.start();
const gatewayServer = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
while (!gateway.get("echo")) await Bun.sleep(50);

// ---- the baseline: the same tool on a plain SDK server ----
const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
const plain = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(req) {
    const id = req.headers.get("mcp-session-id");
    if (id) return (sessions.get(id) as WebStandardStreamableHTTPServerTransport).handleRequest(req);
    const body = await req.json();
    if (!isInitializeRequest(body)) return new Response("bad request", { status: 400 });
    const server = new McpServer({ name: "plain", version: "1.0.0" });
    server.registerTool(
      "echo",
      { description: "Echoes its message.", inputSchema: { message: z.string() } },
      async ({ message }) => ({
        content: [{ type: "text", text: message }],
      }),
    );
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (sid) => {
        sessions.set(sid, transport);
      },
    });
    await server.connect(transport);
    return transport.handleRequest(req, { parsedBody: body });
  },
});

async function run(url: string, clients: number, callsEach: number): Promise<{ lat: number[]; rate: number }> {
  const cs = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const c = new Client({ name: `bench-${i}`, version: "1.0.0" });
      await c.connect(new StreamableHTTPClientTransport(new URL(url)));
      await c.callTool({ name: "echo", arguments: { message: "warm-up" } });
      return c;
    }),
  );
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    cs.map(async (c, i) => {
      for (let k = 0; k < callsEach; k++) {
        const s = performance.now();
        await c.callTool({ name: "echo", arguments: { message: `hello ${i}/${k}` } });
        lat.push(performance.now() - s);
      }
    }),
  );
  const rate = lat.length / ((performance.now() - t0) / 1000);
  await Promise.all(cs.map((c) => c.close()));
  return { lat, rate };
}

const rows: (string | number)[][] = [["clients", "server", "p50 ms", "p99 ms", "calls/s", "gateway / plain"]];
for (const [clients, callsEach] of [
  [1, 200],
  [10, 30],
  [100, 5],
] as const) {
  log(`${clients} clients`);
  const p = await run(`http://127.0.0.1:${plain.port}/mcp`, clients, callsEach);
  const g = await run(`http://127.0.0.1:${gatewayServer.port}/mcp`, clients, callsEach);
  const ps = summarize(p.lat);
  const gs = summarize(g.lat);
  rows.push([clients, "plain SDK server", fmt(ps.p50, 1), fmt(ps.p99, 1), fmt(p.rate, 0), ""]);
  rows.push([
    clients,
    "gateway (Task)",
    fmt(gs.p50, 1),
    fmt(gs.p99, 1),
    fmt(g.rate, 0),
    `p50 ${fmt(gs.p50 / ps.p50, 1)}x, rate ${fmt(g.rate / p.rate, 2)}x`,
  ]);
}
console.log(`\n${table(rows)}`);

await plain.stop(true);
await gatewayServer.stop(true);
await gateway.stop();
await conductor.stop();
process.exit(0);
