// Agents' heartbeats as Leases, on the real apiserver: an agent runtime
// becomes Ready through its Lease with no write to its Agent per renewal,
// goes NotReady when the Lease stops being renewed, and its Lease goes with
// its Agent (the garbage collector). A controller that starts does not take a
// Lease it lists for a renewal; an Agent with no Lease, heartbeating in its
// status (an agent of the previous release), is Ready as before. Under the
// real identities (RBAC and the admission policy mcp-agent-own-lease), an
// agent writes its own Lease and no other; the controller reads them.
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { agentLeaseLabel } from "../../lib/agent/lease.ts";
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import { defineTool } from "../../lib/agent/tool.ts";
import { type Agent, mcpClients } from "../../lib/api/resources.ts";
import { FakeClock } from "../../lib/clock.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import type { KubeApiError } from "../../lib/kube/errors.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { type Lease, leaseClient, microTime } from "../../lib/kube/leases.ts";
import type { ResourceClient } from "../../lib/kube/resource-client.ts";
import { silentLogger } from "../../lib/log.ts";
import type { Controller } from "../../services/controller/controller.ts";
import { cleanupAfterEach } from "../harness/cleanup.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { startConductor, TestAgents } from "../harness/conductor.ts";
import { eventually } from "../harness/eventually.ts";
import { createAgentPod, type PodRef, serviceAccountConnection } from "../harness/identities.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await testCluster();
}, 120_000);

const cleanups = cleanupAfterEach();

const echo = defineTool({
  name: "echo",
  description: "Says it back.",
  capability: "data-processing",
  inputSchema: { type: "object" },
  handler: (args: Record<string, unknown>) => args,
});

const denied = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as KubeApiError,
  );
const gone = (p: Promise<unknown>) => denied(p).then((e) => e?.statusCode === 404);

/** How many agent reconciles the controller has run, from its metrics. */
async function agentReconciles(controller: Controller): Promise<number> {
  const metric = await controller.metrics.reconcileDuration.get();
  return metric.values
    .filter((v) => v.metricName?.endsWith("_count") && v.labels.controller === "agent")
    .reduce((n, v) => n + v.value, 0);
}

/** The Agent's phase and the reason of its Ready condition, as the controller wrote them. */
const health = (a: Agent) => ({
  phase: a.status?.phase,
  reason: a.status?.conditions?.find((c) => c.type === "Ready")?.reason,
});

describe("an agent's heartbeat is its Lease", () => {
  test("Ready through its Lease with no Agent write per renewal; NotReady when it stops; the Lease goes with the Agent", async () => {
    await cluster.ensureControllerManager(); // its garbage collector follows the Lease's ownerReference
    const ns = await cluster.newNamespace("agent-lease");
    // A heartbeat timeout of 10 renewals: a loaded machine (the whole suite runs in one process,
    // whose pauses hold the renewals back) does not make the agent flap during the count.
    const conductor = await startConductor(cluster, ns, { heartbeatTimeoutSeconds: 5, unknownAfterSeconds: 15 });
    cleanups.add(() => conductor.stop());
    const leases = leaseClient(cluster.conn);

    // Every write to the Agent and to its Lease, as a watcher sees them.
    const agentWrites: Agent[] = [];
    const renewals: Lease[] = [];
    const agents = new Informer(cluster.mcp.agents, { namespace: ns }).on({ update: (a) => agentWrites.push(a) });
    const leaseWatch = new Informer(leases, { namespace: ns }).on({ update: (l) => renewals.push(l) });
    await Promise.all([agents.start(), leaseWatch.start()]);
    cleanups.add(
      () => agents.stop(),
      () => leaseWatch.stop(),
    );

    // The runtime's timers run on a clock the test moves: it renews while the test moves it on.
    const clock = new FakeClock(Date.now());
    const runtime = new AgentRuntime({
      name: "live",
      namespace: ns,
      conn: cluster.conn,
      tools: [echo],
      heartbeatIntervalMs: 500,
      clock,
      log: silentLogger,
    });
    let renewing: ReturnType<typeof setInterval> | undefined;
    const renew = () => {
      renewing ??= setInterval(() => clock.advance(500), 500);
    };
    const stopRenewing = () => {
      clearInterval(renewing);
      renewing = undefined;
    };
    cleanups.add(stopRenewing);
    await runtime.start();
    renew();

    const ready = await eventually(
      async () => {
        const a = await cluster.mcp.agents.get(ns, "live");
        return a.status?.phase === "Ready" && a;
      },
      { message: "live Ready" },
    );
    expect(health(ready)).toEqual({ phase: "Ready", reason: "HeartbeatFresh" });
    expect(ready.status?.lastHeartbeat).toBeUndefined();
    const lease = await leases.get(ns, "live");
    expect(lease.metadata.labels).toEqual({ [agentLeaseLabel]: "true" });
    expect(lease.metadata.ownerReferences).toEqual([
      { apiVersion: "mcp.io/v1", kind: "Agent", name: "live", uid: ready.metadata.uid as string },
    ]);
    expect(lease.spec).toMatchObject({ holderIdentity: "live", leaseDurationSeconds: 2 });
    // The apiserver keeps MicroTime's six digits.
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    // The watch may deliver the write that made it Ready after the read that saw it: wait for it
    // before counting, or it would count as a write during the renewals.
    await eventually(() => agents.getByKey(`${ns}/live`)?.status?.phase === "Ready", {
      message: "the watch saw live Ready",
    });

    // Over eight renewals the Agent is not written once: the renewals go to the Lease. Nor is
    // each renewal a reconcile: only the rechecks queued for when the heartbeat would go stale
    // (every 5 s less its age) run.
    agentWrites.length = 0;
    const renewedBefore = renewals.length;
    const reconcilesBefore = await agentReconciles(conductor.controller);
    await eventually(() => renewals.length - renewedBefore >= 8, { message: "eight renewals" });
    expect(agentWrites.map((a) => `${a.metadata.resourceVersion} ${a.status?.phase}`)).toEqual([]);
    const reconciled = (await agentReconciles(conductor.controller)) - reconcilesBefore;
    expect(reconciled).toBeLessThanOrEqual((renewals.length - renewedBefore) / 2);
    expect(health(await cluster.mcp.agents.get(ns, "live"))).toEqual({ phase: "Ready", reason: "HeartbeatFresh" });

    // The agent stops renewing (its timer does not fire again) but its Agent stays.
    stopRenewing();
    const stale = await eventually(
      async () => {
        const a = await cluster.mcp.agents.get(ns, "live");
        return a.status?.phase === "NotReady" && a;
      },
      { timeout: 15_000, message: "live NotReady" },
    );
    expect(health(stale)).toEqual({ phase: "NotReady", reason: "HeartbeatStale" });
    expect(stale.metadata.deletionTimestamp).toBeUndefined();
    // Renewing again is what makes it Ready again.
    renew();
    await eventually(async () => (await cluster.mcp.agents.get(ns, "live")).status?.phase === "Ready", {
      message: "live Ready again",
    });

    // Deregistering deletes the Agent; the garbage collector deletes its Lease.
    stopRenewing();
    await runtime.shutdown();
    expect(await gone(cluster.mcp.agents.get(ns, "live"))).toBe(true);
    await eventually(() => gone(leases.get(ns, "live")), { timeout: 30_000, message: "the Lease collected" });
  }, 90_000);

  test("a controller that starts takes a Lease it lists for what it knew, not for a renewal; a renewal then counts", async () => {
    const ns = await cluster.newNamespace("agent-lease-start");
    const leases = leaseClient(cluster.conn);
    // A dead agent the last controller judged Unknown, its Lease left as it last renewed it.
    const agent = await cluster.mcp.agents.create(ns, { metadata: { name: "dead" }, spec: { capabilities: ["x"] } });
    await cluster.mcp.agents.patch(
      ns,
      "dead",
      {
        status: {
          phase: "Unknown",
          conditions: [
            { type: "Ready", status: "Unknown", reason: "HeartbeatLost", lastTransitionTime: new Date().toISOString() },
          ],
        },
      },
      "merge",
      { subresource: "status" },
    );
    const lease = await leases.create(ns, {
      metadata: {
        name: "dead",
        labels: { [agentLeaseLabel]: "true" },
        ownerReferences: [{ apiVersion: "mcp.io/v1", kind: "Agent", name: "dead", uid: agent.metadata.uid as string }],
      },
      spec: { holderIdentity: "dead", leaseDurationSeconds: 2, renewTime: microTime(Date.now()) },
    });

    const conductor = await startConductor(cluster, ns);
    cleanups.add(() => conductor.stop());
    // It knows nothing new of the agent: Unknown still, now for want of a heartbeat it saw.
    const judged = await eventually(
      async () => {
        const a = await cluster.mcp.agents.get(ns, "dead");
        return a.status?.conditions?.find((c) => c.reason !== "HeartbeatLost") && a;
      },
      { message: "dead judged by the new controller" },
    );
    expect(health(judged)).toEqual({ phase: "Unknown", reason: "HeartbeatUnconfirmed" });

    // A renewal it sees happen brings the agent back.
    await leases.replace({ ...lease, spec: { ...lease.spec, renewTime: microTime(Date.now()) } });
    await eventually(async () => (await cluster.mcp.agents.get(ns, "dead")).status?.phase === "Ready", {
      message: "dead Ready after a renewal",
    });
  }, 30_000);

  test("an Agent with no Lease that heartbeats in its status (an agent of the previous release) is Ready", async () => {
    const ns = await cluster.newNamespace("agent-status-beat");
    const conductor = await startConductor(cluster, ns);
    const agents = new TestAgents(cluster, ns);
    cleanups.add(
      () => conductor.stop(),
      () => agents.stopAll(),
    );
    await agents.create("previous");
    await agents.waitReady("previous");
    expect(await gone(leaseClient(cluster.conn).get(ns, "previous"))).toBe(true);
    // and it goes NotReady when those heartbeats stop, as before
    agents.silence("previous");
    await eventually(async () => (await cluster.mcp.agents.get(ns, "previous")).status?.phase === "NotReady", {
      message: "previous NotReady",
    });
  }, 30_000);
});

describe("agents' Leases, by RBAC and the admission policy", () => {
  const ns = "mcp-data-processing";
  const token = (sa: string, pod?: PodRef) => serviceAccountConnection(cluster, ns, sa, pod);
  /** Two agents under their pods' tokens, each with its Agent. */
  let a: { pod: PodRef; leases: ResourceClient<Lease>; uid: string };
  let b: typeof a;

  /** Applies kustomize/cluster (the admission policies) or an overlay, as an operator would. */
  async function apply(unit: string) {
    const yaml = await cluster.kubectl(["kustomize", join(repoRoot, "kustomize", unit)]);
    const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], yaml.stdout);
    expect(res.code).toBe(0);
  }

  /** An agent's pod, its token, and its Agent, owned by the pod as the Agent policy wants. */
  async function agentOf(name: string) {
    const pod = await createAgentPod(cluster, ns, name);
    const conn = await token("mcp-agent", pod);
    const agent = await eventually(() =>
      mcpClients(conn).agents.create(ns, {
        metadata: { name, ownerReferences: [{ apiVersion: "v1", kind: "Pod", name, uid: pod.uid }] },
        spec: { capabilities: ["data-processing"] },
      }),
    );
    return { pod, leases: leaseClient(conn), uid: agent.metadata.uid as string };
  }

  /** The Lease an agent's runtime writes: named after it, held by it, owned by its Agent. */
  const ownLease = (name: string, agentUid: string): Lease => ({
    metadata: {
      name,
      namespace: ns,
      labels: { [agentLeaseLabel]: "true" },
      ownerReferences: [{ apiVersion: "mcp.io/v1", kind: "Agent", name, uid: agentUid }],
    },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime(Date.now()) },
  });
  /** The agent's Lease, made if an earlier test did not. */
  const leaseOf = (x: typeof a, name: string) =>
    x.leases.get(ns, name).catch(() => x.leases.create(ns, ownLease(name, x.uid)));
  const renewed = (l: Lease): Lease => ({ ...l, spec: { ...l.spec, renewTime: microTime(Date.now()) } });

  async function refused(write: Promise<unknown>, says: string): Promise<void> {
    const err = await denied(write);
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain(says);
  }

  beforeAll(async () => {
    await apply("cluster");
    await apply("overlays/data-processing");
    a = await agentOf("lease-agent-a");
    b = await agentOf("lease-agent-b");
  }, 120_000);

  test("an agent creates and renews its own Lease, and no other", async () => {
    // Where it is allowed: each its own, created and renewed.
    const mine = await a.leases.create(ns, ownLease("lease-agent-a", a.uid));
    const again = await a.leases.replace(renewed(mine));
    expect(again.metadata.resourceVersion).not.toBe(mine.metadata.resourceVersion);
    const theirs = await b.leases.create(ns, ownLease("lease-agent-b", b.uid));

    const notOwn = (name: string) => `an agent may write only the Lease named after its pod, not ${name}`;
    // A Lease of another name: the policy is in force once it refuses one (it loads a moment after it is applied).
    await eventually(
      async () => (await denied(a.leases.create(ns, ownLease("lease-agent-c", a.uid))))?.statusCode === 403,
      {
        message: "the lease policy in force",
      },
    );
    await refused(a.leases.create(ns, ownLease("lease-agent-c", a.uid)), notOwn("lease-agent-c"));
    // Another agent's Lease, renewed to keep it looking alive.
    await refused(a.leases.replace(renewed(theirs)), notOwn("lease-agent-b"));
    // The controllers' leader Lease: an agent could stop them reconciling.
    await refused(
      a.leases.create(ns, {
        ...ownLease("mcp-conductor-controller", a.uid),
        spec: { holderIdentity: "lease-agent-a" },
      }),
      notOwn("mcp-conductor-controller"),
    );
    expect((await leaseClient(cluster.conn).get(ns, "lease-agent-b")).spec.renewTime).toBe(theirs.spec.renewTime);
  });

  test("an agent's own Lease is held by it and owned by its Agent alone", async () => {
    const name = "lease-agent-b";
    // Where it is allowed: renewed as the runtime renews it.
    const current = await b.leases.replace(renewed(await leaseOf(b, name)));

    await eventually(
      async () =>
        (await denied(b.leases.replace({ ...current, spec: { ...current.spec, holderIdentity: "x" } })))?.statusCode ===
        403,
      { message: "the lease policy in force" },
    );
    await refused(
      b.leases.replace({ ...current, spec: { ...current.spec, holderIdentity: "lease-agent-a" } }),
      "an agent's Lease must be held by the agent lease-agent-b, not lease-agent-a",
    );
    const owned = "an agent's Lease must have exactly one ownerReference, its Agent";
    const agent = { apiVersion: "mcp.io/v1", kind: "Agent", name, uid: b.uid };
    const pod = { apiVersion: "v1", kind: "Pod", name, uid: b.pod.uid };
    for (const owners of [[], [pod], [{ ...agent, name: "lease-agent-a", uid: a.uid }], [agent, pod]])
      await refused(
        b.leases.replace({ ...current, metadata: { ...current.metadata, ownerReferences: owners } }),
        owned,
      );
    expect((await b.leases.get(ns, name)).metadata.ownerReferences).toEqual([agent]);
  });

  test("the runtime under its pod's token renews its Lease within RBAC and the policy", async () => {
    const pod = await createAgentPod(cluster, ns, "lease-agent-r");
    const runtime = new AgentRuntime({
      name: "lease-agent-r",
      namespace: ns,
      conn: await token("mcp-agent", pod),
      pod,
      tools: [echo],
      heartbeatIntervalMs: 200,
      log: silentLogger,
    });
    cleanups.add(() => runtime.shutdown());
    await runtime.start();
    const leases = leaseClient(cluster.conn);
    const first = await leases.get(ns, "lease-agent-r");
    const agent = await cluster.mcp.agents.get(ns, "lease-agent-r");
    expect(first.metadata.ownerReferences).toEqual([
      { apiVersion: "mcp.io/v1", kind: "Agent", name: "lease-agent-r", uid: agent.metadata.uid as string },
    ]);
    await eventually(async () => (await leases.get(ns, "lease-agent-r")).spec.renewTime !== first.spec.renewTime, {
      message: "the Lease renewed",
    });
  });

  test("the controller reads the agents' Leases; the gateway may not", async () => {
    await leaseOf(b, "lease-agent-b");
    const selector = { labelSelector: `${agentLeaseLabel}=true` };
    const listed = await leaseClient(await token("mcp-controller")).list(ns, selector);
    expect(listed.items.map((l) => l.metadata.name)).toContain("lease-agent-b");
    const err = await denied(leaseClient(await token("mcp-gateway")).list(ns, selector));
    expect(err?.statusCode).toBe(403);
  });
});
