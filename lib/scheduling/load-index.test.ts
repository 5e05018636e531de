import { describe, expect, test } from "bun:test";
import { makeTask } from "../../test/harness/builders.ts";
import type { Task } from "../api/resources.ts";
import { objectKey } from "../kube/informer.ts";
import { type LoadChange, LoadIndex } from "./load-index.ts";

/** An index over a fake informer cache, fed as the informer would feed it. */
function setup() {
  const cache = new Map<string, Task>();
  const index = new LoadIndex((key) => cache.get(key));
  const see = (t: Task) => {
    const key = objectKey(t);
    const change = index.observe(t, cache.get(key));
    cache.set(key, t);
    return change;
  };
  const remove = (t: Task) => {
    cache.delete(objectKey(t));
    return index.remove(t);
  };
  return { index, see, remove };
}

const pending = (name: string) => makeTask(name).phase("Pending").obj();
const on = (name: string, agent: string, phase: "Assigned" | "Running" = "Assigned") =>
  makeTask(name).phase(phase).assignedTo(agent).attempts(1).obj();

describe("LoadIndex", () => {
  const cases: { name: string; given: Task[]; want: LoadChange; holder?: string }[] = [
    { name: "a new pending task changes no agent", given: [pending("t")], want: {} },
    {
      name: "a task assigned to a takes a",
      given: [pending("t"), on("t", "a")],
      want: { took: "a" },
      holder: "a",
    },
    {
      name: "Assigned to Running on the same agent changes nothing",
      given: [on("t", "a"), on("t", "a", "Running")],
      want: {},
      holder: "a",
    },
    {
      name: "a task finishing releases its agent",
      given: [on("t", "a", "Running"), makeTask("t").phase("Completed").assignedTo("a").obj()],
      want: { released: "a" },
    },
    {
      name: "a task created bound to a takes a",
      given: [makeTask("t").boundTo("a").obj()],
      want: { took: "a" },
      holder: "a",
    },
    {
      name: "a bound task its agent completes at once releases it",
      given: [makeTask("t").boundTo("a").obj(), makeTask("t").boundTo("a").phase("Completed").assignedTo("a").obj()],
      want: { released: "a" },
    },
    {
      name: "a bound task claimed by its agent stays on it",
      given: [makeTask("t").boundTo("a").obj(), makeTask("t").boundTo("a").phase("Running").assignedTo("a").obj()],
      want: {},
      holder: "a",
    },
    {
      name: "a bound task the controller sends back to Pending releases its agent, whatever the label says",
      given: [makeTask("t").boundTo("a").obj(), makeTask("t").boundTo("a").phase("Pending").attempts(1).obj()],
      want: { released: "a" },
    },
    {
      name: "a task moved from a to b releases a and takes b",
      given: [on("t", "a"), on("t", "b")],
      want: { released: "a", took: "b" },
      holder: "b",
    },
  ];
  test.each(cases)("observe: $name", ({ given, want, holder }) => {
    const { index, see } = setup();
    let last = {};
    for (const t of given) last = see(t);
    expect(last).toEqual(want);
    // Only the agent the task occupies now holds it; no other agent (nor "no agent") is counted.
    for (const agent of ["a", "b"]) expect([...index.tasksOn(agent)]).toEqual(agent === holder ? ["ns/t"] : []);
    expect([...index.loads().keys()].every((k) => k === "a" || k === "b")).toBe(true);
  });

  test.each([
    { name: "finished without an agent (failed before placement)", seen: makeTask("t").phase("Failed").obj() },
    { name: "seen with no status at all", seen: makeTask("t").noStatus().obj() },
    { name: "seen Assigned", seen: on("t", "a") },
  ])("an assumption ends when the task is $name", ({ seen }) => {
    const { index, see } = setup();
    see(pending("t"));
    index.assume("ns/t", "a");
    see(seen);
    expect(index.isAssumed("ns/t")).toBe(false);
  });

  test("an assumed assignment counts at once, and only once when the watch brings it", () => {
    const { index, see } = setup();
    see(pending("t1"));
    see(on("t2", "a"));
    index.assume("ns/t1", "a");
    expect(index.isAssumed("ns/t1")).toBe(true);
    expect(index.count("a")).toBe(2);
    expect(index.loads().get("a")).toBe(2);
    // The informer caught up: the assumption goes, the informer's view counts it.
    see(on("t1", "a"));
    expect(index.isAssumed("ns/t1")).toBe(false);
    expect(index.count("a")).toBe(2);
    expect(index.loads().get("a")).toBe(2);
    expect([...index.tasksOn("a")].sort()).toEqual(["ns/t1", "ns/t2"]);
  });

  test("a pending update does not drop the assumption; a failed write does", () => {
    const { index, see } = setup();
    see(pending("t"));
    index.assume("ns/t", "a");
    see(makeTask("t").phase("Pending").attempts(0).obj());
    expect(index.count("a")).toBe(1);
    expect([...index.tasksOn("a")]).toEqual([]);
    index.forget("ns/t");
    expect(index.count("a")).toBe(0);
    expect(index.loads().get("a")).toBeUndefined();
  });

  test("an assumption is not counted twice for placement while the cache already shows the task occupying", () => {
    const { index, see } = setup();
    see(on("t", "a"));
    // As when a write raced a watch event: the key is still assumed while the cache shows it on a.
    index.assume("ns/t", "a");
    expect(index.loads().get("a")).toBe(1);
    expect(index.count("a")).toBe(1);
  });

  test("an agent's count holds its own assumptions, not another agent's", () => {
    const { index, see } = setup();
    see(pending("t1"));
    see(pending("t2"));
    index.assume("ns/t1", "a");
    index.assume("ns/t2", "b");
    expect([index.count("a"), index.count("b"), index.count("c")]).toEqual([1, 1, 0]);
  });

  test("a deleted task releases its agent and its assumption", () => {
    const { index, see, remove } = setup();
    see(on("t1", "a", "Running"));
    see(pending("t2"));
    index.assume("ns/t2", "b");
    expect(remove(on("t1", "a", "Running"))).toBe("a");
    expect(remove(pending("t2"))).toBeUndefined();
    expect(index.count("a")).toBe(0);
    expect(index.count("b")).toBe(0);
    expect(index.isAssumed("ns/t2")).toBe(false);
  });

  test("setLoads sets each agent's count as loads() gives it, zero where it has none, and touches no other agent", () => {
    const { index, see } = setup();
    see(on("t1", "a", "Running"));
    see(on("t2", "a"));
    see(on("t3", "b"));
    see(pending("t4"));
    see(on("t5", "x")); // an agent that is no candidate
    index.assume("ns/t4", "c");
    index.assume("ns/t3", "b"); // already seen on b: counted once
    const byName = new Map(["a", "b", "c", "d"].map((n) => [n, { currentTasks: 7 }]));
    index.setLoads(byName);
    expect(Object.fromEntries([...byName].map(([n, c]) => [n, c.currentTasks]))).toEqual({ a: 2, b: 1, c: 1, d: 0 });
    const loads = index.loads();
    for (const [n, c] of byName) expect(c.currentTasks).toBe(loads.get(n) ?? 0);
  });
});
