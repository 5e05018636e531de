// The controller and scheduler against a real apiserver: placement rules,
// retries with backoff, deadlines, dead agents (by the controller's clock, not
// theirs), TTLs, events and domains.
// Agents are plain objects whose heartbeats the test drives.
import { beforeAll, describe, expect, test } from "bun:test";
import type { Task } from "../../lib/api/resources.ts";
import { cleanupAfterEach } from "../harness/cleanup.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { startConductor, TestAgents, type TestConductor } from "../harness/conductor.ts";
import { eventually } from "../harness/eventually.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await testCluster();
}, 120_000);

const cleanups = cleanupAfterEach();

async function setup(
  prefix: string,
  overrides = {},
): Promise<{ ns: string; agents: TestAgents; conductor: TestConductor }> {
  const ns = await cluster.newNamespace(prefix);
  const conductor = await startConductor(cluster, ns, overrides);
  const agents = new TestAgents(cluster, ns);
  cleanups.add(
    () => conductor.stop(),
    () => agents.stopAll(),
  );
  return { ns, agents, conductor };
}

const createTask = (ns: string, name: string, spec: Partial<Task["spec"]> = {}) =>
  cluster.mcp.tasks.create(ns, { metadata: { name }, spec: { requiredCapabilities: ["x"], ...spec } });

const getTask = (ns: string, name: string) => cluster.mcp.tasks.get(ns, name);

async function waitPhase(ns: string, name: string, phase: string, timeout = 10_000): Promise<Task> {
  return eventually(
    async () => {
      const t = await getTask(ns, name);
      return t.status?.phase === phase ? t : undefined;
    },
    { timeout, message: `task ${name} ${phase}` },
  );
}

const condition = (t: Task, type: string) => t.status?.conditions?.find((c) => c.type === type);

describe("placement", () => {
  test("matches capabilities", async () => {
    const { ns, agents } = await setup("cap");
    await agents.create("fs-agent", { capabilities: ["filesystem"] });
    await agents.create("data-agent", { capabilities: ["data-processing", "filesystem"] });
    await agents.waitReady("fs-agent", "data-agent");
    await createTask(ns, "needs-data", { requiredCapabilities: ["data-processing"] });
    await createTask(ns, "needs-fs", { requiredCapabilities: ["filesystem"] });
    expect((await waitPhase(ns, "needs-data", "Assigned")).status?.assignedAgent).toBe("data-agent");
    // the specialist is preferred for work both can do
    expect((await waitPhase(ns, "needs-fs", "Assigned")).status?.assignedAgent).toBe("fs-agent");
  });

  test("places higher priority first when capacity is short", async () => {
    const { ns, agents } = await setup("prio");
    for (const [name, priority] of [
      ["low", 1],
      ["high", 9],
      ["mid", 5],
    ] as const)
      await createTask(ns, name, { priority });
    await eventually(async () => (await getTask(ns, "mid")).status?.phase === "Pending");
    await agents.create("solo", { maxConcurrentTasks: 1 });
    await waitPhase(ns, "high", "Assigned");
    expect((await getTask(ns, "mid")).status?.phase).toBe("Pending");
    expect((await getTask(ns, "low")).status?.phase).toBe("Pending");
    await agents.report("high", { phase: "Completed", completionTime: new Date().toISOString(), result: { ok: true } });
    await waitPhase(ns, "mid", "Assigned");
    expect((await getTask(ns, "low")).status?.phase).toBe("Pending");
    await agents.report("mid", { phase: "Completed", completionTime: new Date().toISOString() });
    await waitPhase(ns, "low", "Assigned");
  });

  test("spreads load across equal agents", async () => {
    const { ns, agents } = await setup("spread");
    await agents.create("a1", { maxConcurrentTasks: 10 });
    await agents.create("a2", { maxConcurrentTasks: 10 });
    await agents.waitReady("a1", "a2");
    for (let i = 0; i < 10; i++) await createTask(ns, `t${i}`);
    const assigned = await eventually(async () => {
      const list = (await cluster.mcp.tasks.list(ns)).items;
      return list.every((t) => t.status?.phase === "Assigned") && list;
    });
    const counts = new Map<string, number>();
    for (const t of assigned)
      counts.set(t.status?.assignedAgent ?? "", (counts.get(t.status?.assignedAgent ?? "") ?? 0) + 1);
    expect(counts).toEqual(
      new Map([
        ["a1", 5],
        ["a2", 5],
      ]),
    );
    // the controller's own count of each agent's tasks, not the agent's
    await eventually(async () => (await cluster.mcp.agents.get(ns, "a1")).status?.currentTasks === 5, {
      timeout: 15_000,
    });
  });

  test("respects capacity and says why the rest wait", async () => {
    const { ns, agents } = await setup("capacity");
    await agents.create("small", { maxConcurrentTasks: 2 });
    await agents.waitReady("small");
    for (let i = 0; i < 5; i++) await createTask(ns, `t${i}`);
    const waiting = await eventually(async () => {
      const list = (await cluster.mcp.tasks.list(ns)).items;
      const assigned = list.filter((t) => t.status?.phase === "Assigned");
      const pending = list.filter(
        (t) => t.status?.phase === "Pending" && condition(t, "Scheduled")?.reason === "NoAgentAvailable",
      );
      return assigned.length === 2 && pending.length === 3 && pending;
    });
    expect(condition(waiting[0] as Task, "Scheduled")?.message).toBe("0/1 agents fit: 1 at capacity");
  });

  test("honours required, preferred and avoided tags", async () => {
    const { ns, agents } = await setup("tags");
    await agents.create("plain");
    await agents.create("gpu", { tags: ["gpu"] });
    await agents.create("spot-ssd", { tags: ["spot", "ssd"] });
    await agents.create("ssd", { tags: ["ssd"] });
    await agents.waitReady("plain", "gpu", "spot-ssd", "ssd");
    await createTask(ns, "req", { affinity: { required: ["gpu"] } });
    await createTask(ns, "pref", { affinity: { preferred: ["ssd"], avoided: ["spot"] } });
    await createTask(ns, "impossible", { affinity: { required: ["tpu"] } });
    expect((await waitPhase(ns, "req", "Assigned")).status?.assignedAgent).toBe("gpu");
    expect((await waitPhase(ns, "pref", "Assigned")).status?.assignedAgent).toBe("ssd");
    const stuck = await eventually(async () => {
      const t = await getTask(ns, "impossible");
      return condition(t, "Scheduled")?.reason === "NoAgentAvailable" && t;
    });
    expect(condition(stuck, "Scheduled")?.message).toBe("0/4 agents fit: 4 missing required tag tpu");
  });

  test("keeps a task Pending with a reason until an agent appears", async () => {
    const { ns, agents } = await setup("noagent");
    await createTask(ns, "early");
    const waiting = await eventually(async () => {
      const t = await getTask(ns, "early");
      return condition(t, "Scheduled")?.reason === "NoAgentAvailable" && t;
    });
    expect(waiting.status?.phase).toBe("Pending");
    expect(condition(waiting, "Scheduled")?.message).toBe("no agents in this domain");
    const created = Date.now();
    await agents.create("late");
    const t = await waitPhase(ns, "early", "Assigned");
    expect(t.status?.assignedAgent).toBe("late");
    expect(Date.now() - created).toBeLessThan(3_000); // on the agent's arrival, not a timer
    expect(condition(t, "Scheduled")).toMatchObject({ status: "True", reason: "AgentFound" });
  });
});

describe("retries and deadlines", () => {
  test("retries with linear and exponential backoff, then fails when retries run out", async () => {
    const { ns, agents } = await setup("retry");
    await agents.create("worker", { maxConcurrentTasks: 10 });
    const policies = {
      lin: { maxRetries: 3, backoffStrategy: "linear", backoffSeconds: 1, maxBackoffSeconds: 60 },
      exp: { maxRetries: 3, backoffStrategy: "exponential", backoffSeconds: 1, maxBackoffSeconds: 60 },
    } as const;
    const waits: Record<string, number[]> = { lin: [], exp: [] };
    const run = async (name: "lin" | "exp") => {
      await createTask(ns, name, { retryPolicy: policies[name] });
      let failedAt = 0;
      for (let attempt = 1; attempt <= 4; attempt++) {
        // Pending lasts only until the next placement pass, so wait for the next assignment.
        await eventually(
          async () => {
            const t = await getTask(ns, name);
            return t.status?.phase === "Assigned" && t.status.attempts === attempt;
          },
          { timeout: 15_000, interval: 20, message: `${name} assigned for attempt ${attempt}` },
        );
        if (attempt > 1) waits[name]?.push(Date.now() - failedAt);
        await agents.report(name, { phase: "Running", startTime: new Date().toISOString() });
        failedAt = Date.now();
        await agents.report(name, {
          phase: "Failed",
          error: { reason: "Flaky", message: `attempt ${attempt}`, retryable: true },
        });
      }
      const final = await eventually(async () => {
        const t = await getTask(ns, name);
        return condition(t, "Failed")?.status === "True" && t;
      });
      expect(final.status?.phase).toBe("Failed");
      expect(condition(final, "Failed")?.reason).toBe("MaxRetriesExceeded");
      expect(final.status?.completionTime).toBeDefined();
      expect([1, 2, 3].map((n) => condition(final, `Attempt${n}`)?.reason)).toEqual(["Flaky", "Flaky", "Flaky"]);
    };
    await Promise.all([run("lin"), run("exp")]);
    // timing checked loosely: at least the backoff, and not far beyond it
    const want = { lin: [1000, 2000, 3000], exp: [1000, 2000, 4000] };
    for (const name of ["lin", "exp"] as const) {
      waits[name]?.forEach((w, i) => {
        expect(w).toBeGreaterThanOrEqual((want[name][i] as number) - 150);
        expect(w).toBeLessThan((want[name][i] as number) + 2500);
      });
    }
  }, 60_000);

  test("a non-retryable failure is final at once", async () => {
    const { ns, agents } = await setup("noretry");
    await agents.create("worker");
    await createTask(ns, "bad-input");
    await waitPhase(ns, "bad-input", "Assigned");
    await agents.report("bad-input", {
      phase: "Failed",
      error: { reason: "InvalidInput", message: "payload.x is required", retryable: false },
    });
    const t = await eventually(async () => {
      const x = await getTask(ns, "bad-input");
      return condition(x, "Failed")?.status === "True" && x;
    });
    expect(condition(t, "Failed")?.reason).toBe("NotRetryable");
    expect(t.status?.error).toMatchObject({ reason: "InvalidInput", retryable: false });
    expect(t.status?.attempts).toBe(1);
  });

  test("fails a task past its deadline with DeadlineExceeded, assigned or not", async () => {
    const { ns, agents } = await setup("deadline");
    await agents.create("worker", { capabilities: ["x"] });
    const deadline = new Date(Date.now() + 2000).toISOString();
    await createTask(ns, "running", { deadline });
    await createTask(ns, "unplaceable", { deadline, requiredCapabilities: ["nobody-has-this"] });
    await waitPhase(ns, "running", "Assigned");
    await agents.report("running", { phase: "Running", startTime: new Date().toISOString() });
    for (const name of ["running", "unplaceable"]) {
      const t = await waitPhase(ns, name, "Failed", 10_000);
      expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(deadline));
      expect(t.status?.error).toMatchObject({ reason: "DeadlineExceeded", retryable: false });
      expect(condition(t, "Failed")).toMatchObject({ status: "True", reason: "DeadlineExceeded" });
    }
    // the agent's own watch (by assignedAgent) sees the cancellation
    const mine = await cluster.mcp.tasks.list(ns, { fieldSelector: "status.assignedAgent=worker" });
    expect(mine.items.map((t) => [t.metadata.name, t.status?.phase])).toEqual([["running", "Failed"]]);
  });
});

describe("agent health", () => {
  test("marks a silent agent NotReady and reassigns its tasks to another", async () => {
    const { ns, agents } = await setup("dead");
    await agents.create("doomed", { maxConcurrentTasks: 5 });
    await agents.waitReady("doomed");
    await createTask(ns, "not-started");
    await createTask(ns, "mid-run");
    await waitPhase(ns, "not-started", "Assigned");
    await waitPhase(ns, "mid-run", "Assigned");
    await agents.report("mid-run", { phase: "Running", startTime: new Date().toISOString() });
    await agents.create("survivor", { maxConcurrentTasks: 5 });
    agents.silence("doomed");

    const a = await eventually(async () => {
      const x = await cluster.mcp.agents.get(ns, "doomed");
      return x.status?.phase === "NotReady" && x;
    });
    expect(a.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "HeartbeatStale",
    });

    const notStarted = await eventually(async () => {
      const t = await getTask(ns, "not-started");
      return t.status?.assignedAgent === "survivor" && t;
    });
    // Not marked Running on the dead agent, but an agent writes Running only once a call
    // outlives a threshold (ADR 0013): it may have run, so that attempt counts.
    expect(notStarted.status?.attempts).toBe(2);
    expect(condition(notStarted, "Attempt1")?.reason).toBe("AgentLost");
    const midRun = await eventually(async () => {
      const t = await getTask(ns, "mid-run");
      return t.status?.assignedAgent === "survivor" && t;
    });
    expect(midRun.status?.attempts).toBe(2);
    expect(condition(midRun, "Attempt1")?.reason).toBe("AgentLost");

    const events = await cluster.conn.request<{ items: { reason: string; involvedObject: { name: string } }[] }>(
      "GET",
      `/api/v1/namespaces/${ns}/events`,
    );
    const reasons = events.items.map((e) => `${e.involvedObject.name}:${e.reason}`);
    expect(reasons).toContain("doomed:AgentNotReady");
    expect(reasons).toContain("not-started:Reassigned");
    expect(reasons).toContain("mid-run:Reassigned");
    expect(reasons).toContain("mid-run:Assigned");
  }, 30_000);

  // Health is judged by when the controller saw a heartbeat arrive, by its own
  // clock, as the node lifecycle controller does with Leases: the time an
  // agent writes into it says nothing of the agent's liveness.
  test("an agent whose clock runs an hour behind is Ready while it heartbeats", async () => {
    const { ns, agents } = await setup("clock-behind");
    await agents.create("punctual");
    await agents.create("behind", {}, { clockOffsetMs: -3_600_000 });
    await agents.waitReady("punctual", "behind");
    // Ready for longer than the NotReady threshold (2 s here), not once by chance.
    await Bun.sleep(3_000);
    for (const name of ["punctual", "behind"])
      expect((await cluster.mcp.agents.get(ns, name)).status?.phase).toBe("Ready");
  }, 30_000);

  test("an agent whose clock runs an hour ahead goes NotReady when it falls silent", async () => {
    const { ns, agents } = await setup("clock-ahead");
    // Where it goes right: a silent agent with a right clock goes NotReady.
    await agents.create("punctual");
    await agents.create("ahead", {}, { clockOffsetMs: 3_600_000 });
    await agents.waitReady("punctual", "ahead");
    agents.silence("punctual");
    agents.silence("ahead");
    for (const name of ["punctual", "ahead"]) {
      const a = await eventually(
        async () => {
          const x = await cluster.mcp.agents.get(ns, name);
          return x.status?.phase === "NotReady" && x;
        },
        { message: `${name} NotReady` },
      );
      expect(a.status?.conditions?.find((c) => c.type === "Ready")?.reason).toBe("HeartbeatStale");
    }
  }, 30_000);

  test("a restarted controller counts from when it first sees an agent, and does not revive a dead one", async () => {
    const ns = await cluster.newNamespace("restart");
    const agents = new TestAgents(cluster, ns);
    const first = await startConductor(cluster, ns);
    let firstStopped = false;
    cleanups.add(
      () => (firstStopped ? undefined : first.stop()),
      () => agents.stopAll(),
    );
    await agents.create("alive");
    await agents.create("dead");
    await agents.waitReady("alive", "dead");
    agents.silence("dead");
    await eventually(async () => (await cluster.mcp.agents.get(ns, "dead")).status?.phase === "NotReady", {
      message: "dead NotReady",
    });
    await first.stop();
    firstStopped = true;
    const second = await startConductor(cluster, ns);
    cleanups.add(() => second.stop());
    // The dead agent's last heartbeat is new to this controller, but it never saw one arrive: it
    // stays NotReady, then goes Unknown; the live one stays Ready all along.
    const lost = await eventually(
      async () => {
        const x = await cluster.mcp.agents.get(ns, "dead");
        expect(x.status?.phase).not.toBe("Ready");
        return x.status?.phase === "Unknown" && x;
      },
      { timeout: 15_000, message: "dead Unknown" },
    );
    expect(lost.status?.conditions?.find((c) => c.type === "Ready")?.reason).toBe("HeartbeatLost");
    expect((await cluster.mcp.agents.get(ns, "alive")).status?.phase).toBe("Ready");
  }, 40_000);

  test("a deleted agent's tasks are reassigned too", async () => {
    const { ns, agents } = await setup("deleted");
    await agents.create("gone");
    await createTask(ns, "orphan");
    await waitPhase(ns, "orphan", "Assigned");
    agents.silence("gone");
    await agents.create("other");
    await cluster.mcp.agents.delete(ns, "gone");
    const t = await eventually(async () => {
      const x = await getTask(ns, "orphan");
      return x.status?.assignedAgent === "other" && x;
    });
    // Its first attempt is counted as lost with its agent (it may have started: ADR 0013).
    expect(t.status?.attempts).toBe(2);
  });

  // A Task the gateway created bound to an agent (ADR 0013) is that agent's: the controller
  // writes nothing for it while the agent is Ready, and moves it like any other when it is not.
  test("a task created bound to a Ready agent is left to it; bound to a lost or unknown agent, it is placed elsewhere", async () => {
    const { ns, agents } = await setup("bound");
    await agents.create("holder");
    await agents.create("spare");
    await agents.waitReady("holder", "spare");
    const bound = (name: string, agent: string) =>
      cluster.mcp.tasks.create(ns, {
        metadata: { name, labels: { "mcp.io/bound-agent": agent } },
        spec: { requiredCapabilities: ["x"] },
      });
    await bound("kept", "holder");
    await bound("nobodys", "no-such-agent");
    // Where the controller does act: a bound Task naming no agent it knows is placed at once.
    const placed = await waitPhase(ns, "nobodys", "Assigned");
    expect(placed.status).toMatchObject({ attempts: 2 });
    expect(condition(placed, "Attempt1")?.reason).toBe("AgentLost");
    // The one bound to a Ready agent: no status written (not Pending, not Assigned), its agent counted busy.
    await Bun.sleep(1_500);
    const kept = await getTask(ns, "kept");
    expect(kept.status).toBeUndefined();
    await eventually(async () => (await cluster.mcp.agents.get(ns, "holder")).status?.currentTasks === 1, {
      message: "holder counted with its bound task",
    });
    // Its agent lost: the attempt counts, and the task goes to the other agent.
    agents.silence("holder");
    const moved = await eventually(
      async () => {
        const t = await getTask(ns, "kept");
        return t.status?.assignedAgent === "spare" && t;
      },
      { timeout: 15_000, message: "kept moved to spare" },
    );
    expect(moved.status).toMatchObject({ phase: "Assigned", attempts: 2 });
    expect(condition(moved, "Attempt1")?.reason).toBe("AgentLost");
  }, 40_000);

  test("does not trust the agent's own task count", async () => {
    const { ns, agents } = await setup("count");
    await agents.create("liar");
    await createTask(ns, "one");
    await waitPhase(ns, "one", "Assigned");
    await cluster.mcp.agents.patch(ns, "liar", { status: { currentTasks: 99 } }, "merge", { subresource: "status" });
    // currentTasks-only writes are paced (5 s apart per agent)
    await eventually(async () => (await cluster.mcp.agents.get(ns, "liar")).status?.currentTasks === 1, {
      timeout: 15_000,
    });
  });
});

describe("clean-up, metrics and domains", () => {
  test("deletes finished tasks after their TTL", async () => {
    const { ns, agents } = await setup("ttl");
    await agents.create("w");
    await createTask(ns, "short-lived", { ttlSecondsAfterFinished: 1 });
    await createTask(ns, "kept", { ttlSecondsAfterFinished: 3600 });
    await waitPhase(ns, "short-lived", "Assigned");
    await waitPhase(ns, "kept", "Assigned");
    for (const n of ["short-lived", "kept"])
      await agents.report(n, { phase: "Completed", completionTime: new Date().toISOString() });
    await eventually(async () => (await cluster.mcp.tasks.list(ns)).items.length === 1, { timeout: 8_000 });
    expect((await getTask(ns, "kept")).status?.phase).toBe("Completed");
  });

  test("exports metrics labelled with the domain", async () => {
    const { ns, agents, conductor } = await setup("metrics");
    await agents.create("m");
    await createTask(ns, "measured");
    await waitPhase(ns, "measured", "Assigned");
    const text = await eventually(async () => {
      const t = await conductor.controller.metrics.registry.metrics();
      return t.includes(`mcp_tasks{phase="Assigned",domain="${ns}"} 1`) && t;
    });
    expect(text).toContain(`mcp_agents{phase="Ready",domain="${ns}"} 1`);
    expect(text).toMatch(new RegExp(`mcp_task_assignment_latency_seconds_count\\{domain="${ns}"\\} 1`));
    expect(text).toContain(`mcp_placement_decisions_total{outcome="placed",domain="${ns}"} 1`);
    expect(text).toMatch(new RegExp(`mcp_placement_duration_seconds_count\\{domain="${ns}"\\} [1-9]`));
    expect(text).toContain(`mcp_controller_queue_depth{queue="tasks",domain="${ns}"}`);
  });

  test("never places a task across domains", async () => {
    const one = await setup("domain-one");
    const two = await setup("domain-two");
    await one.agents.create("only-in-one", { capabilities: ["x"] });
    await createTask(two.ns, "in-two");
    const t = await eventually(async () => {
      const x = await getTask(two.ns, "in-two");
      return condition(x, "Scheduled")?.reason === "NoAgentAvailable" && x;
    });
    expect(t.status?.assignedAgent).toBeUndefined();
    await createTask(one.ns, "in-one");
    expect((await waitPhase(one.ns, "in-one", "Assigned")).status?.assignedAgent).toBe("only-in-one");
    await Bun.sleep(500);
    expect((await getTask(two.ns, "in-two")).status?.phase).toBe("Pending");
  });
});
