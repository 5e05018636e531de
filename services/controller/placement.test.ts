import { describe, expect, test } from "bun:test";
import type { Agent, Task } from "../../lib/api/resources.ts";
import type { EventRecorder } from "../../lib/controller/events.ts";
import { type Informer, objectKey } from "../../lib/kube/informer.ts";
import { silentLogger } from "../../lib/log.ts";
import { LoadIndex } from "../../lib/scheduling/load-index.ts";
import type { Candidate } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { makeAgent, makeTask } from "../../test/harness/builders.ts";
import { ControllerMetrics } from "./metrics.ts";
import { assignmentWorthAnEvent, nextPassAfterMs, PlacementReconciler, type Placer } from "./placement.ts";
import { conditionTypes, reasons } from "./task-lifecycle.ts";

const at = new Date("2026-01-01T00:00:00Z");

describe("assignmentWorthAnEvent", () => {
  test.each([
    { name: "a new Task, first placement", task: makeTask().noStatus().obj(), want: false },
    { name: "a Pending Task that never waited", task: makeTask().phase("Pending").obj(), want: false },
    {
      name: "a Task that waited for an agent (NoAgentAvailable)",
      task: makeTask()
        .phase("Pending")
        .condition(conditionTypes.scheduled, "False", at, reasons.noAgentAvailable)
        .obj(),
      want: true,
    },
    {
      name: "a later attempt (retry or reassignment)",
      task: makeTask().phase("Pending").attempts(1).obj(),
      want: true,
    },
  ])("$name → $want", ({ task, want }) => {
    expect(assignmentWorthAnEvent(task)).toBe(want);
  });
});

describe("nextPassAfterMs", () => {
  test.each([
    { name: "the first pass", last: { endedAt: Number.NEGATIVE_INFINITY, tookMs: 0 }, now: 0, wantAtMost: 0 },
    { name: "long after the last pass", last: { endedAt: 1_000, tookMs: 5 }, now: 2_000, wantAtMost: 0 },
    { name: "right after a 5 ms pass: rest as long", last: { endedAt: 1_000, tookMs: 5 }, now: 1_000, want: 5 },
    { name: "2 ms into that rest", last: { endedAt: 1_000, tookMs: 5 }, now: 1_002, want: 3 },
    { name: "after a 4 s pass: at most 250 ms", last: { endedAt: 1_000, tookMs: 4_000 }, now: 1_000, want: 250 },
  ])("$name", ({ last, now, want, wantAtMost }) => {
    const got = nextPassAfterMs(last, now);
    if (want !== undefined) expect(got).toBe(want);
    else expect(got).toBeLessThanOrEqual(wantAtMost as number);
  });
});

describe("PlacementReconciler's candidates", () => {
  /** A pass's inputs from fakes: the Agents and Tasks as the informers would hold them, a placer that notes what it got. */
  function setup() {
    const agents = new Map<string, Agent>(
      ["a", "b"].map((n) => [n, { ...makeAgent(n, { maxConcurrentTasks: 4 }), status: { phase: "Ready" } }]),
    );
    const tasks = new Map<string, Task>();
    const load = new LoadIndex((key) => tasks.get(key));
    const calls: { candidates: Candidate[]; loads: number[]; phases: string[] }[] = [];
    const scheduler: Placer = {
      placeBatch: async (batch, candidates) => {
        calls.push({
          candidates,
          loads: candidates.map((c) => c.currentTasks),
          phases: candidates.map((c) => c.phase),
        });
        return batch.map(() => ({ chosenAgent: "a", candidates: [], topReasons: [], candidateCount: 2 }));
      },
    };
    const reconciler = new PlacementReconciler({
      tasks: { getByKey: (key: string) => tasks.get(key) } as unknown as Informer<Task>,
      agents: { list: () => [...agents.values()] } as unknown as Informer<Agent>,
      load,
      scheduler,
      writeStatus: async (task) => task,
      writeConcurrency: 4,
      events: { record: () => {} } as unknown as EventRecorder,
      metrics: new ControllerMetrics("d", {
        taskPhases: () => new Map(),
        agentPhases: () => new Map(),
        queueDepths: () => new Map(),
        readyByCapability: () => new Map(),
        oldestPendingSeconds: () => 0,
      }),
      now: Date.now,
      enqueue: () => {},
      isLeading: () => true,
    });
    /** A new pending Task, seen by the informer. */
    const arrive = (name: string) => {
      const t = makeTask(name).phase("Pending").obj();
      tasks.set(objectKey(t), t);
      load.observe(t, undefined);
      reconciler.observe(t);
    };
    /** Its assignment to `agent`, back on the watch. */
    const assigned = (name: string, agent: string) => {
      const t = makeTask(name).phase("Assigned").assignedTo(agent).attempts(1).obj();
      const old = tasks.get(objectKey(t));
      tasks.set(objectKey(t), t);
      load.observe(t, old);
      reconciler.observe(t);
    };
    /** A pass, once the rest after the last one is over. */
    const pass = async () => {
      for (;;) {
        const r = await reconciler.reconcile(silentLogger);
        if (!r?.requeueAfterMs) break;
        await Bun.sleep(r.requeueAfterMs);
      }
      await reconciler.settled();
    };
    return { agents, reconciler, calls, arrive, assigned, pass };
  }

  test("passes keep one list while the agents do not change, each with the loads of its time", async () => {
    const { calls, arrive, assigned, pass } = setup();
    arrive("t1");
    await pass();
    assigned("t1", "a");
    arrive("t2");
    await pass();
    expect(calls.map((c) => c.loads)).toEqual([
      [0, 0],
      [1, 0],
    ]);
    expect(calls[1]?.candidates).toBe(calls[0]?.candidates as Candidate[]);
  });

  test("an agent's change, told by agentsChanged, gives the next pass a list built again", async () => {
    const { agents, reconciler, calls, arrive, assigned, pass } = setup();
    arrive("t1");
    await pass();
    assigned("t1", "a");
    agents.set("b", { ...(agents.get("b") as Agent), status: { phase: "NotReady" } });
    reconciler.agentsChanged();
    arrive("t2");
    await pass();
    expect(calls[1]?.candidates).not.toBe(calls[0]?.candidates as Candidate[]);
    expect(calls.map((c) => c.phases)).toEqual([
      ["Ready", "Ready"],
      ["Ready", "NotReady"],
    ]);
    expect(calls[1]?.loads).toEqual([1, 0]);
  });
});
