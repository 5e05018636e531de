// The scheduler as a person reaches it: grpcurl lists its services through
// reflection, checks health, and asks what-if questions answered from the
// live Agents of a namespace, read-only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Agent } from "../../lib/api/resources.ts";
import { grpcurlBinary } from "../../lib/control-plane/binaries.ts";
import { silentLogger } from "../../lib/log.ts";
import { kubeCandidateSource, type SchedulerServer, startSchedulerServer } from "../../services/scheduler/server.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";

let cluster: TestCluster;
let scheduler: SchedulerServer;
let ns: string;

async function grpcurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([grpcurlBinary(), "-plaintext", ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

async function readyAgent(name: string, spec: Partial<Agent["spec"]>, phase = "Ready") {
  const a = await cluster.mcp.agents.create(ns, {
    metadata: { name },
    spec: { capabilities: ["data-processing"], ...spec },
  });
  await cluster.mcp.agents.replaceStatus({
    ...a,
    status: { phase: phase as "Ready", lastHeartbeat: new Date().toISOString() },
  });
}

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("whatif");
  scheduler = await startSchedulerServer({ log: silentLogger, candidates: kubeCandidateSource(cluster.conn) });
  await readyAgent("busy", { maxConcurrentTasks: 1 });
  await readyAgent("gpu-box", { capabilities: ["data-processing", "inference"], tags: ["gpu"] });
  await readyAgent("sleepy", {}, "NotReady");
  // one Running task fills "busy"
  const t = await cluster.mcp.tasks.create(ns, {
    metadata: { name: "running" },
    spec: { requiredCapabilities: ["data-processing"] },
  });
  await cluster.mcp.tasks.replaceStatus({ ...t, status: { phase: "Running", assignedAgent: "busy" } });
}, 120_000);

afterAll(async () => {
  await scheduler?.stop();
});

const addr = () => `127.0.0.1:${scheduler.port}`;

describe("scheduler over grpcurl", () => {
  test("lists its services through reflection", async () => {
    const res = await grpcurl([addr(), "list"]);
    expect(res.stderr).toBe("");
    expect(res.stdout.trim().split("\n").sort()).toEqual([
      "grpc.health.v1.Health",
      "mcp.conductor.scheduler.v1.SchedulerService",
    ]);
    const described = await grpcurl([addr(), "describe", "mcp.conductor.scheduler.v1.SchedulerService"]);
    expect(described.stdout).toContain("rpc WhatIf ( .mcp.conductor.scheduler.v1.WhatIfRequest )");
  });

  test("answers health checks", async () => {
    const res = await grpcurl([
      "-d",
      '{"service":"mcp.conductor.scheduler.v1.SchedulerService"}',
      addr(),
      "grpc.health.v1.Health/Check",
    ]);
    expect(JSON.parse(res.stdout)).toEqual({ status: "SERVING" });
  });

  test("answers what-if from the live agents, with reasons", async () => {
    const body = JSON.stringify({ namespace: ns, task: { requiredCapabilities: ["data-processing"], priority: 7 } });
    const res = await grpcurl(["-d", body, addr(), "mcp.conductor.scheduler.v1.SchedulerService/WhatIf"]);
    expect(res.code).toBe(0);
    const { placement } = JSON.parse(res.stdout);
    expect(placement.chosenAgent).toBe("gpu-box");
    const byAgent = Object.fromEntries(
      placement.candidates.map((c: { agent: string; reasons: string[] }) => [c.agent, c.reasons]),
    );
    expect(byAgent.busy).toEqual(["at capacity 1/1"]);
    expect(byAgent.sleepy).toEqual(["NotReady"]);
    // nothing was written
    const tasks = await cluster.mcp.tasks.list(ns);
    expect(tasks.items.map((t) => t.metadata.name)).toEqual(["running"]);
  });

  test("explains when nothing fits", async () => {
    const body = JSON.stringify({
      namespace: ns,
      task: { requiredCapabilities: ["inference"], affinity: { avoided: ["gpu"] } },
    });
    const { placement } = JSON.parse(
      (await grpcurl(["-d", body, addr(), "mcp.conductor.scheduler.v1.SchedulerService/WhatIf"])).stdout,
    );
    expect(placement.chosenAgent ?? "").toBe("");
    expect(placement.topReasons).toEqual([
      "2 missing capability inference",
      "1 NotReady",
      "1 at capacity",
      "1 avoided tag gpu",
    ]);
  });

  test("never answers across domains", async () => {
    const other = await cluster.newNamespace("whatif-other");
    const body = JSON.stringify({ namespace: other, task: { requiredCapabilities: ["data-processing"] } });
    const { placement } = JSON.parse(
      (await grpcurl(["-d", body, addr(), "mcp.conductor.scheduler.v1.SchedulerService/WhatIf"])).stdout,
    );
    expect(placement.chosenAgent ?? "").toBe("");
    expect(placement.candidates ?? []).toEqual([]);
  });

  test.each([
    { name: "no namespace", body: { task: { requiredCapabilities: ["x"] } }, says: "namespace: is required" },
    {
      name: "no capabilities",
      body: { namespace: "x", task: { priority: 3 } },
      says: "task.required_capabilities: must name at least one capability",
    },
    {
      name: "priority out of range",
      body: { namespace: "x", task: { requiredCapabilities: ["x"], priority: 42 } },
      says: "task.priority: must be between 1 and 10, got 42",
    },
  ])("rejects $name with INVALID_ARGUMENT", async ({ body, says }) => {
    const res = await grpcurl([
      "-d",
      JSON.stringify(body),
      addr(),
      "mcp.conductor.scheduler.v1.SchedulerService/WhatIf",
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("Code: InvalidArgument");
    expect(res.stderr).toContain(says);
  });
});
