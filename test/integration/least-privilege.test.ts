// Least privilege, enforced by the apiserver with the real identities the
// overlays create: service-account tokens (from TokenRequest, bound to a pod
// for agents). RBAC keeps each service to its namespace and verbs; the
// admission policies keep each agent to its own tasks (assigned, or bound to
// it at creation), to its own moves on them (Assigned or bound → Running →
// Completed or Failed, Running skippable, attempts unchanged), to its
// own status fields (not the controller's, not the client's answers the
// gateway writes) and to its own Agent, owned by its pod. Each refusal
// follows the same write succeeding where allowed.
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import { defineTool, ToolError } from "../../lib/agent/tool.ts";
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import { leaseClient } from "../../lib/kube/leases.ts";
import { silentLogger } from "../../lib/log.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { createAgentPod, type PodRef, serviceAccountConnection } from "../harness/identities.ts";

let cluster: TestCluster;
const token = (namespace: string, sa: string, pod?: PodRef) => serviceAccountConnection(cluster, namespace, sa, pod);
const agentPod = (name: string, namespace = ns) => createAgentPod(cluster, namespace, name);
const ns = "mcp-data-processing";
const other = "mcp-content";

/** Applies kustomize/cluster (the admission policies, once per cluster) or kustomize/overlays/<domain>. */
async function apply(unit: string) {
  const yaml = await cluster.kubectl(["kustomize", join(repoRoot, "kustomize", unit)]);
  const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], yaml.stdout);
  expect(res.code).toBe(0);
}

const denied = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as KubeApiError,
  );

let agentA: KubeConnection;
let podA: { name: string; uid: string };
let controller: KubeConnection;
let gateway: KubeConnection;
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

/** The owner reference the runtime gives its Agent: its pod. */
const podOwner = (pod: { name: string; uid: string }) => ({
  apiVersion: "v1",
  kind: "Pod",
  name: pod.name,
  uid: pod.uid,
});

async function refused(write: Promise<unknown>, says: string): Promise<void> {
  const err = await denied(write);
  expect(err?.statusCode).toBe(403);
  expect(err?.message).toContain(says);
}

beforeAll(async () => {
  cluster = await testCluster();
  await apply("cluster");
  await apply("overlays/data-processing");
  await apply("overlays/content");
  podA = await agentPod("agent-a");
  agentA = await token(ns, "mcp-agent", podA);
  controller = await token(ns, "mcp-controller");
  gateway = await token(ns, "mcp-gateway");
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
      "agent agent-a may update only tasks assigned or bound to it; this one is assigned to agent-b",
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
    const own = await agents.create(ns, {
      metadata: { name: "agent-a", ownerReferences: [podOwner(podA)] },
      spec: { capabilities: ["data-processing"] },
    });
    expect(own.metadata.name).toBe("agent-a");
    const err = await denied(
      agents.create(ns, { metadata: { name: "agent-b" }, spec: { capabilities: ["data-processing"] } }),
    );
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain("an agent may write only the Agent named after its pod, not agent-b");
  });

  test("the policies bind every domain's namespace, not only the first one's", async () => {
    // One binding for the cluster, selecting namespaces by their mcp.io/domain label.
    const podC = await agentPod("agent-c", other);
    const agentC = await token(other, "mcp-agent", podC);
    const err = await denied(
      mcpClients(agentC).agents.create(other, { metadata: { name: "agent-d" }, spec: { capabilities: ["x"] } }),
    );
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain("an agent may write only the Agent named after its pod, not agent-d");
    const own = await mcpClients(agentC).agents.create(other, {
      metadata: { name: "agent-c", ownerReferences: [podOwner(podC)] },
      spec: { capabilities: ["x"] },
    });
    expect(own.metadata.namespace).toBe(other);
  });
});

describe("agents, by admission policy: only the moves of an agent", () => {
  const moveRefused = (from: string, to: string) =>
    `an agent may move its task only Assigned (or bound) → Running → Completed or Failed, not ${from} → ${to}`;

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

  test("Running → Completed is allowed, and Assigned → Completed for a short call; Completed → Assigned is not", async () => {
    const done = await asAgentA(await running("complete"), {
      phase: "Completed",
      completionTime: new Date().toISOString(),
      result: { ok: true },
    });
    expect(done.status?.phase).toBe("Completed");

    // A short call: the agent writes Running only once a call outlives a threshold (ADR 0013).
    const short = await asAgentA(await assign("complete-unstarted", "agent-a"), {
      phase: "Completed",
      startTime: new Date().toISOString(),
      completionTime: new Date().toISOString(),
      result: { ok: true },
    });
    expect(short.status).toMatchObject({ phase: "Completed", assignedAgent: "agent-a", attempts: 1 });
    await refused(asAgentA(short, { phase: "Assigned", result: undefined }), moveRefused("Completed", "Assigned"));
  });

  test("Running → Failed and Assigned → Failed are allowed; Pending → Failed is the controller's", async () => {
    const error = { reason: "ToolFailed", message: "boom", retryable: true };
    const failed = await asAgentA(await running("fail"), { phase: "Failed", error });
    expect(failed.status?.phase).toBe("Failed");
    const failedUnstarted = await asAgentA(await assign("fail-unstarted", "agent-a"), { phase: "Failed", error });
    expect(failedUnstarted.status?.phase).toBe("Failed");
    // Sent back to Pending by the controller, with no agent: not the agent's to end.
    const pending = await asController(await running("fail-pending"), {
      phase: "Pending",
      assignedAgent: undefined,
      startTime: undefined,
    });
    await refused(asAgentA(pending, { phase: "Failed", error }), "may update only tasks assigned or bound to it");
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

describe("agents, by admission policy: tasks bound to an agent at creation (ADR 0013)", () => {
  /** A Task as the gateway creates it when it places the call itself: bound by label, no status. */
  const bound = (name: string, agent: string) =>
    mcpClients(gateway).tasks.create(ns, {
      metadata: { name, labels: { "mcp.io/bound-agent": agent } },
      spec: { requiredCapabilities: ["data-processing"] },
    });
  const started = () => ({ assignedAgent: "agent-a", attempts: 1, startTime: new Date().toISOString() });

  test("an agent starts a task bound to it by naming itself and attempt 1, or ends it in that one write", async () => {
    const claimed = await asAgentA(await bound("bound-claim", "agent-a"), { phase: "Running", ...started() });
    expect(claimed.status).toMatchObject({ phase: "Running", assignedAgent: "agent-a", attempts: 1 });
    const done = await asAgentA(await bound("bound-short", "agent-a"), {
      phase: "Completed",
      ...started(),
      completionTime: new Date().toISOString(),
      result: { ok: true },
    });
    expect(done.status).toMatchObject({ phase: "Completed", assignedAgent: "agent-a", attempts: 1 });
  });

  test("an agent may not start a task bound to another agent, nor name another agent or attempt", async () => {
    const theirs = await bound("bound-theirs", "agent-b");
    await refused(
      asAgentA(theirs, { phase: "Running", ...started() }),
      "agent agent-a may update only tasks assigned or bound to it; this one is assigned to no agent",
    );
    const mine = await bound("bound-wrong-fields", "agent-a");
    await refused(
      asAgentA(mine, { phase: "Running", ...started(), assignedAgent: "agent-b" }),
      "an agent may not change status.assignedAgent",
    );
    await refused(
      asAgentA(mine, { phase: "Running", ...started(), attempts: 2 }),
      "an agent may not change status.attempts (0 → 2)",
    );
    await refused(asAgentA(mine, { phase: "Pending", ...started() }), "not (no phase) → Pending");
    expect((await cluster.mcp.tasks.get(ns, "bound-theirs")).status?.phase).toBeUndefined();
  });

  test("once the controller wrote a status, the label binds no more: the task is where status.assignedAgent says", async () => {
    // The controller moves a bound task whose agent it judged lost, by a status write.
    const moved = await asController(await bound("bound-moved", "agent-a"), {
      phase: "Assigned",
      assignedAgent: "agent-b",
      attempts: 2,
    });
    expect(moved.status?.assignedAgent).toBe("agent-b");
    await refused(
      asAgentA(moved, { phase: "Completed", result: { ok: true } }),
      "agent agent-a may update only tasks assigned or bound to it; this one is assigned to agent-b",
    );
  });
});

describe("agents, by admission policy: only an agent's own status fields", () => {
  /** A question as the runtime puts it on its task (ctx.elicit). */
  const question = (message: string) => ({
    method: "elicitation/create",
    params: { message, requestedSchema: { type: "object", properties: { ok: { type: "boolean" } } } },
    answerBy: new Date(Date.now() + 600_000).toISOString(),
  });
  const scheduled = (message: string) => ({
    type: "Scheduled",
    status: "True" as const,
    reason: "AgentFound",
    message,
    lastTransitionTime: new Date().toISOString(),
  });

  test("an agent reports progress and messages and asks its client; the controller's fields are not its", async () => {
    // Where it is allowed: the controller writes its conditions and observedGeneration.
    const t = await asController(await running("fields"), {
      conditions: [scheduled("assigned to agent-a (score 70)")],
      observedGeneration: 1,
    });
    const reported = await asAgentA(t, {
      progress: { done: 1, total: 4, message: "a quarter" },
      messages: [{ seq: 1, level: "info", data: "reading" }],
      inputRequests: { confirm: question("Sure?") },
    });
    expect(reported.status).toMatchObject({
      phase: "Running",
      progress: { done: 1 },
      messages: [{ seq: 1 }],
      inputRequests: { confirm: { method: "elicitation/create" } },
      conditions: [{ type: "Scheduled", reason: "AgentFound" }],
    });

    const says = (fields: string) =>
      `an agent may not change ${fields}: the controller writes them when it assigns, retries or fails a task`;
    for (const [change, fields] of [
      [{ assignedTime: new Date(0).toISOString() }, "status.assignedTime"],
      [{ observedGeneration: 7 }, "status.observedGeneration"],
      [{ conditions: [scheduled("assigned to agent-a (score 100)")] }, "status.conditions"],
      [{ conditions: undefined }, "status.conditions"],
      [{ assignedTime: undefined, conditions: [] }, "status.assignedTime, status.conditions"],
      // nor as it finishes
      [{ phase: "Completed", result: { ok: true }, observedGeneration: 2 }, "status.observedGeneration"],
    ] as [Status, string][])
      await refused(asAgentA(reported, change), says(fields));
    expect((await cluster.mcp.tasks.get(ns, "fields")).status).toMatchObject({
      phase: "Running",
      assignedTime: t.status?.assignedTime,
      observedGeneration: 1,
      conditions: [{ message: "assigned to agent-a (score 70)" }],
    });
  });

  test("answers are the client's: the gateway writes them, the agent takes them off and writes none", async () => {
    const asked = await asAgentA(await running("answers"), {
      inputRequests: { confirm: question("Sure?"), again: question("Really?") },
    });
    // The gateway's part: an answer, and its question off.
    const answered = await mcpClients(gateway).tasks.replaceStatus({
      ...asked,
      status: {
        ...asked.status,
        inputRequests: { again: asked.status?.inputRequests?.again },
        inputResponses: { confirm: { action: "accept", content: { ok: true } } },
      },
    });
    expect(answered.status?.inputResponses).toEqual({ confirm: { action: "accept", content: { ok: true } } });

    const says = (key: string) =>
      `an agent may not write status.inputResponses.${key}: answers are the client's, written by the gateway; an agent may only take them off`;
    // Neither changing the client's answer nor answering its own question.
    await refused(
      asAgentA(answered, { inputResponses: { confirm: { action: "accept", content: { ok: false } } } }),
      says("confirm"),
    );
    await refused(
      asAgentA(answered, {
        inputResponses: { ...answered.status?.inputResponses, again: { action: "accept", content: { ok: true } } },
      }),
      says("again"),
    );
    await refused(
      asAgentA(answered, {
        phase: "Completed",
        result: { ok: true },
        inputResponses: { again: { action: "decline" } },
      }),
      says("again"),
    );
    // Taking the answer off with its question, as the runtime does once it has read it.
    const taken = await asAgentA(answered, { inputRequests: {}, inputResponses: {} });
    expect(taken.status?.inputResponses).toEqual({});
  });

  test("an agent sets startTime as it claims, result and completionTime as it completes, error as it ends an attempt; in no other move", async () => {
    const claimed = await running("own-fields");
    expect(claimed.status?.startTime).toBeDefined();
    const later = new Date(Date.now() + 60_000).toISOString();
    const error = { reason: "ToolFailed", message: "boom", retryable: true };
    for (const [change, says] of [
      [
        { startTime: later },
        "status.startTime only as it starts its task (from Assigned or bound), not in Running → Running",
      ],
      [{ result: { ok: true } }, "status.result only as it completes its task (→ Completed), not in Running → Running"],
      [
        { completionTime: later },
        "status.completionTime only as it completes its task (→ Completed), not in Running → Running",
      ],
      [
        { phase: "Failed", error, completionTime: later },
        "status.completionTime only as it completes its task (→ Completed), not in Running → Failed",
      ],
      [
        { phase: "Failed", error, result: { partial: true } },
        "status.result only as it completes its task (→ Completed), not in Running → Failed",
      ],
      [{ error }, "status.error only as it ends its attempt (Running → Completed or Failed), not in Running → Running"],
      [
        { phase: "Completed", result: { ok: true }, startTime: later },
        "status.startTime only as it starts its task (from Assigned or bound), not in Running → Completed",
      ],
    ] as [Status, string][])
      await refused(asAgentA(claimed, change), `an agent may set ${says}`);
    await refused(
      asAgentA(await assign("own-fields-claim", "agent-a"), { phase: "Running", result: { ok: true } }),
      "an agent may set status.result only as it completes its task (→ Completed), not in Assigned → Running",
    );
    expect((await cluster.mcp.tasks.get(ns, "own-fields")).status).toMatchObject({
      phase: "Running",
      startTime: claimed.status?.startTime,
    });
    expect((await cluster.mcp.tasks.get(ns, "own-fields")).status?.result).toBeUndefined();

    // Each in its own move (completing is in the tests of the moves above).
    const failed = await asAgentA(claimed, { phase: "Failed", error });
    expect(failed.status).toMatchObject({ phase: "Failed", error });
  });
});

describe("agents, by admission policy: an agent's Agent is its pod's", () => {
  const spec = { capabilities: ["data-processing"] };
  let podO: { name: string; uid: string };
  let agentO: KubeConnection;

  beforeAll(async () => {
    podO = await agentPod("agent-o");
    agentO = await token(ns, "mcp-agent", podO);
  });

  test("an agent's Agent has one owner, its pod, by name and uid", async () => {
    const own = await mcpClients(agentO).agents.create(ns, {
      metadata: { name: "agent-o", ownerReferences: [podOwner(podO)] },
      spec,
    });
    expect(own.metadata.ownerReferences).toEqual([podOwner(podO)]);

    // Another agent's pod, and one of the same name that is not this pod (a predecessor).
    const podP = await agentPod("agent-p");
    const stale = { ...podOwner(podO), uid: podP.uid };
    const keepAlive = { apiVersion: "v1", kind: "ConfigMap", name: "keep-alive", uid: podP.uid };
    const exactlyOne = "an agent's Agent must have exactly one ownerReference, its pod (apiVersion v1, kind Pod, name";
    type Owner = ReturnType<typeof podOwner>;
    const cases: [Owner[] | undefined, (pod: string) => string][] = [
      [undefined, (pod) => `${exactlyOne} ${pod}); this one has none`],
      [[], (pod) => `${exactlyOne} ${pod}); this one has none`],
      [[keepAlive], (pod) => `${exactlyOne} ${pod}); this one has 1 that is no v1 Pod`],
      [[{ ...podOwner(podO), apiVersion: "v2" }], (pod) => `${exactlyOne} ${pod}); this one has 1 that is no v1 Pod`],
      [[podOwner(podO), keepAlive], (pod) => `${exactlyOne} ${pod}); this one has 2, 1 of them v1 Pods`],
      [[podOwner(podO), podOwner(podP)], (pod) => `${exactlyOne} ${pod}); this one has 2, 2 of them v1 Pods`],
      [[podOwner(podP)], (pod) => `an agent's Agent must be owned by the agent's own pod ${pod}, not by pod agent-p`],
    ];

    // Registering: a new pod's agent, with each wrong owner.
    const podN = await agentPod("agent-n");
    const agentN = mcpClients(await token(ns, "mcp-agent", podN)).agents;
    for (const [owners, says] of [
      ...cases,
      [
        [{ ...podOwner(podN), uid: podP.uid }],
        () =>
          `an agent's Agent must be owned by its pod agent-n with uid ${podN.uid}, not uid ${podP.uid} (another pod of that name)`,
      ],
    ] as typeof cases)
      await refused(
        agentN.create(ns, { metadata: { name: "agent-n", ...(owners ? { ownerReferences: owners } : {}) }, spec }),
        says("agent-n"),
      );
    expect((await denied(cluster.mcp.agents.get(ns, "agent-n")))?.statusCode).toBe(404);

    // Re-registering (the runtime's merge patch) or updating: the owner stays the pod.
    const agents = mcpClients(agentO).agents;
    for (const [owners, says] of [
      ...cases,
      [
        [stale],
        () =>
          `an agent's Agent must be owned by its pod agent-o with uid ${podO.uid}, not uid ${podP.uid} (another pod of that name)`,
      ],
    ] as typeof cases)
      await refused(
        agents.patch(ns, "agent-o", { metadata: { ownerReferences: owners ?? null } }, "merge"),
        says("agent-o"),
      );
    const drained = await agents.patch(
      ns,
      "agent-o",
      { metadata: { annotations: { "mcp.io/draining": "true" } } },
      "merge",
    );
    expect(drained.metadata.ownerReferences).toEqual([podOwner(podO)]);
  });

  test("a pod reports on its Agent once it owns it, and only its heartbeat", async () => {
    const agents = mcpClients(agentO).agents;
    const beat = (status: Record<string, unknown>) =>
      agents.patch(ns, "agent-o", { status }, "merge", { subresource: "status" });
    // Where it is allowed: the agent's heartbeat, the controller's judgement.
    expect((await beat({ lastHeartbeat: new Date().toISOString() })).status?.lastHeartbeat).toBeDefined();
    await mcpClients(controller).agents.patch(
      ns,
      "agent-o",
      {
        status: {
          phase: "Ready",
          currentTasks: 2,
          observedGeneration: 1,
          conditions: [
            { type: "Ready", status: "True", reason: "HeartbeatFresh", lastTransitionTime: new Date().toISOString() },
          ],
        },
      },
      "merge",
      { subresource: "status" },
    );
    const says = (field: string) =>
      `an agent may write only status.lastHeartbeat of its Agent, not status.${field}: the controller judges its health and counts its tasks`;
    for (const [status, field] of [
      [{ phase: "NotReady" }, "phase"],
      [{ currentTasks: 0 }, "currentTasks"],
      [{ observedGeneration: 9 }, "observedGeneration"],
      [{ conditions: null }, "conditions"],
      [{ lastHeartbeat: new Date().toISOString(), phase: "Unknown" }, "phase"],
    ] as const)
      await refused(beat(status), says(field));
    expect((await cluster.mcp.agents.get(ns, "agent-o")).status).toMatchObject({ phase: "Ready", currentTasks: 2 });

    // An Agent a pod of the same name left (its owner another uid) is taken over before it is reported on.
    const podS = await agentPod("agent-s");
    const before = "00000000-0000-4000-8000-000000000001";
    // The garbage collector (when a test before this one started kube-controller-manager)
    // deletes an Agent whose owner is gone, as it should; the finalizer keeps the object
    // through that, so what is checked here is admission alone.
    const hold = "mcp.io/test-hold";
    await cluster.mcp.agents.create(ns, {
      metadata: { name: "agent-s", ownerReferences: [{ ...podOwner(podS), uid: before }], finalizers: [hold] },
      spec,
    });
    const successor = mcpClients(await token(ns, "mcp-agent", podS)).agents;
    const heartbeat = () =>
      successor.patch(ns, "agent-s", { status: { lastHeartbeat: new Date().toISOString() } }, "merge", {
        subresource: "status",
      });
    await refused(
      heartbeat(),
      `an agent's Agent must be owned by its pod agent-s with uid ${podS.uid}, not uid ${before} (another pod of that name)`,
    );
    await successor.patch(ns, "agent-s", { metadata: { ownerReferences: [podOwner(podS)] }, spec }, "merge");
    expect((await heartbeat()).status?.lastHeartbeat).toBeDefined();
    await cluster.mcp.agents.patch(ns, "agent-s", { metadata: { finalizers: null } }, "merge");
  });

  test("an agent may not change or delete another agent's Agent", async () => {
    // Where it is allowed: its own.
    const own = await mcpClients(agentA).agents.patch(ns, "agent-a", { spec: { tags: ["mine"] } }, "merge");
    expect(own.spec.tags).toEqual(["mine"]);

    const agents = mcpClients(agentA).agents;
    const says = "an agent may write only the Agent named after its pod, not agent-o";
    await refused(agents.patch(ns, "agent-o", { spec: { tags: ["taken"] } }, "merge"), says);
    await refused(agents.patch(ns, "agent-o", { metadata: { ownerReferences: [podOwner(podA)] } }, "merge"), says);
    await refused(
      agents.patch(ns, "agent-o", { status: { lastHeartbeat: new Date().toISOString() } }, "merge", {
        subresource: "status",
      }),
      says,
    );
    await refused(agents.delete(ns, "agent-o"), says);
    const theirs = await cluster.mcp.agents.get(ns, "agent-o");
    expect(theirs.metadata.ownerReferences).toEqual([podOwner(podO)]);
    expect(theirs.spec.tags).toBeUndefined();

    // Its own agent may delete it (the runtime does as it shuts down).
    await mcpClients(agentO).agents.delete(ns, "agent-o");
    expect((await denied(cluster.mcp.agents.get(ns, "agent-o")))?.statusCode).toBe(404);
  });
});

describe("the agent runtime under its pod's token", () => {
  const finished = (name: string) =>
    eventually(
      async () => {
        const t = await cluster.mcp.tasks.get(ns, name);
        return (t.status?.phase === "Completed" || t.status?.phase === "Failed") && t;
      },
      { message: `${name} finished` },
    );

  test("registers an Agent owned by its pod, claims, reports and finishes tasks, and fails what a previous run left Running", async () => {
    const pod = await agentPod("agent-r");
    const conn = await token(ns, "mcp-agent", pod);
    // What a previous run in this pod left behind: a task it claimed and never finished.
    const left = await assign("left-running", "agent-r");
    await mcpClients(conn).tasks.replaceStatus({ ...left, status: { ...left.status, phase: "Running" } });
    // And one it may have been running without saying so (Running comes only after runningAfterMs).
    await assign("left-assigned", "agent-r");

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
      // Its heartbeat is its Lease (the policy mcp-agent-own-lease lets it write that one), owned by its Agent.
      expect((await leaseClient(cluster.conn).get(ns, "agent-r")).metadata.ownerReferences).toEqual([
        { apiVersion: "mcp.io/v1", kind: "Agent", name: "agent-r", uid: agent.metadata.uid as string },
      ]);
      for (const name of ["left-running", "left-assigned"])
        expect((await cluster.mcp.tasks.get(ns, name)).status).toMatchObject({
          phase: "Failed",
          attempts: 1,
          error: { reason: "AgentRestarted" },
        });

      // A call the gateway placed itself: created bound to the agent, which reads it through
      // its label and ends it in one write, naming itself and attempt 1.
      const bound = await mcpClients(gateway).tasks.create(ns, {
        metadata: { name: "runtime-bound", labels: { "mcp.io/bound-agent": "agent-r" } },
        spec: { requiredCapabilities: ["data-processing"], tool: "work", payload: {} },
      });
      expect(bound.status).toBeUndefined();

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
      expect((await finished("runtime-bound")).status).toMatchObject({
        phase: "Completed",
        assignedAgent: "agent-r",
        attempts: 1,
        result: { ok: true },
        progress: { done: 1, total: 2 },
      });
    } finally {
      await runtime.shutdown();
    }
    await eventually(() => denied(cluster.mcp.agents.get(ns, "agent-r")).then((e) => e?.statusCode === 404), {
      message: "agent-r deregistered",
    });
  });

  test("asks its client and takes the answer the gateway wrote, in a second attempt too", async () => {
    const pod = await agentPod("agent-i");
    const ask = defineTool({
      name: "ask",
      description: "logs, asks for a confirmation, answers with it",
      capability: "data-processing",
      inputSchema: { type: "object", properties: {} },
      handler: async (_args: Record<string, unknown>, ctx) => {
        ctx.log("info", "asking");
        const answer = await ctx.elicit(
          { message: "Sure?", requestedSchema: { type: "object", properties: { ok: { type: "boolean" } } } },
          "confirm",
        );
        return { ok: answer.content?.ok ?? false };
      },
    });
    const runtime = new AgentRuntime({
      name: "agent-i",
      namespace: ns,
      conn: await token(ns, "mcp-agent", pod),
      pod,
      tools: [ask],
      heartbeatIntervalMs: 200,
      log: silentLogger,
    });
    /** The gateway's part: the client's answer, and the question taken off. */
    const answer = (name: string, key: string, ok: boolean) =>
      eventually(
        async () => {
          const t = await cluster.mcp.tasks.get(ns, name);
          const open = { ...t.status?.inputRequests } as Record<string, unknown>;
          if (!(key in open)) return false;
          delete open[key];
          return mcpClients(gateway).tasks.replaceStatus({
            ...t,
            status: {
              ...t.status,
              inputRequests: open,
              inputResponses: { ...t.status?.inputResponses, [key]: { action: "accept", content: { ok } } },
            },
          });
        },
        { message: `${name} asked ${key}` },
      );
    try {
      await runtime.start();
      const t = await cluster.mcp.tasks.create(ns, {
        metadata: { name: "runtime-ask" },
        spec: { requiredCapabilities: ["data-processing"], tool: "ask" },
      });
      await asController(t, { phase: "Assigned", assignedAgent: "agent-i", attempts: 1 });
      await answer("runtime-ask", "confirm", true);
      const first = await finished("runtime-ask");
      expect(first.status).toMatchObject({ phase: "Completed", attempts: 1, result: { ok: true } });
      expect(first.status?.inputResponses ?? {}).toEqual({});

      // A second attempt (the controller's retry, here by hand) starts with no answers left:
      // an old answer is put back on the task, and the agent clears it as it claims.
      await asController(first, {
        phase: "Assigned",
        attempts: 2,
        result: undefined,
        completionTime: undefined,
        startTime: undefined,
        inputResponses: { confirm: { action: "accept", content: { ok: true } } },
      });
      await answer("runtime-ask", "confirm@2", false);
      const second = await finished("runtime-ask");
      expect(second.status).toMatchObject({ phase: "Completed", attempts: 2, result: { ok: false } });
      expect(second.status?.inputResponses ?? {}).toEqual({});
    } finally {
      await runtime.shutdown();
    }
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
