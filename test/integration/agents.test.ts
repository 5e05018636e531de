// The agent runtime with the controller and scheduler, on the real
// apiserver: the happy path, bad input, oversized results, cancellation,
// a kill -9 mid-task, a SIGTERM drain, never touching others' tasks, and a
// crashed agent's Agent going with its pod.
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import { type AnyTool, defineTool } from "../../lib/agent/tool.ts";
import type { Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { silentLogger } from "../../lib/log.ts";
import { tools as dataTools } from "../../services/agents/data-processor/tools.ts";
import { cleanupAfterEach } from "../harness/cleanup.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { startConductor } from "../harness/conductor.ts";
import { eventually } from "../harness/eventually.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await testCluster();
}, 120_000);

const cleanups = cleanupAfterEach();

async function domain(prefix: string) {
  const ns = await cluster.newNamespace(prefix);
  const conductor = await startConductor(cluster, ns);
  cleanups.add(() => conductor.stop());
  // Every phase each task passes through, as seen on a watch.
  const phases = new Map<string, string[]>();
  const note = (t: Task) => {
    const list = phases.get(t.metadata.name ?? "") ?? [];
    const p = t.status?.phase ?? "(new)";
    if (list[list.length - 1] !== p) list.push(p);
    phases.set(t.metadata.name ?? "", list);
  };
  const watch = new Informer<Task>(cluster.mcp.tasks, { namespace: ns }).on({ add: note, update: note });
  await watch.start();
  cleanups.add(() => watch.stop());
  return { ns, phases };
}

/** A tool that waits until cancelled and reports why, for cancellation tests. */
function waitUntilCancelled(onAbort: (why: string) => void): AnyTool {
  return defineTool({
    name: "wait",
    description: "waits until cancelled",
    capability: "data-processing",
    inputSchema: { type: "object" },
    handler: (_: unknown, ctx) =>
      new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => {
          onAbort(String((ctx.signal.reason as Error)?.message));
          reject(ctx.signal.reason);
        }),
      ),
  });
}

const runtimes = new Map<string, AgentRuntime>();
const runtimeMetrics = (ns: string, name: string) =>
  (runtimes.get(`${ns}/${name}`) as AgentRuntime).metrics.registry.metrics();

function inProcessAgent(ns: string, name: string, extraTools: AnyTool[] = [], opts = {}) {
  const runtime = new AgentRuntime({
    name,
    namespace: ns,
    conn: cluster.conn,
    tools: [...dataTools, ...extraTools],
    heartbeatIntervalMs: 500,
    log: silentLogger,
    ...opts,
  });
  cleanups.add(() => runtime.shutdown());
  runtimes.set(`${ns}/${name}`, runtime);
  return runtime;
}

async function agentProcess(
  ns: string,
  name: string,
  extraArgs: string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<Subprocess> {
  const proc = Bun.spawn(
    [
      "bun",
      join(repoRoot, "test", "fixtures", "test-agent.ts"),
      `--namespace=${ns}`,
      `--name=${name}`,
      "--heartbeat-interval-seconds=0.5",
      `--metrics-port=${await freePort()}`,
      ...extraArgs,
    ],
    {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, POD_NAME: name, LOG_LEVEL: "warn", ...extraEnv },
      stdout: "ignore",
      stderr: "inherit",
    },
  );
  cleanups.add(() => {
    proc.kill("SIGKILL");
  });
  await eventually(async () => (await cluster.mcp.agents.get(ns, name)).status?.phase === "Ready", {
    timeout: 15_000,
    message: `${name} Ready`,
  });
  return proc;
}

const createTask = (
  ns: string,
  name: string,
  tool: string,
  payload: Record<string, unknown>,
  spec: Partial<Task["spec"]> = {},
) =>
  cluster.mcp.tasks.create(ns, {
    metadata: { name },
    spec: { requiredCapabilities: ["data-processing"], tool, payload, ...spec },
  });

async function finished(ns: string, name: string, timeout = 15_000): Promise<Task> {
  return eventually(
    async () => {
      const t = await cluster.mcp.tasks.get(ns, name);
      const done =
        t.status?.phase === "Completed" ||
        t.status?.conditions?.some((c) => c.type === "Failed" && c.status === "True");
      return done && t;
    },
    { timeout, message: `task ${name} finished` },
  );
}

describe("agent runtime", () => {
  test("registers its tools, then runs tasks Pending → Assigned → Completed (Running only past runningAfterMs)", async () => {
    const { ns, phases } = await domain("agent-happy");
    await inProcessAgent(ns, "dp-1").start();
    const agent = await eventually(async () => {
      const a = await cluster.mcp.agents.get(ns, "dp-1");
      return a.status?.phase === "Ready" && a;
    });
    expect(agent.spec.tools?.map((t) => t.name)).toEqual([
      "csv_to_json",
      "json_to_csv",
      "query_records",
      "validate_json",
    ]);
    expect(agent.spec.tools?.[0]?.inputSchema).toMatchObject({ type: "object", required: ["csv"] });

    await createTask(ns, "convert", "csv_to_json", { csv: "a,b\n1,2\n" });
    await createTask(ns, "sum", "query_records", {
      rows: [{ n: 1 }, { n: 2 }],
      aggregate: [{ op: "sum", field: "n", as: "total" }],
    });
    const convert = await finished(ns, "convert");
    expect(convert.status).toMatchObject({
      phase: "Completed",
      assignedAgent: "dp-1",
      attempts: 1,
      result: { rows: [{ a: "1", b: "2" }], count: 1 },
    });
    expect(convert.status?.startTime).toBeDefined();
    expect(convert.status?.completionTime).toBeDefined();
    expect((await finished(ns, "sum")).status?.result).toEqual({ rows: [{ total: 3 }], count: 1 });
    // A short call's one status write is its result (ADR 0013): no Running on the way.
    expect(phases.get("convert")).toEqual(["(new)", "Assigned", "Completed"]);
    const metrics = await runtimeMetrics(ns, "dp-1");
    expect(metrics).toMatch(/mcp_agent_tasks_total\{[^}]*tool="csv_to_json",outcome="completed"[^}]*\} 1/);
    expect(metrics).toMatch(/mcp_agent_task_duration_seconds_count\{[^}]*tool="query_records"[^}]*\} 1/);
  });

  test("fails bad input at once, not retryable, naming the field", async () => {
    const { ns } = await domain("agent-bad");
    await inProcessAgent(ns, "dp-1").start();
    await createTask(ns, "bad", "query_records", { rows: "not an array" });
    const t = await finished(ns, "bad");
    expect(t.status?.error).toEqual({
      reason: "InvalidInput",
      message: "payload.rows: must be array",
      retryable: false,
    });
    expect(t.status?.attempts).toBe(1);
    await createTask(ns, "unknown", "no_such_tool", {});
    expect((await finished(ns, "unknown")).status?.error).toMatchObject({ reason: "UnknownTool", retryable: false });
  });

  test("fails a result over the size limit instead of writing it", async () => {
    const { ns } = await domain("agent-big");
    const big = defineTool({
      name: "big",
      description: "returns a lot",
      capability: "data-processing",
      inputSchema: { type: "object" },
      handler: () => ({ blob: "x".repeat(300 * 1024) }),
    });
    await inProcessAgent(ns, "dp-1", [big]).start();
    await createTask(ns, "huge", "big", {});
    const t = await finished(ns, "huge");
    expect(t.status?.error?.reason).toBe("ResultTooLarge");
    expect(t.status?.result).toBeUndefined();
  });

  test("cancels a running handler when its task is deleted", async () => {
    const { ns } = await domain("agent-cancel");
    let aborted = "";
    const wait = waitUntilCancelled((why) => {
      aborted = why;
    });
    const runtime = inProcessAgent(ns, "dp-1", [wait]);
    await runtime.start();
    await createTask(ns, "doomed", "wait", {});
    await eventually(async () => (await cluster.mcp.tasks.get(ns, "doomed")).status?.phase === "Running");
    await cluster.mcp.tasks.delete(ns, "doomed");
    await eventually(() => aborted !== "");
    expect(aborted).toBe("the task was deleted or reassigned");
    await eventually(() => runtime.inFlight === 0);
  });

  test("cancels a running handler when its deadline passes", async () => {
    const { ns } = await domain("agent-deadline");
    let aborted = false;
    const wait = waitUntilCancelled(() => {
      aborted = true;
    });
    await inProcessAgent(ns, "dp-1", [wait]).start();
    await createTask(ns, "late", "wait", {}, { deadline: new Date(Date.now() + 1500).toISOString() });
    const t = await finished(ns, "late");
    expect(aborted).toBe(true);
    expect(t.status?.error).toMatchObject({ reason: "DeadlineExceeded", retryable: false });
  });

  test("never touches a task assigned to another agent", async () => {
    // No controller here: the test assigns by hand, so nothing reassigns.
    const ns = await cluster.newNamespace("agent-other");
    await inProcessAgent(ns, "dp-1").start();
    const assign = async (name: string, agent: string) => {
      const t = await createTask(ns, name, "csv_to_json", { csv: "a\n1\n" });
      return cluster.mcp.tasks.replaceStatus({
        ...t,
        status: { phase: "Assigned", assignedAgent: agent, attempts: 1 },
      });
    };
    const theirs = await assign("theirs", "someone-else");
    await assign("mine", "dp-1");
    // the agent is live: it runs its own task…
    expect((await finished(ns, "mine")).status?.phase).toBe("Completed");
    // …and leaves the other one exactly as it was
    const after = await cluster.mcp.tasks.get(ns, "theirs");
    expect(after.metadata.resourceVersion).toBe(theirs.metadata.resourceVersion as string);
    expect(after.status).toEqual({ phase: "Assigned", assignedAgent: "someone-else", attempts: 1 });
  });
});

describe("agent processes", () => {
  test("a crashed agent's Agent goes with its pod, which owns it; an agent outside a pod owns nothing", async () => {
    await cluster.ensureControllerManager(); // its garbage collector follows ownerReferences
    const { ns } = await domain("agent-owned");
    // A Pod object as the Deployment would make it; no node runs it, the garbage collector needs none.
    const pod = await cluster.conn.request<{ metadata: { uid: string } }>("POST", `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "in-pod" },
        spec: { containers: [{ name: "agent", image: "mcp-conductor" }] },
      },
    });
    const inPod = await agentProcess(ns, "in-pod", [], { POD_UID: pod.metadata.uid });
    const local = await agentProcess(ns, "local");
    expect((await cluster.mcp.agents.get(ns, "in-pod")).metadata.ownerReferences).toEqual([
      { apiVersion: "v1", kind: "Pod", name: "in-pod", uid: pod.metadata.uid },
    ]);
    expect((await cluster.mcp.agents.get(ns, "local")).metadata.ownerReferences).toBeUndefined();

    // Both crash: nothing deregisters them.
    inPod.kill("SIGKILL");
    local.kill("SIGKILL");
    await Promise.all([inPod.exited, local.exited]);
    expect((await cluster.mcp.agents.get(ns, "in-pod")).metadata.deletionTimestamp).toBeUndefined();
    // The pod is deleted (its ReplicaSet replaces it under a new name), and its Agent goes with it.
    await cluster.conn.request("DELETE", `/api/v1/namespaces/${ns}/pods/in-pod`);
    await eventually(
      () =>
        cluster.mcp.agents.get(ns, "in-pod").then(
          () => false,
          (err: { statusCode?: number }) => err.statusCode === 404,
        ),
      { timeout: 30_000, message: "the Agent of the deleted pod gone" },
    );
    // The agent outside a pod is left to its heartbeat, as before.
    const left = await cluster.mcp.agents.get(ns, "local");
    expect(left.metadata.deletionTimestamp).toBeUndefined();
  }, 60_000);

  test("kill -9 mid-task: the task is reassigned and completes on another agent", async () => {
    const { ns, phases } = await domain("agent-kill");
    const a = await agentProcess(ns, "agent-a", ["--cpu=500m", "--memory=1Gi"]);
    expect((await cluster.mcp.agents.get(ns, "agent-a")).spec.resources).toEqual({
      cpu: "500m",
      memory: "1Gi",
      gpu: false,
    });
    const b = await agentProcess(ns, "agent-b");
    await createTask(ns, "long", "sleep", { ms: 3000 });
    const running = await eventually(async () => {
      const t = await cluster.mcp.tasks.get(ns, "long");
      return t.status?.phase === "Running" && t;
    });
    const victim = running.status?.assignedAgent === "agent-a" ? a : b;
    const survivor = running.status?.assignedAgent === "agent-a" ? "agent-b" : "agent-a";
    victim.kill("SIGKILL");
    const t = await finished(ns, "long", 20_000);
    expect(t.status?.phase).toBe("Completed");
    expect(t.status?.assignedAgent).toBe(survivor);
    expect(t.status?.result).toMatchObject({ agent: survivor, attempt: 2 });
    expect(t.status?.conditions?.find((c) => c.type === "Attempt1")?.reason).toBe("AgentLost");
    // the watch that records phases may trail the GET that saw Completed
    await eventually(() => phases.get("long")?.at(-1) === "Completed", { message: "the watch seeing Completed" });
    expect(phases.get("long")).toEqual(["(new)", "Assigned", "Running", "Pending", "Assigned", "Running", "Completed"]);
  }, 40_000);

  test("SIGTERM drains: the running task finishes, no new task is taken, the agent deregisters", async () => {
    const { ns } = await domain("agent-drain");
    const a = await agentProcess(ns, "drainer", ["--shutdown-grace-seconds=10"]);
    await createTask(ns, "in-flight", "sleep", { ms: 2000 });
    await eventually(async () => (await cluster.mcp.tasks.get(ns, "in-flight")).status?.phase === "Running");
    a.kill("SIGTERM");
    await eventually(async () =>
      (await cluster.mcp.agents.get(ns, "drainer")).status?.conditions?.some((c) => c.reason === "Draining"),
    );
    await createTask(ns, "after-term", "sleep", { ms: 10 });
    const t = await finished(ns, "in-flight");
    expect(t.status).toMatchObject({ phase: "Completed", assignedAgent: "drainer", attempts: 1 });
    expect(await a.exited).toBe(0);
    const gone = await cluster.mcp.agents.get(ns, "drainer").then(
      () => false,
      () => true,
    );
    expect(gone).toBe(true);
    // the task created during the drain was never run by the draining agent
    const later = await cluster.mcp.tasks.get(ns, "after-term");
    expect(later.status?.assignedAgent).toBeUndefined();
    expect(later.status?.phase).toBe("Pending");
    // and another agent picks it up
    await agentProcess(ns, "fresh");
    expect((await finished(ns, "after-term")).status?.assignedAgent).toBe("fresh");
  }, 40_000);
});
