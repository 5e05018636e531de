// Least privilege, enforced by the apiserver with the real identities the
// overlays create: service-account tokens (from TokenRequest, bound to a pod
// for agents). RBAC keeps each service to its namespace and verbs; the
// admission policies keep each agent to its own tasks and its own Agent.
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
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
let mineTask: Task;
let theirsTask: Task;

beforeAll(async () => {
  cluster = await testCluster();
  await apply("cluster");
  await apply("overlays/data-processing");
  await apply("overlays/content");
  agentA = await token(ns, "mcp-agent", await agentPod("agent-a"));
  const assign = async (name: string, agent: string) => {
    const t = await cluster.mcp.tasks.create(ns, {
      metadata: { name },
      spec: { requiredCapabilities: ["data-processing"] },
    });
    return cluster.mcp.tasks.replaceStatus({ ...t, status: { phase: "Assigned", assignedAgent: agent, attempts: 1 } });
  };
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
