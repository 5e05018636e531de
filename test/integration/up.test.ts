// `up` with no reachable cluster starts a local control plane, installs the
// CRDs, and stops everything on Ctrl-C; with a reachable $KUBECONFIG it uses
// that cluster instead.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { grpcurlBinary, repoRoot } from "../../lib/control-plane/binaries.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await testCluster();
}, 120_000);

function startUp(args: string[], env: Record<string, string | undefined>) {
  const proc = Bun.spawn(["bun", join(repoRoot, "services", "up", "main.ts"), ...args], {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const reader = (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(chunk);
  })();
  return { proc, output: () => out, reader };
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });

describe("up", () => {
  test("starts a local control plane when no cluster is reachable, and Ctrl-C stops it", async () => {
    const home = mkdtempSync(join(tmpdir(), "home-"));
    const up = startUp([], { KUBECONFIG: join(home, "missing-kubeconfig") });
    const ready = await eventually(() => up.output().includes("Press Ctrl-C") && up.output(), { timeout: 90_000 });
    expect(ready).toContain("Starting a local control plane");
    expect(ready).toContain("agents.mcp.io, mcpservers.mcp.io, plans.mcp.io, tasks.mcp.io");
    const port = Number(/Kubernetes API\s+https:\/\/127\.0\.0\.1:(\d+)/.exec(ready)?.[1]);
    const kubeconfig = /export KUBECONFIG=(\S+)/.exec(ready)?.[1] ?? "";
    expect(port).toBeGreaterThan(0);

    const res = Bun.spawnSync([cluster.cp.binaries.kubectl, `--kubeconfig=${kubeconfig}`, "get", "crd", "-o", "name"]);
    expect(res.stdout.toString().trim().split("\n")).toEqual([
      "customresourcedefinition.apiextensions.k8s.io/agents.mcp.io",
      "customresourcedefinition.apiextensions.k8s.io/mcpservers.mcp.io",
      "customresourcedefinition.apiextensions.k8s.io/plans.mcp.io",
      "customresourcedefinition.apiextensions.k8s.io/tasks.mcp.io",
    ]);
    const ns = Bun.spawnSync([
      cluster.cp.binaries.kubectl,
      `--kubeconfig=${kubeconfig}`,
      "get",
      "namespace",
      "mcp-system",
      "-o",
      "name",
    ]);
    expect(ns.stdout.toString().trim()).toBe("namespace/mcp-system");

    // The conductor runs: the sample agent, once it heartbeats, is where a what-if places work.
    const kubectl = (...a: string[]) =>
      Bun.spawnSync([cluster.cp.binaries.kubectl, `--kubeconfig=${kubeconfig}`, "-n", "mcp-system", ...a]);
    kubectl("apply", "-f", join(repoRoot, "deploy", "samples", "agent-data-processor.yaml"));
    const heartbeat = JSON.stringify({ status: { lastHeartbeat: new Date().toISOString() } });
    kubectl("patch", "agent", "data-processor-7d8f4", "--subresource=status", "--type=merge", "-p", heartbeat);
    const scheduler = /Scheduler\s+(\S+)/.exec(ready)?.[1] ?? "";
    const body = JSON.stringify({ namespace: "mcp-system", task: { requiredCapabilities: ["model-inference"] } });
    const whatIf = await eventually(async () => {
      const p = Bun.spawn(
        [grpcurlBinary(), "-plaintext", "-d", body, scheduler, "mcp.conductor.scheduler.v1.SchedulerService/WhatIf"],
        {
          stdout: "pipe",
        },
      );
      const out = await new Response(p.stdout).text();
      return out.includes('"chosenAgent": "data-processor-7d8f4"') && out;
    });
    expect(JSON.parse(whatIf).placement.chosenAgent).toBe("data-processor-7d8f4");
    const metricsUrl = /Controller\s+(\S+)/.exec(ready)?.[1] ?? "";
    // the sample agent and the example agent that up runs
    await eventually(async () =>
      (await (await fetch(metricsUrl)).text()).includes('mcp_agents{phase="Ready",domain="mcp-system"} 2'),
    );

    // End to end through processes: an MCP client calls the example agent's tool through the gateway.
    const mcpUrl = /MCP gateway\s+(\S+)/.exec(ready)?.[1] ?? "";
    const client = new Client({ name: "up-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl)));
    try {
      await eventually(async () => (await client.listTools()).tools.some((t) => t.name === "csv_to_json"));
      const res = await client.callTool({ name: "csv_to_json", arguments: { csv: "a\n1\n" } });
      expect(res.structuredContent).toEqual({ rows: [{ a: "1" }], count: 1 });
    } finally {
      await client.close();
    }

    up.proc.kill("SIGINT");
    expect(await up.proc.exited).toBe(0);
    await up.reader;
    expect(up.output()).toContain("Stopped.");
    expect(await portOpen(port)).toBe(false);
  }, 120_000);

  test("uses the cluster $KUBECONFIG points at when it answers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kc-"));
    const kubeconfig = join(dir, "config");
    writeFileSync(kubeconfig, cluster.cp.kubeconfig());
    const up = startUp(["--namespace", "up-external"], { KUBECONFIG: kubeconfig });
    const ready = await eventually(() => up.output().includes("Press Ctrl-C") && up.output(), { timeout: 30_000 });
    expect(ready).toContain(`Using the cluster at ${cluster.cp.server}`);
    expect(ready).not.toContain("Starting a local control plane");
    const ns = await cluster.conn.request<{ metadata: { labels: Record<string, string> } }>(
      "GET",
      "/api/v1/namespaces/up-external",
    );
    expect(ns.metadata.labels["mcp.io/domain"]).toBe("up-external");
    up.proc.kill("SIGTERM");
    expect(await up.proc.exited).toBe(0);
    // it stopped nothing of the cluster it did not start
    expect(await portOpen(cluster.cp.apiserverPort)).toBe(true);
  }, 60_000);
});
