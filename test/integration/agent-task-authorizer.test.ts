// An agent reads only the Tasks assigned to it (ADR 0011), on the real
// apiserver: the shared control plane authorizes with the AuthorizationConfiguration
// of deploy/authorization/ (RBAC, then the webhook mcp-agent-tasks with its
// matchConditions and failurePolicy), the agents' task authorizer answers it on
// loopback (test/harness/cluster.ts), and the identities are the domain's own,
// from kustomize/base, with tokens bound to agent pods as the kubelet mounts them.
// Each refusal follows the same agent's allowed read.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import type { KubeApiError } from "../../lib/kube/errors.ts";
import type { WatchEvent } from "../../lib/kube/resource-client.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { createAgentPod, type PodRef, serviceAccountConnection } from "../harness/identities.ts";

let cluster: TestCluster;
const token = (namespace: string, sa: string, pod?: PodRef) => serviceAccountConnection(cluster, namespace, sa, pod);
const agentPod = (namespace: string, name: string) => createAgentPod(cluster, namespace, name);
/** A domain as the base installs one, and a second one with the fallback component. */
const ns = "mcp-authz";
const fallbackNs = "mcp-authz-fallback";
const scratch = mkdtempSync(join(tmpdir(), "authz-overlays-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A domain's overlay in a scratch folder: kustomize/base in the namespace, with components. */
async function installDomain(namespace: string, components: string[] = []) {
  const dir = join(scratch, namespace);
  mkdirSync(dir, { recursive: true });
  const rel = (p: string) => relative(dir, join(repoRoot, "kustomize", p));
  writeFileSync(
    join(dir, "namespace.yaml"),
    `apiVersion: v1
kind: Namespace
metadata:
  name: ${namespace}
  labels:
    mcp.io/domain: ${namespace}
    pod-security.kubernetes.io/enforce: restricted
`,
  );
  writeFileSync(
    join(dir, "kustomization.yaml"),
    `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${namespace}
resources:
  - namespace.yaml
  - ${rel("base")}
components:
${components.map((c) => `  - ${rel(`components/${c}`)}`).join("\n") || "  []"}
`,
  );
  const yaml = await cluster.kubectl(["kustomize", dir]);
  expect(yaml.stderr).toBe("");
  const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], yaml.stdout);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return yaml.stdout;
}

/** A Task placed on an agent, as the controller places it. */
async function assign(namespace: string, name: string, agent: string): Promise<Task> {
  const t = await cluster.mcp.tasks.create(namespace, {
    metadata: { name },
    spec: { requiredCapabilities: ["data-processing"], payload: { secret: `${agent}'s input` } },
  });
  return cluster.mcp.tasks.replaceStatus({ ...t, status: { phase: "Assigned", assignedAgent: agent, attempts: 1 } });
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as KubeApiError,
  );
const names = (items: Task[]) => items.map((t) => t.metadata.name).sort();
const mine = (pod: string) => `status.assignedAgent=${pod}`;
/** Reviews the authorizer answered so far, by decision. */
async function reviews(): Promise<Record<string, number>> {
  const text = await cluster.authorizer.metrics.registry.metrics();
  return Object.fromEntries(
    [...text.matchAll(/^mcp_authorizer_reviews_total\{decision="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]),
  );
}

/** The first event of a watch of every task in the namespace, then the watch closed. */
async function firstEvent(conn: KubeConnection, namespace: string): Promise<WatchEvent<Task> | undefined> {
  const abort = new AbortController();
  const stream = mcpClients(conn).tasks.watch(namespace, { signal: abort.signal });
  try {
    return (await stream.next()).value as WatchEvent<Task> | undefined;
  } finally {
    abort.abort();
    await stream.return(undefined).catch(() => undefined);
  }
}

let agentA: KubeConnection;

beforeAll(async () => {
  cluster = await testCluster();
  const policies = await cluster.kubectl(["kustomize", join(repoRoot, "kustomize", "cluster")]);
  expect((await cluster.kubectl(["apply", "--server-side", "-f", "-"], policies.stdout)).code).toBe(0);
  await installDomain(ns);
  agentA = await token(ns, "mcp-agent", await agentPod(ns, "agent-a"));
  await assign(ns, "a-1", "agent-a");
  await assign(ns, "a-2", "agent-a");
  await assign(ns, "b-1", "agent-b");
  await cluster.mcp.tasks.create(ns, { metadata: { name: "pending-1" }, spec: { requiredCapabilities: ["x"] } });
}, 120_000);

describe("an agent reads the tasks assigned to it", () => {
  test("a list with fieldSelector status.assignedAgent=<its pod> gets exactly its tasks", async () => {
    const list = await mcpClients(agentA).tasks.list(ns, { fieldSelector: mine("agent-a") });
    expect(names(list.items)).toEqual(["a-1", "a-2"]);
    expect(list.items[0]?.spec.payload).toEqual({ secret: "agent-a's input" });
    // `==` is the same requirement to the apiserver (operator In) and to the authorizer.
    const doubled = await mcpClients(agentA).tasks.list(ns, { fieldSelector: "status.assignedAgent==agent-a" });
    expect(names(doubled.items)).toEqual(["a-1", "a-2"]);
  });

  test("one task, by listing with its name and the assignee, as the runtime reads one", async () => {
    const one = await mcpClients(agentA).tasks.list(ns, { fieldSelector: `metadata.name=a-1,${mine("agent-a")}` });
    expect(names(one.items)).toEqual(["a-1"]);
    // Another's task by the same read is simply not among its own.
    const theirs = await mcpClients(agentA).tasks.list(ns, { fieldSelector: `metadata.name=b-1,${mine("agent-a")}` });
    expect(theirs.items).toEqual([]);
  });

  test("the tasks bound to it at creation, by labelSelector mcp.io/bound-agent=<its pod> (ADR 0013); another's are refused", async () => {
    for (const [name, agent] of [
      ["bound-a", "agent-a"],
      ["bound-b", "agent-b"],
    ] as const)
      await cluster.mcp.tasks.create(ns, {
        metadata: { name, labels: { "mcp.io/bound-agent": agent } },
        spec: { requiredCapabilities: ["data-processing"] },
      });
    const list = await mcpClients(agentA).tasks.list(ns, { labelSelector: "mcp.io/bound-agent=agent-a" });
    expect(names(list.items)).toEqual(["bound-a"]);
    // One of them, as the runtime reads a bound task: its name and the label.
    const one = await mcpClients(agentA).tasks.list(ns, {
      labelSelector: "mcp.io/bound-agent=agent-a",
      fieldSelector: "metadata.name=bound-a",
    });
    expect(names(one.items)).toEqual(["bound-a"]);
    for (const labelSelector of ["mcp.io/bound-agent=agent-b", "mcp.io/bound-agent!=agent-b", "mcp.io/bound-agent"]) {
      const err = await failure(mcpClients(agentA).tasks.list(ns, { labelSelector }));
      expect(err?.statusCode).toBe(403);
      expect(err?.message).toContain("or labelSelector mcp.io/bound-agent=agent-a");
    }
  });

  test("a watch with the selector sees its tasks come and go, and never another agent's", async () => {
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const ev of mcpClients(agentA).tasks.watch(ns, {
        fieldSelector: mine("agent-a"),
        signal: abort.signal,
      }))
        seen.push(`${ev.type} ${ev.object.metadata.name}`);
    })().catch((e: Error) => {
      if (!abort.signal.aborted) throw e;
    });
    try {
      await eventually(() => seen.length >= 2, { message: "the initial events" });
      await assign(ns, "b-2", "agent-b");
      const later = await assign(ns, "a-3", "agent-a");
      // Reassigned away: it leaves the selector, a DELETED event for this watch.
      await cluster.mcp.tasks.replaceStatus({ ...later, status: { ...later.status, assignedAgent: "agent-b" } });
      await eventually(() => seen.includes("DELETED a-3"), { message: `a-3 leaving; saw ${seen.join(", ")}` });
    } finally {
      abort.abort();
      await watching;
    }
    expect(seen.filter((e) => e.startsWith("ADDED")).sort()).toEqual(["ADDED a-1", "ADDED a-2", "ADDED a-3"]);
    expect(seen.filter((e) => e.includes(" b-") || e.includes("pending"))).toEqual([]);
  });
});

describe("an agent reads no other task", () => {
  const wanted =
    "agents may list/watch tasks only with fieldSelector status.assignedAgent=agent-a or labelSelector mcp.io/bound-agent=agent-a";

  test.each([
    { name: "a list without a selector", read: () => mcpClients(agentA).tasks.list(ns), says: wanted },
    {
      name: "a list of another agent's tasks",
      read: () => mcpClients(agentA).tasks.list(ns, { fieldSelector: mine("agent-b") }),
      says: wanted,
    },
    {
      name: "a list of every task but another agent's (!=)",
      read: () => mcpClients(agentA).tasks.list(ns, { fieldSelector: "status.assignedAgent!=agent-b" }),
      says: wanted,
    },
    {
      name: "a list by another selectable field",
      read: () => mcpClients(agentA).tasks.list(ns, { fieldSelector: "metadata.name=b-1" }),
      says: wanted,
    },
    {
      name: "a get of another agent's task",
      read: () => mcpClients(agentA).tasks.get(ns, "b-1"),
      says: `${wanted}; to read one task, list with fieldSelector metadata.name=b-1,status.assignedAgent=agent-a`,
    },
    {
      name: "a get of its own task (a get names no selector)",
      read: () => mcpClients(agentA).tasks.get(ns, "a-1"),
      says: "to read one task, list with fieldSelector metadata.name=a-1,status.assignedAgent=agent-a",
    },
    {
      name: "its own tasks in every namespace",
      read: () => mcpClients(agentA).tasks.list(undefined, { fieldSelector: mine("agent-a") }),
      says: 'cannot list resource "tasks" in API group "mcp.io" at the cluster scope',
    },
    {
      name: "a task's status subresource",
      read: () => agentA.request("GET", `/apis/mcp.io/v1/namespaces/${ns}/tasks/a-1/status`),
      says: "the authorizer does not grant tasks/status",
    },
  ])("$name is refused, saying why", async ({ read, says }) => {
    const err = await failure(read());
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain(says);
  });

  test("a watch without the selector, or with another agent's, is refused", async () => {
    for (const fieldSelector of [undefined, mine("agent-b")]) {
      const err = await failure(mcpClients(agentA).tasks.watch(ns, { fieldSelector }).next());
      expect(err?.statusCode).toBe(403);
      expect(err?.message).toContain(`cannot watch resource "tasks" in API group "mcp.io"`);
      expect(err?.message).toContain(wanted);
    }
  });

  test("the same pod name in another domain reads nothing here, nor with a token not bound to a pod", async () => {
    // An agent of another domain whose pod has the same name.
    const other = "mcp-authz-other";
    await installDomain(other);
    const elsewhere = await token(other, "mcp-agent", await agentPod(other, "agent-a"));
    expect((await mcpClients(elsewhere).tasks.list(other, { fieldSelector: mine("agent-a") })).items).toEqual([]);
    const err = await failure(mcpClients(elsewhere).tasks.list(ns, { fieldSelector: mine("agent-a") }));
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain(`an agent may read tasks only in its own namespace ${other}`);

    const unbound = await token(ns, "mcp-agent");
    const refused = await failure(mcpClients(unbound).tasks.list(ns, { fieldSelector: mine("agent-a") }));
    expect(refused?.statusCode).toBe(403);
    expect(refused?.message).toContain("an agent reads tasks only with a token bound to its pod");
  });

  test("an agent creates and deletes no Task (RBAC; the authorizer is not asked about writes)", async () => {
    const before = await reviews();
    const create = await failure(
      mcpClients(agentA).tasks.create(ns, { metadata: { name: "made-up" }, spec: { requiredCapabilities: ["x"] } }),
    );
    expect(create?.statusCode).toBe(403);
    expect((await failure(mcpClients(agentA).tasks.delete(ns, "a-1")))?.statusCode).toBe(403);
    expect(await reviews()).toEqual(before);
  });
});

describe("the other identities, by RBAC alone", () => {
  test("the controller, the gateway and the scheduler read every task as before; the authorizer is not asked", async () => {
    const before = await reviews();
    for (const sa of ["mcp-controller", "mcp-gateway", "mcp-scheduler"]) {
      const conn = await token(ns, sa);
      const all = await mcpClients(conn).tasks.list(ns);
      expect(`${sa}: ${names(all.items).join(",")}`).toBe(`${sa}: a-1,a-2,a-3,b-1,b-2,bound-a,bound-b,pending-1`);
      expect((await mcpClients(conn).tasks.get(ns, "b-1")).metadata.name).toBe("b-1");
    }
    expect((await firstEvent(await token(ns, "mcp-controller"), ns))?.type).toBe("ADDED");
    expect(await reviews()).toEqual(before);
  });

  test("an agent's status writes stay RBAC's and the admission policies': it claims its own task", async () => {
    const [t] = (await mcpClients(agentA).tasks.list(ns, { fieldSelector: `metadata.name=a-1,${mine("agent-a")}` }))
      .items;
    const before = await reviews();
    const running = await mcpClients(agentA).tasks.replaceStatus({
      ...(t as Task),
      status: { ...t?.status, phase: "Running", startTime: new Date().toISOString() },
    });
    expect(running.status?.phase).toBe("Running");
    expect(await reviews()).toEqual(before);
  });
});

describe("when the authorizer does not answer", () => {
  test("failurePolicy Deny: an agent's read fails, everyone else is unaffected", async () => {
    // A selector not asked before, so that no cached answer stands in for the webhook's.
    const fresh = { fieldSelector: `metadata.name=a-2,${mine("agent-a")}` };
    expect(names((await mcpClients(agentA).tasks.list(ns, fresh)).items)).toEqual(["a-2"]);
    await cluster.authorizer.stop();
    try {
      const err = await failure(
        mcpClients(agentA).tasks.list(ns, { fieldSelector: `metadata.name=a-3,${mine("agent-a")}` }),
      );
      // The webhook failed: the apiserver answers 500 (not 403), which agents retry as a brief outage.
      expect(err?.statusCode).toBe(500);
      expect(err?.message).toContain(`/authorize?timeout=3s": dial tcp 127.0.0.1:${cluster.authorizer.port}`);
      const controller = await token(ns, "mcp-controller");
      expect((await mcpClients(controller).tasks.list(ns)).items.length).toBeGreaterThan(0);
      expect((await cluster.mcp.tasks.list(ns)).items.length).toBeGreaterThan(0);
    } finally {
      cluster.authorizer.start();
    }
    // Back, it answers again (a selector not asked before: nothing cached).
    const again = await eventually(
      () => mcpClients(agentA).tasks.list(ns, { fieldSelector: `metadata.name=b-2,${mine("agent-a")}` }),
      { message: "the authorizer back" },
    );
    expect(again.items).toEqual([]);
  });
});

describe("the fallback for apiservers without the authorizer: kustomize/components/agents-read-all-tasks", () => {
  test("gives every agent of its domain list and watch of every task there, and nothing more", async () => {
    const yaml = await installDomain(fallbackNs, ["agents-read-all-tasks"]);
    expect(yaml).toContain("name: mcp-agent-read-all-tasks");
    const agent = await token(fallbackNs, "mcp-agent", await agentPod(fallbackNs, "agent-a"));
    await assign(fallbackNs, "theirs", "agent-b");
    const before = await reviews();
    // What it gives up: another agent's task, its payload with it, with no selector.
    const all = await mcpClients(agent).tasks.list(fallbackNs);
    expect(names(all.items)).toEqual(["theirs"]);
    expect(all.items[0]?.spec.payload).toEqual({ secret: "agent-b's input" });
    expect((await firstEvent(agent, fallbackNs))?.object.metadata.name).toBe("theirs");
    expect(await reviews()).toEqual(before); // RBAC allowed: the webhook was not asked
    // Still no get, no other domain, no writes beyond the base's.
    expect((await failure(mcpClients(agent).tasks.get(fallbackNs, "theirs")))?.statusCode).toBe(403);
    expect((await failure(mcpClients(agent).tasks.list(ns)))?.statusCode).toBe(403);
    expect((await failure(mcpClients(agent).tasks.delete(fallbackNs, "theirs")))?.statusCode).toBe(403);
  });
});
