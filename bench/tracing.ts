/**
 * What tracing costs a call: sequential tools/call through the gateway (a
 * Task, run by an agent, on a real local control plane) with tracing off
 * and on, in alternating rounds of the same run, so that a noisy machine
 * weighs on both alike. On, every service exports its spans as OTLP/HTTP
 * (JSON, batched as shipped) to a collector stand-in in this process that
 * reads each batch and answers 200, as a collector does; the calls carry a
 * client traceparent, as a traced client's would.
 *   bun bench/tracing.ts
 * Prints a table and, last, one JSON line of the figures; asserts nothing.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startTracing, type Tracing, tracedServices } from "../lib/tracing.ts";
import { echoTool, benchLog as log, serveBenchGateway, startBenchConductor } from "./harness.ts";
import { fmt, printFigures, summarize, table } from "./stats.ts";

const rounds = Number(process.env.ROUNDS ?? 4);
const callsPerRound = Number(process.env.CALLS ?? 150);

let spansReceived = 0;
let batches = 0;
const collector = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req) {
    const body = (await req.json()) as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] };
    batches++;
    for (const rs of body.resourceSpans ?? [])
      for (const ss of rs.scopeSpans ?? []) spansReceived += ss.spans?.length ?? 0;
    return Response.json({});
  },
});

const conductor = await startBenchConductor({ ns: "bench-tracing", tools: [echoTool], agents: 1 });
const served = await serveBenchGateway(conductor.conn, conductor.ns);
const client = new Client({ name: "bench-tracing", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(served.url)));

const hex = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString("hex");
async function calls(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const traceparent = `00-${hex(16)}-${hex(8)}-01`;
    const t = performance.now();
    await client.callTool({ name: "echo", arguments: { message: `m${i}` }, _meta: { traceparent } });
    out.push(performance.now() - t);
  }
  return out;
}

await calls(30); // warm-up
const samples = { off: [] as number[], on: [] as number[] };
for (let r = 0; r < rounds; r++) {
  for (const mode of r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
    const tracings: Tracing[] = [];
    if (mode === "on")
      for (const s of Object.values(tracedServices)) {
        const t = await startTracing(s, { endpoint: `http://127.0.0.1:${collector.port}/v1/traces` });
        if (t) tracings.push(t);
      }
    samples[mode].push(...(await calls(callsPerRound)));
    for (const t of tracings) await t.shutdown();
    log(`round ${r + 1}/${rounds} ${mode}: ${callsPerRound} calls`);
  }
}

const off = summarize(samples.off);
const on = summarize(samples.on);
const spansPerCall = spansReceived / samples.on.length;
console.log(
  table([
    ["tracing", "calls", "p50 ms", "p99 ms", "mean ms"],
    ["off", off.n, fmt(off.p50), fmt(off.p99), fmt(off.mean)],
    ["on", on.n, fmt(on.p50), fmt(on.p99), fmt(on.mean)],
  ]),
);
console.log(`spans exported: ${spansReceived} in ${batches} batches (${fmt(spansPerCall, 2)} per call)`);
printFigures("tracing", {
  off: { p50_ms: off.p50, p99_ms: off.p99, mean_ms: off.mean, calls: off.n },
  on: { p50_ms: on.p50, p99_ms: on.p99, mean_ms: on.mean, calls: on.n },
  p50_on_vs_off: on.p50 / off.p50,
  p99_on_vs_off: on.p99 / off.p99,
  spans_per_call: spansPerCall,
});

await client.close();
await served.stop();
await conductor.stop();
collector.stop(true);
process.exit(0);
