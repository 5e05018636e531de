// Least privilege, enforced by the apiserver with the real identities the
// overlays create: service-account tokens (from TokenRequest, bound to a pod
// for agents). RBAC keeps each service to its namespace and verbs; the
// admission policies keep each agent to its own tasks, to its own moves on
// them (Assigned → Running → Completed or Failed, attempts unchanged) and to
// its own Agent. Each refusal follows the same write succeeding where allowed.
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import { defineTool, ToolError } from "../../lib/agent/tool.ts";
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import { silentLogger } from "../../lib/log.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";

let cluster: TestCluster;
const ns = "mcp-data-processing";
const other = "mcp-content";

/** Applies kustomize/cluster (the admission policies, once per cluster) or kustomize/overlays/<domain>. */
async function apply(unit: string) {
  const yaml = await cluster.kubectl(["kustomize", join(repoRoot, "kustomize", unit)]);
  const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], yaml.stdout);
  expect(res.code).toBe(0);
}

/** A token for a service account, bound to a pod when one is named (as the kubelet would mount it). */
async function token(namespace: string, sa: string, pod?: { name: string; uid: string }): Promise<KubeConnection> {
  const res = await cluster.conn.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: {
          expirationSeconds: 600,
          ...(pod ? { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: pod.name, uid: pod.uid } } : {}),
        },
      },
    },
  );
  return KubeConnection.fromOptions({ kubeconfigYaml: cluster.cp.kubeconfig({ token: res.status.token }) });
}

/** An agent pod object (it never runs: there are no nodes), so its token carries its name. */
async function agentPod(name: string, namespace = ns): Promise<{ name: string; uid: string }> {
  const pod = await cluster.conn.request<{ metadata: { uid: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/pods`,
    {
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name },
        spec: {
          serviceAccountName: "mcp-agent",
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "agent",
              image: "mcp-conductor",
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            },
          ],
        },
      },
    },
  );
  return { name, uid: pod.metadata.uid };
}

const denied = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as KubeApiError,
  );

let agentA: KubeConnection;
let controller: KubeConnection;
let mineTask: Task;
let theirsTask: Task;

type Status = NonNullable<Task["status"]>;

/** A new Task, placed on an agent by the controller under its own identity, as placement does. */
async function assign(name: string, agent: string): Promise<Task> {
  const t = await cluster.mcp.tasks.create(ns, {
    metadata: { name },
    spec: { requiredCapabilities: ["data-processing"] },
  });
  return mcpClients(controller).tasks.replaceStatus({
    ...t,
    status: { phase: "Assigned", assignedAgent: agent, attempts: 1, assignedTime: new Date().toISOString() },
  });
}

/** A status write as agent-a makes them: the status it read, with changes. */
const asAgentA = (t: Task, change: Status) =>
  mcpClients(agentA).tasks.replaceStatus({ ...t, status: { ...t.status, ...change } });
const asController = (t: Task, change: Status) =>
  mcpClients(controller).tasks.replaceStatus({ ...t, status: { ...t.status, ...change } });

/** A Task of agent-a's, claimed by it (Assigned → Running). */
const running = async (name: string) =>
  asAgentA(await assign(name, "agent-a"), { phase: "Running", startTime: new Date().toISOString() });

async function refused(write: Promise<Task>, says: string): Promise<void> {
  const err = await denied(write);
  expect(err?.statusCode).toBe(403);
  expect(err?.message).toContain(says);
}

beforeAll(async () => {
  cluster = await testCluster();
  await apply("cluster");
  await apply("overlays/data-processing");
  await apply("overlays/content");
  agentA = await token(ns, "mcp-agent", await agentPod("agent-a"));
  controller = await token(ns, "mcp-controller");
  mineTask = await assign("for-a", "agent-a");
  theirsTask = await assign("for-b", "agent-b");
}, 120_000);

describe("agents, by admission policy", () => {
  test("an agent may move its own task to Running", async () => {
    const t = await eventually(() =>
      mcpClients(agentA).tasks.replaceStatus({ ...mineTask, status: { ...mineTask.status, phase: "Running" } }),
    );
    expect(t.status?.phase).toBe("Running");
    mineTask = t;
  });

  test("an agent may not update another agent's task", async () => {
    const err = await denied(
      mcpClients(agentA).tasks.replaceStatus({ ...theirsTask, status: { ...theirsTask.status, phase: "Running" } }),
    );
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain(
      "agent agent-a may update only tasks assigned to it; this one is assigned to agent-b",
    );
    expect((await cluster.mcp.tasks.get(ns, "for-b")).status?.phase).toBe("Assigned");
  });

  test("an agent may not hand its task to someone else", async () => {
    const err = await denied(
      mcpClients(agentA).tasks.replaceStatus({ ...mineTask, status: { ...mineTask.status, assignedAgent: "agent-b" } }),
    );
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain("an agent may not change status.assignedAgent");
  });

  test("an agent may register itself but no other agent", async () => {
    const agents = mcpClients(agentA).agents;
    const own = await agents.create(ns, { metadata: { name: "agent-a" }, spec: { capabilities: ["data-processing"] } });
    expect(own.metadata.name).toBe("agent-a");
    const err = await denied(
      agents.create(ns, { metadata: { name: "agent-b" }, spec: { capabilities: ["data-processing"] } }),
    );
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain("an agent may write only the Agent named after its pod, not agent-b");
  });

  test("the policies bind every domain's namespace, not only the first one's", async () => {
    // One binding for the cluster, selecting namespaces by their mcp.io/domain label.
    const agentC = await token(other, "mcp-agent", await agentPod("agent-c", other));
    const err = await denied(
      mcpClients(agentC).agents.create(other, { metadata: { name: "agent-d" }, spec: { capabilities: ["x"] } }),
    );
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain("an agent may write only the Agent named after its pod, not agent-d");
    const own = await mcpClients(agentC).agents.create(other, {
      metadata: { name: "agent-c" },
      spec: { capabilities: ["x"] },
    });
    expect(own.metadata.namespace).toBe(other);
  });
});

describe("agents, by admission policy: only the moves of an agent", () => {
  const moveRefused = (from: string, to: string) =>
    `an agent may move its task only Assigned → Running → Completed or Failed, not ${from} → ${to}`;

  test("the controller counts attempts; an agent may not change them", async () => {
    // Where it is allowed: the controller, sending a task back to Pending after a lost
    // attempt and placing it again, writes attempts.
    const retried = await asController(await assign("attempts-retried", "agent-b"), {
      phase: "Assigned",
      attempts: 2,
    });
    expect(retried.status?.attempts).toBe(2);

    // The agent claims and reports with its attempts as they are...
    const t = await running("attempts");
    const progressed = await asAgentA(t, { progress: { done: 1, total: 2 } });
    expect(progressed.status).toMatchObject({ phase: "Running", attempts: 1, progress: { done: 1 } });
    // ...but cannot give itself more retries (0) or use them up (9), running or finishing.
    for (const change of [{ attempts: 0 }, { attempts: 9 }, { phase: "Failed", attempts: 0 }] as Status[])
      await refused(asAgentA(progressed, change), "an agent may not change status.attempts");
    const claimed = await assign("attempts-on-claim", "agent-a");
    await refused(asAgentA(claimed, { phase: "Running", attempts: 0 }), "an agent may not change status.attempts");
    expect((await cluster.mcp.tasks.get(ns, "attempts")).status?.attempts).toBe(1);
  });

  test("Running → Completed is allowed; Assigned → Completed, skipping Running, is not", async () => {
    const done = await asAgentA(await running("complete"), {
      phase: "Completed",
      completionTime: new Date().toISOString(),
      result: { ok: true },
    });
    expect(done.status?.phase).toBe("Completed");

    const skipped = await assign("complete-unstarted", "agent-a");
    await refused(
      asAgentA(skipped, { phase: "Completed", result: { ok: true } }),
      moveRefused("Assigned", "Completed"),
    );
    expect((await cluster.mcp.tasks.get(ns, "complete-unstarted")).status?.phase).toBe("Assigned");
  });

  test("Running → Failed is allowed; Assigned → Failed is not", async () => {
    const error = { reason: "ToolFailed", message: "boom", retryable: true };
    const failed = await asAgentA(await running("fail"), { phase: "Failed", error });
    expect(failed.status?.phase).toBe("Failed");
    await refused(
      asAgentA(await assign("fail-unstarted", "agent-a"), { phase: "Failed", error }),
      moveRefused("Assigned", "Failed"),
    );
  });

  test("Assigned → Running is allowed; a finished task cannot be reopened or its outcome changed", async () => {
    const claimed = await running("reopen-completed");
    expect(claimed.status?.phase).toBe("Running");
    const completed = await asAgentA(claimed, { phase: "Completed", result: { ok: true } });
    const failed = await asAgentA(await running("reopen-failed"), {
      phase: "Failed",
      error: { reason: "ToolFailed", message: "boom", retryable: false },
    });
    for (const [t, to] of [
      [completed, "Running"],
      [completed, "Failed"],
      [failed, "Running"],
      [failed, "Completed"],
    ] as const) {
      await refused(
        asAgentA(t, { phase: to, error: undefined, result: { ok: true } }),
        moveRefused(t.status?.phase ?? "", to),
      );
    }
    expect((await cluster.mcp.tasks.get(ns, "reopen-completed")).status?.phase).toBe("Completed");
    expect((await cluster.mcp.tasks.get(ns, "reopen-failed")).status?.phase).toBe("Failed");
  });

  test("Pending and Assigned are the controller's moves: it may send a running task back, the agent may not", async () => {
    const lost = await asController(await running("sent-back"), {
      phase: "Pending",
      assignedAgent: undefined,
      assignedTime: undefined,
      startTime: undefined,
    });
    expect(lost.status?.phase).toBe("Pending");

    const t = await running("kept-back");
    for (const to of ["Pending", "Assigned"] as const)
      await refused(asAgentA(t, { phase: to }), moveRefused("Running", to));
    expect((await cluster.mcp.tasks.get(ns, "kept-back")).status?.phase).toBe("Running");
  });
});

describe("the agent runtime under its pod's token", () => {
  test("registers an Agent owned by its pod, claims, reports and finishes tasks, and fails what a previous run left Running", async () => {
    const pod = await agentPod("agent-r");
    const conn = await token(ns, "mcp-agent", pod);
    // What a previous run in this pod left behind: a task it claimed and never finished.
    const left = await assign("left-running", "agent-r");
    await mcpClients(conn).tasks.replaceStatus({ ...left, status: { ...left.status, phase: "Running" } });

    const work = defineTool({
      name: "work",
      description: "reports progress, then answers",
      capability: "data-processing",
      inputSchema: { type: "object", properties: { fail: { type: "boolean" } } },
      handler: async ({ fail }: { fail?: boolean }, ctx) => {
        ctx.progress(1, 2, "half way");
        await Bun.sleep(700); // long enough for the progress write
        if (fail) throw new ToolError("Refused", "asked to fail", { retryable: true });
        return { ok: true };
      },
    });
    const runtime = new AgentRuntime({
      name: "agent-r",
      namespace: ns,
      conn,
      pod,
      tools: [work],
      heartbeatIntervalMs: 200,
      log: silentLogger,
    });
    try {
      await runtime.start();
      const agent = await cluster.mcp.agents.get(ns, "agent-r");
      expect(agent.metadata.ownerReferences).toEqual([
        { apiVersion: "v1", kind: "Pod", name: "agent-r", uid: pod.uid },
      ]);
      expect(agent.status?.lastHeartbeat).toBeDefined();
      expect((await cluster.mcp.tasks.get(ns, "left-running")).status).toMatchObject({
        phase: "Failed",
        attempts: 1,
        error: { reason: "AgentRestarted" },
      });

      for (const [name, fail] of [
        ["ok", false],
        ["not-ok", true],
      ] as const) {
        const t = await cluster.mcp.tasks.create(ns, {
          metadata: { name: `runtime-${name}` },
          spec: { requiredCapabilities: ["data-processing"], tool: "work", payload: { fail } },
        });
        await mcpClients(controller).tasks.replaceStatus({
          ...t,
          status: { phase: "Assigned", assignedAgent: "agent-r", attempts: 1 },
        });
      }
      const finished = (name: string) =>
        eventually(
          async () => {
            const t = await cluster.mcp.tasks.get(ns, name);
            return (t.status?.phase === "Completed" || t.status?.phase === "Failed") && t;
          },
          { message: `${name} finished` },
        );
      expect((await finished("runtime-ok")).status).toMatchObject({
        phase: "Completed",
        attempts: 1,
        result: { ok: true },
        progress: { done: 1, total: 2 },
      });
      expect((await finished("runtime-not-ok")).status).toMatchObject({
        phase: "Failed",
        attempts: 1,
        error: { reason: "Refused", retryable: true },
      });
    } finally {
      await runtime.shutdown();
    }
    await eventually(() => denied(cluster.mcp.agents.get(ns, "agent-r")).then((e) => e?.statusCode === 404), {
      message: "agent-r deregistered",
    });
  });
});

describe("services, by RBAC", () => {
  test("the gateway cannot write Agents", async () => {
    const gateway = await token(ns, "mcp-gateway");
    const err = await denied(
      mcpClients(gateway).agents.create(ns, { metadata: { name: "sneaky" }, spec: { capabilities: ["x"] } }),
    );
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err?.statusCode).toBe(403);
    // but reads them, as it must
    expect((await mcpClients(gateway).agents.list(ns)).items.map((a) => a.metadata.name)).toContain("agent-a");
  });

  test("nothing in one domain can read another domain's tasks", async () => {
    for (const sa of ["mcp-controller", "mcp-gateway", "mcp-scheduler", "mcp-agent"]) {
      const conn = await token(ns, sa);
      const err = await denied(mcpClients(conn).tasks.list(other));
      expect(err?.statusCode).toBe(403);
    }
  });
});
