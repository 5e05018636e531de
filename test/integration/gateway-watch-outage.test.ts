// A call whose Task finishes while the gateway cannot reach the apiserver
// still gets its answer, its client connected all along: the gateway's Task
// watch, hung and then reset (a proxy in front of the apiserver, for this
// gateway alone), picks up from where it was and hands the outcome to the
// waiting call.
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { silentLogger } from "../../lib/log.ts";
import { Gateway, serveGateway } from "../../services/gateway/gateway.ts";
import { slowTool } from "../fixtures/slow-tool.ts";
import { testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { startGatewayStack } from "../harness/gateway-stack.ts";
import { startTcpProxy } from "../harness/tcp-proxy.ts";

test("a call whose Task finishes while its gateway's watch is down gets its answer", async () => {
  const cluster = await testCluster();
  const ns = await cluster.newNamespace("watch-outage");
  // The controller, the scheduler and the agent reach the apiserver directly.
  const stack = await startGatewayStack(cluster, ns, [slowTool("data-processing")]);
  const server = new URL(cluster.cp.server);
  const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
  const kubeconfigPath = join(tmpdir(), `watch-outage-${process.pid}.kubeconfig`);
  writeFileSync(
    kubeconfigPath,
    readFileSync(cluster.kubeconfigPath, "utf8").replace(cluster.cp.server, `https://127.0.0.1:${proxy.port}`),
  );
  const gateway = new Gateway({
    conn: KubeConnection.fromOptions({ kubeconfigPath }),
    namespace: ns,
    log: silentLogger,
    security: { ratePerSecond: 10_000, burst: 10_000, allowUnauthenticated: true },
  });
  await gateway.start();
  const served = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
  const client = new Client({ name: "watch-outage", version: "1.0.0" });
  try {
    await eventually(() => gateway.get("slow"), { message: "the tool on the gateway under test" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${served.port}/mcp`)));
    const answer = client.callTool({ name: "slow", arguments: { ms: 2_000 } }, CallToolResultSchema, {
      timeout: 60_000,
    });
    const running = await eventually(
      async () => (await cluster.mcp.tasks.list(ns)).items.find((t) => t.status?.phase === "Running"),
      { message: "the call's Task Running" },
    );
    // The apiserver stops answering this gateway; the Task finishes meanwhile.
    proxy.hang();
    await eventually(
      async () => (await cluster.mcp.tasks.get(ns, running.metadata.name ?? "")).status?.phase === "Completed",
      { timeout: 15_000, message: "the Task Completed" },
    );
    await Bun.sleep(1_000);
    proxy.restore();
    const res = await answer;
    expect(res.isError).toBeFalsy();
    expect(JSON.stringify(res.structuredContent ?? res.content)).toContain("2000");
  } finally {
    await client.close().catch(() => {});
    await served.stop(true);
    await gateway.stop();
    await proxy.stop();
    await stack.stop();
  }
}, 90_000);
