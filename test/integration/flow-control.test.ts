// API Priority and Fairness as kustomize/cluster/flow-control.yaml sets it up,
// seen from the apiserver's own answers: every response names the FlowSchema
// that matched the request and the priority level it ran at, by UID
// (X-Kubernetes-PF-FlowSchema-UID, X-Kubernetes-PF-PriorityLevel-UID), which
// are compared with the UIDs of the objects applied. The requests are made with
// the identities the overlays create (service-account tokens, an agent's bound
// to its pod), in two domains. What is not the conductor's is shown staying
// where Kubernetes' suggested configuration puts it, after the same identity's
// request that is ours.
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { microTime } from "../../lib/kube/leases.ts";
import type { KubeObject } from "../../lib/kube/resource-client.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { createAgentPod, type PodRef, serviceAccountConnection } from "../harness/identities.ts";

let cluster: TestCluster;
const ns = "mcp-data-processing";
const other = "mcp-content";
const flowcontrol = "/apis/flowcontrol.apiserver.k8s.io/v1";
const tasks = (namespace: string) => `/apis/mcp.io/v1/namespaces/${namespace}/tasks`;
const agents = (namespace: string) => `/apis/mcp.io/v1/namespaces/${namespace}/agents`;
const leases = (namespace: string) => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;

const ours = { tasks: "mcp-conductor-tasks", leases: "mcp-conductor-leases" };

/** FlowSchema and PriorityLevelConfiguration names by UID, as the apiserver has them. */
const flowSchemas = new Map<string, string>();
const priorityLevels = new Map<string, string>();

interface Classified {
  status: number;
  /** The FlowSchema's name, or the UID the header gave when no FlowSchema has it. */
  flowSchema: string;
  priorityLevel: string;
  body: KubeObject | undefined;
}

/**
 * One request as `conn`, with how the apiserver classified it. A 429 is sent
 * again, as the clients do: a watch cache still initialising after a CRD was
 * installed answers so ("storage is (re)initializing").
 */
async function send(conn: KubeConnection, method: string, path: string, body?: unknown): Promise<Classified> {
  let res = await conn.fetch(method, path, { body });
  for (let tries = 1; res.status === 429 && tries < 20; tries++) {
    await res.text();
    await Bun.sleep(500);
    res = await conn.fetch(method, path, { body });
  }
  const text = await res.text();
  const fs = res.headers.get("X-Kubernetes-PF-FlowSchema-UID") ?? "(no header)";
  const pl = res.headers.get("X-Kubernetes-PF-PriorityLevel-UID") ?? "(no header)";
  return {
    status: res.status,
    flowSchema: flowSchemas.get(fs) ?? fs,
    priorityLevel: priorityLevels.get(pl) ?? pl,
    body: res.headers.get("content-type")?.includes("json") && text ? (JSON.parse(text) as KubeObject) : undefined,
  };
}

/** Applies kustomize/<unit> server-side, as docs/deployment.md does. */
async function apply(unit: string) {
  const yaml = await cluster.kubectl(["kustomize", join(repoRoot, "kustomize", unit)]);
  expect(yaml.code).toBe(0);
  const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], yaml.stdout);
  expect(res.code).toBe(0);
}

type Condition = { type: string; status: string };
type FlowControlObject = KubeObject & { status?: { conditions?: Condition[] } };

async function readNames(): Promise<void> {
  for (const [plural, names] of [
    ["flowschemas", flowSchemas],
    ["prioritylevelconfigurations", priorityLevels],
  ] as const) {
    const list = await cluster.conn.request<{ items: KubeObject[] }>("GET", `${flowcontrol}/${plural}`);
    for (const { metadata: m } of list.items) if (m.uid && m.name) names.set(m.uid, m.name);
  }
}

async function createServiceAccount(namespace: string, name: string): Promise<void> {
  const res = await cluster.conn.fetch("POST", `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name } },
  });
  await res.text();
  if (res.status !== 201 && res.status !== 409)
    throw new Error(`ServiceAccount ${namespace}/${name}: HTTP ${res.status}`);
}

const unique = `${process.pid % 1000}-${Math.random().toString(36).slice(2, 6)}`;
let gateway: KubeConnection;
let otherGateway: KubeConnection;
let controller: KubeConnection;
let scheduler: KubeConnection;
let agent: KubeConnection;
let pod: PodRef;

beforeAll(async () => {
  cluster = await testCluster();
  await apply("cluster");
  await apply("overlays/data-processing");
  await apply("overlays/content");
  // The apiserver's flow-control controller marks a FlowSchema Dangling=False once it has taken
  // it into its configuration along with its priority level; only then are requests matched to it.
  for (const name of Object.values(ours))
    await eventually(
      async () => {
        const fs = await cluster.conn.request<FlowControlObject>("GET", `${flowcontrol}/flowschemas/${name}`);
        return fs.status?.conditions?.some((c) => c.type === "Dangling" && c.status === "False");
      },
      { timeout: 30_000, message: `FlowSchema ${name} taken up` },
    );
  await readNames();
  pod = await createAgentPod(cluster, ns, `flow-agent-${unique}`);
  [gateway, otherGateway, controller, scheduler, agent] = await Promise.all([
    serviceAccountConnection(cluster, ns, "mcp-gateway"),
    serviceAccountConnection(cluster, other, "mcp-gateway"),
    serviceAccountConnection(cluster, ns, "mcp-controller"),
    serviceAccountConnection(cluster, ns, "mcp-scheduler"),
    serviceAccountConnection(cluster, ns, "mcp-agent", pod),
  ]);
}, 120_000);

describe("the objects shipped", () => {
  test("both FlowSchemas name a priority level of their own, which exists", async () => {
    for (const name of Object.values(ours)) {
      const fs = await cluster.conn.request<
        FlowControlObject & { spec: { priorityLevelConfiguration: { name: string } } }
      >("GET", `${flowcontrol}/flowschemas/${name}`);
      expect(fs.spec.priorityLevelConfiguration.name).toBe(name);
      const pl = await cluster.conn.request<FlowControlObject & { spec: { type: string } }>(
        "GET",
        `${flowcontrol}/prioritylevelconfigurations/${name}`,
      );
      expect(pl.spec.type).toBe("Limited");
    }
  });
});

describe("the conductor's traffic", () => {
  test("the gateway's Task creates, reads and watches run at mcp-conductor-tasks, in any domain", async () => {
    const create = (conn: KubeConnection, namespace: string, name: string) =>
      send(conn, "POST", tasks(namespace), {
        apiVersion: "mcp.io/v1",
        kind: "Task",
        metadata: { name },
        spec: { requiredCapabilities: ["data-processing"] },
      });
    for (const [conn, namespace] of [
      [gateway, ns],
      [otherGateway, other],
    ] as const) {
      const created = await create(conn, namespace, `flow-${unique}`);
      expect(created).toMatchObject({ status: 201, flowSchema: ours.tasks, priorityLevel: ours.tasks });
      const got = await send(conn, "GET", `${tasks(namespace)}/flow-${unique}`);
      expect(got).toMatchObject({ status: 200, flowSchema: ours.tasks, priorityLevel: ours.tasks });
    }
    // A watch is classified once, when it starts; its answer's headers say where.
    const watch = await send(gateway, "GET", `${tasks(ns)}?watch=true&timeoutSeconds=1&labelSelector=none%3Dnone`);
    expect(watch).toMatchObject({ status: 200, flowSchema: ours.tasks, priorityLevel: ours.tasks });
  });

  test("the controller's status writes and lists, and the scheduler's reads, run at mcp-conductor-tasks", async () => {
    const task = await send(gateway, "POST", tasks(ns), {
      apiVersion: "mcp.io/v1",
      kind: "Task",
      metadata: { name: `flow-status-${unique}` },
      spec: { requiredCapabilities: ["data-processing"] },
    });
    expect(task.status).toBe(201);
    const status = await send(controller, "PUT", `${tasks(ns)}/flow-status-${unique}/status`, {
      ...task.body,
      status: { phase: "Pending" },
    });
    expect(status).toMatchObject({ status: 200, flowSchema: ours.tasks, priorityLevel: ours.tasks });
    expect(await send(controller, "GET", agents(ns))).toMatchObject({
      status: 200,
      flowSchema: ours.tasks,
      priorityLevel: ours.tasks,
    });
    expect(await send(scheduler, "GET", agents(ns))).toMatchObject({
      status: 200,
      flowSchema: ours.tasks,
      priorityLevel: ours.tasks,
    });
  });

  test("an agent registers at mcp-conductor-tasks and renews its Lease at mcp-conductor-leases", async () => {
    const registered = await send(agent, "POST", agents(ns), {
      apiVersion: "mcp.io/v1",
      kind: "Agent",
      metadata: { name: pod.name, ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: pod.name, uid: pod.uid }] },
      spec: { capabilities: ["data-processing"] },
    });
    expect(registered).toMatchObject({ status: 201, flowSchema: ours.tasks, priorityLevel: ours.tasks });

    // The Lease as lib/agent/lease.ts writes it: named after its pod, held by it, owned by its Agent.
    const lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name: pod.name,
        ownerReferences: [
          { apiVersion: "mcp.io/v1", kind: "Agent", name: pod.name, uid: registered.body?.metadata.uid },
        ],
      },
      spec: { holderIdentity: pod.name, leaseDurationSeconds: 40, renewTime: microTime(Date.now()) },
    };
    const created = await send(agent, "POST", leases(ns), lease);
    expect(created).toMatchObject({ status: 201, flowSchema: ours.leases, priorityLevel: ours.leases });
    const renewed = await send(agent, "PUT", `${leases(ns)}/${pod.name}`, {
      ...created.body,
      spec: { ...lease.spec, renewTime: microTime(Date.now()) },
    });
    expect(renewed).toMatchObject({ status: 200, flowSchema: ours.leases, priorityLevel: ours.leases });
    expect(await send(agent, "GET", `${leases(ns)}/${pod.name}`)).toMatchObject({
      status: 200,
      flowSchema: ours.leases,
      priorityLevel: ours.leases,
    });
  });
});

describe("what is not the conductor's", () => {
  test("the conductor's own requests for other things stay in service-accounts (workload-low)", async () => {
    // Ours first: the controller's Lease get (its leader election) is a renewal.
    const election = await send(controller, "GET", `${leases(ns)}/flow-no-such-lease-${unique}`);
    expect(election).toMatchObject({ status: 404, flowSchema: ours.leases, priorityLevel: ours.leases });
    // Its watch of the agents' Leases is no renewal, and the gateway's session key is no Task.
    expect(await send(controller, "GET", leases(ns))).toMatchObject({
      status: 200,
      flowSchema: "service-accounts",
      priorityLevel: "workload-low",
    });
    const key = await send(gateway, "GET", `/api/v1/namespaces/${ns}/secrets/mcp-gateway-session-key`);
    expect([200, 404]).toContain(key.status);
    expect(key).toMatchObject({ flowSchema: "service-accounts", priorityLevel: "workload-low" });
  });

  test("another service account reading Tasks is Task traffic; reading ConfigMaps it is not", async () => {
    await createServiceAccount(ns, "flow-plain");
    const plain = await serviceAccountConnection(cluster, ns, "flow-plain");
    // Matched by what it asks for: a client of the Task API floods the same level as the gateway.
    // Refused by RBAC (403), but classified first: priority and fairness runs before authorization.
    const reading = await send(plain, "GET", tasks(ns));
    expect(reading).toMatchObject({ status: 403, flowSchema: ours.tasks, priorityLevel: ours.tasks });
    expect(await send(plain, "GET", `/api/v1/namespaces/${ns}/configmaps`)).toMatchObject({
      status: 403,
      flowSchema: "service-accounts",
      priorityLevel: "workload-low",
    });
  });

  test("a user outside system:masters reading Tasks is Task traffic; otherwise global-default", async () => {
    const user = KubeConnection.fromOptions({
      kubeconfigYaml: cluster.cp.kubeconfig({ cert: cluster.cp.pki.clientCert(`flow-user-${unique}`) }),
    });
    expect(await send(user, "GET", tasks(ns))).toMatchObject({
      status: 403,
      flowSchema: ours.tasks,
      priorityLevel: ours.tasks,
    });
    // Across namespaces too (kubectl get tasks -A).
    expect(await send(user, "GET", "/apis/mcp.io/v1/tasks")).toMatchObject({
      status: 403,
      flowSchema: ours.tasks,
      priorityLevel: ours.tasks,
    });
    expect(await send(user, "GET", "/api/v1/namespaces")).toMatchObject({
      status: 403,
      flowSchema: "global-default",
      priorityLevel: "global-default",
    });
  });

  test("the admin (system:masters) stays exempt, Tasks included", async () => {
    // The allowed case is the gateway's create above; the same create as the admin is exempt.
    const created = await send(cluster.conn, "POST", tasks(ns), {
      apiVersion: "mcp.io/v1",
      kind: "Task",
      metadata: { name: `flow-admin-${unique}` },
      spec: { requiredCapabilities: ["data-processing"] },
    });
    expect(created).toMatchObject({ status: 201, flowSchema: "exempt", priorityLevel: "exempt" });
  });

  test("kube-system's leader elections keep system-leader-election", async () => {
    // Ours first: the same Lease create by a service account of a domain.
    await createServiceAccount(ns, "flow-elector");
    const domainElector = await serviceAccountConnection(cluster, ns, "flow-elector");
    const lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: `flow-election-${unique}` },
      spec: { holderIdentity: "me" },
    };
    expect(await send(domainElector, "POST", leases(ns), lease)).toMatchObject({
      status: 403,
      flowSchema: ours.leases,
      priorityLevel: ours.leases,
    });
    await createServiceAccount("kube-system", "flow-elector");
    const systemElector = await serviceAccountConnection(cluster, "kube-system", "flow-elector");
    expect(await send(systemElector, "POST", leases("kube-system"), lease)).toMatchObject({
      status: 403,
      flowSchema: "system-leader-election",
      priorityLevel: "leader-election",
    });
  });
});
