import { describe, expect, test } from "bun:test";
import type { Agent } from "../../lib/api/resources.ts";
import type { EventRecorder } from "../../lib/controller/events.ts";
import type { Informer } from "../../lib/kube/informer.ts";
import type { Lease } from "../../lib/kube/leases.ts";
import { silentLogger } from "../../lib/log.ts";
import type { LoadIndex } from "../../lib/scheduling/load-index.ts";
import { AgentReconciler } from "./agent-reconciler.ts";

const START = Date.parse("2026-01-01T00:00:00Z");

/** Agents with fresh Leases, in fake caches; a status write lands in the cache at once, as its watch event would. */
function domain(names: string[]) {
  let now = START;
  const agents = new Map<string, Agent>(
    names.map((n) => [
      `ns/${n}`,
      { metadata: { name: n, namespace: "ns", uid: `uid-${n}`, generation: 1 }, spec: { capabilities: ["x"] } },
    ]),
  );
  const lease = (n: string): Lease => ({
    metadata: { name: n, namespace: "ns" },
    spec: { holderIdentity: n, renewTime: new Date(START).toISOString() },
  });
  const load = new Map<string, number>();
  const writes: { agent: string; currentTasks: number | undefined; at: number }[] = [];
  const reconciler = new AgentReconciler({
    agents: { getByKey: (k: string) => agents.get(k), size: agents.size } as unknown as Informer<Agent>,
    leases: { getByKey: (k: string) => lease(k.split("/")[1] ?? "") } as unknown as Informer<Lease>,
    load: { count: (n: string) => load.get(n) ?? 0 } as unknown as LoadIndex,
    patchStatus: async (a, status) => {
      writes.push({ agent: a.metadata.name ?? "", currentTasks: status.currentTasks, at: now - START });
      const key = `ns/${a.metadata.name}`;
      agents.set(key, { ...a, status: { ...a.status, ...status } });
    },
    events: { record: () => {} } as unknown as EventRecorder,
    now: () => now,
    thresholds: { notReadyAfterMs: 60_000, unknownAfterMs: 120_000 },
    enqueueTasksOf: () => {},
  });
  for (const a of agents.values()) reconciler.observe(a);
  return {
    reconciler,
    writes,
    load,
    reconcile: (n: string) => reconciler.reconcile(`ns/${n}`, silentLogger),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("AgentReconciler: currentTasks writes", () => {
  test("a health change is written at once; a count change alone waits for the agent's pace", async () => {
    const d = domain(["a"]);
    await d.reconcile("a");
    expect(d.writes).toEqual([{ agent: "a", currentTasks: 0, at: 0 }]);
    d.load.set("a", 3);
    // 5 s since the last write of this agent, at least.
    expect(await d.reconcile("a")).toEqual({ requeueAfterMs: 5_000 });
    d.advance(5_000);
    await d.reconcile("a");
    expect(d.writes.at(-1)).toEqual({ agent: "a", currentTasks: 3, at: 5_000 });
  });

  test("count changes of many agents at once are spread at 10 writes a second across the domain", async () => {
    const names = ["a", "b", "c", "d"];
    const d = domain(names);
    for (const n of names) await d.reconcile(n); // each becomes Ready: written at once
    expect(d.writes.map((w) => w.at)).toEqual([0, 0, 0, 0]);
    d.advance(10_000);
    for (const n of names) d.load.set(n, 1);
    const waits = [];
    for (const n of names) waits.push(await d.reconcile(n));
    // The first agent writes now; the others hold slots 100 ms apart.
    expect(d.writes.slice(4)).toEqual([{ agent: "a", currentTasks: 1, at: 10_000 }]);
    expect(waits.slice(1)).toEqual([{ requeueAfterMs: 100 }, { requeueAfterMs: 200 }, { requeueAfterMs: 300 }]);
    // Reconciled early (another event), an agent keeps its slot rather than taking a new one.
    expect(await d.reconcile("c")).toEqual({ requeueAfterMs: 200 });
    for (const [i, n] of ["b", "c", "d"].entries()) {
      d.advance(100);
      await d.reconcile(n);
      expect(d.writes.at(-1)).toEqual({ agent: n, currentTasks: 1, at: 10_000 + 100 * (i + 1) });
    }
  });
});
