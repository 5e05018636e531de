// Every metric the dashboard and the alerts use is really exported by a
// running controller, gateway or agent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { tools as dataTools } from "../../services/agents/data-processor/tools.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";

let cluster: TestCluster;
let stack: GatewayStack;

beforeAll(async () => {
  cluster = await testCluster();
  stack = await startGatewayStack(cluster, await cluster.newNamespace("monitoring"), dataTools);
  const client = new Client({ name: "monitoring", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(stack.url));
  await client.callTool({ name: "csv_to_json", arguments: { csv: "a\n1\n" } });
  await client.close();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** Metric names in PromQL expressions; histogram series map to their metric. */
function metricNames(exprs: string[]): Set<string> {
  const names = new Set<string>();
  for (const e of exprs)
    for (const m of e.matchAll(/\bmcp_[a-z0-9_]+/g)) names.add(m[0].replace(/_(bucket|count|sum)$/, ""));
  return names;
}

describe("monitoring manifests", () => {
  test("use only metrics the services export", async () => {
    const dir = join(repoRoot, "deploy", "monitoring");
    const rules = parseAllDocuments(readFileSync(join(dir, "alerts.yaml"), "utf8")).flatMap((d) =>
      (d.toJSON() as { spec: { groups: { rules: { expr: string }[] }[] } }).spec.groups.flatMap((g) =>
        g.rules.map((r) => r.expr),
      ),
    );
    const dashboard = JSON.parse(readFileSync(join(dir, "dashboard.json"), "utf8")) as {
      panels: { targets: { expr: string }[] }[];
    };
    const used = metricNames([...rules, ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))]);
    expect(used.size).toBeGreaterThanOrEqual(10);

    const exposition = [
      await stack.conductor.controller.metrics.registry.metrics(),
      await (await fetch(new URL("/metrics", stack.url))).text(),
      await stack.agent.metrics.registry.metrics(),
    ].join("\n");
    const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
    const missing = [...used].filter((n) => !exported.has(n));
    expect(missing).toEqual([]);
  });
});
