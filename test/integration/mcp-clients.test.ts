// The gateway as third-party MCP clients see it: the MCP Inspector CLI and
// the @modelcontextprotocol/conformance server suite, both run under Bun,
// against a gateway whose tools are served by a conformance agent through
// the whole path (Task, controller, scheduler, agent).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { inspectorLauncher, repoRoot } from "../../lib/control-plane/binaries.ts";
import { tools as dataTools } from "../../services/agents/data-processor/tools.ts";
import { type ConformanceServer, federateConformanceServer } from "../fixtures/conformance-server.ts";
import { conformanceTools } from "../fixtures/conformance-tools.ts";
import type { TestCluster } from "../harness/cluster.ts";
import { testCluster } from "../harness/cluster.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";
import { runBun } from "../harness/run-bun.ts";

let cluster: TestCluster;
let stack: GatewayStack;
let resourceServer: ConformanceServer;
const url = () => stack.url.toString();
const pkg = (p: string) => join(repoRoot, "node_modules", "@modelcontextprotocol", p);

const run = runBun;

beforeAll(async () => {
  cluster = await testCluster();
  stack = await startGatewayStack(cluster, await cluster.newNamespace("mcp-clients"), [
    ...conformanceTools,
    ...dataTools,
  ]);
  // Resources, prompts and completions come from an MCPServer the gateway federates, unprefixed.
  resourceServer = await federateConformanceServer(cluster, stack);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await resourceServer?.stop();
});

describe("MCP Inspector CLI", () => {
  const inspector = () => inspectorLauncher();

  test("lists the tools", async () => {
    const res = await run([inspector(), "--cli", url(), "--method", "tools/list"]);
    expect(res.code).toBe(0);
    const names = (JSON.parse(res.stdout) as { tools: { name: string }[] }).tools.map((t) => t.name);
    expect(names).toContain("csv_to_json");
    expect(names).toContain("test_simple_text");
  });

  test("calls a tool with arguments", async () => {
    const res = await run([
      inspector(),
      "--cli",
      url(),
      "--method",
      "tools/call",
      "--tool-name",
      "csv_to_json",
      "--tool-arg",
      "csv=city,pop\nOslo,700000",
    ]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).structuredContent).toEqual({ rows: [{ city: "Oslo", pop: "700000" }], count: 1 });
  });
});

describe("MCP conformance suite (server)", () => {
  test("passes every scenario (the expected-failures list is empty)", async () => {
    const out = join(cluster.cp.dataDir, "conformance");
    const res = await run(
      [
        join(pkg("conformance"), "dist", "index.js"),
        "server",
        "--url",
        url(),
        "--suite",
        "all",
        "--expected-failures",
        join(repoRoot, "test", "conformance", "expected-failures.yml"),
        "-o",
        out,
      ],
      240_000,
    );
    const total = /Total: (\d+) passed, (\d+) failed/.exec(res.stdout);
    console.log(`conformance 0.1.16: ${total?.[0] ?? "no total"}`);
    if (res.code !== 0) {
      // what went wrong, in the CI log: the per-scenario summary, the baseline verdict and stderr
      const summary = res.stdout.slice(res.stdout.indexOf("=== SUMMARY ==="));
      console.log(`${summary}\n--- stderr ---\n${res.stderr.slice(-4000)}`);
    }
    expect(res.stdout).toContain("Baseline check passed");
    expect(res.code).toBe(0);
    // every scenario passes: none is listed as expected to fail, and no check failed
    expect(Number(total?.[2])).toBe(0);
    expect(Number(total?.[1])).toBeGreaterThanOrEqual(46);
  }, 300_000);
});
