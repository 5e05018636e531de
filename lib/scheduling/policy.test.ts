import { describe, expect, test } from "bun:test";
import type { Candidate, TaskSpec } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { describeNoFit, InvalidArgumentError, place, placeBatch, validateCandidates, validateTask } from "./policy.ts";

const task = (over: Partial<TaskSpec> = {}): TaskSpec => ({
  name: "t1",
  requiredCapabilities: ["data"],
  priority: 5,
  domain: "ns",
  affinity: { required: [], preferred: [], avoided: [] },
  ...over,
});
const agent = (name: string, over: Partial<Candidate> = {}): Candidate => ({
  name,
  domain: "ns",
  capabilities: ["data"],
  tags: [],
  phase: "Ready",
  currentTasks: 0,
  maxConcurrentTasks: 5,
  ...over,
});

describe("place: filters", () => {
  const cases: { name: string; agent: Candidate; task?: Partial<TaskSpec>; reason: string }[] = [
    { name: "missing capability", agent: agent("a", { capabilities: ["fs"] }), reason: "missing capability data" },
    { name: "not ready", agent: agent("a", { phase: "NotReady" }), reason: "NotReady" },
    { name: "unknown", agent: agent("a", { phase: "Unknown" }), reason: "Unknown" },
    { name: "never heartbeated", agent: agent("a", { phase: "" }), reason: "no heartbeat yet" },
    { name: "at capacity", agent: agent("a", { currentTasks: 5 }), reason: "at capacity 5/5" },
    { name: "other domain", agent: agent("a", { domain: "other" }), reason: "other domain other" },
    {
      name: "required tag missing",
      agent: agent("a"),
      task: { affinity: { required: ["gpu"], preferred: [], avoided: [] } },
      reason: "missing required tag gpu",
    },
    {
      name: "avoided tag",
      agent: agent("a", { tags: ["spot"] }),
      task: { affinity: { required: [], preferred: [], avoided: ["spot"] } },
      reason: "avoided tag spot",
    },
  ];
  test.each(cases)("$name", ({ agent: a, task: t, reason }) => {
    const p = place(task(t), [a]);
    expect(p.chosenAgent).toBe("");
    expect(p.candidates[0]).toMatchObject({ agent: "a", feasible: false });
    expect(p.candidates[0]?.reasons).toContain(reason);
  });
});

describe("place: choice", () => {
  test("prefers the less loaded agent", () => {
    const p = place(task(), [agent("busy", { currentTasks: 4 }), agent("idle", { currentTasks: 1 })]);
    expect(p.chosenAgent).toBe("idle");
    expect(p.candidates.map((c) => c.agent)).toEqual(["idle", "busy"]);
  });

  test("prefers agents with more preferred tags", () => {
    const t = task({ affinity: { required: [], preferred: ["ssd", "eu"], avoided: [] } });
    const p = place(t, [agent("plain"), agent("one", { tags: ["ssd"] }), agent("both", { tags: ["eu", "ssd"] })]);
    expect(p.candidates.map((c) => c.agent)).toEqual(["both", "one", "plain"]);
  });

  test("prefers the specialist over a generalist at equal load", () => {
    const p = place(task(), [
      agent("generalist", { capabilities: ["data", "fs", "http", "code"] }),
      agent("specialist"),
    ]);
    expect(p.chosenAgent).toBe("specialist");
  });

  test("is deterministic, and breaks exact ties differently per task so equal agents share work", () => {
    const agents = ["a", "b", "c", "d"].map((n) => agent(n));
    const wins = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const t = task({ name: `task-${i}` });
      const first = place(t, agents).chosenAgent;
      expect(place(t, [...agents].reverse()).chosenAgent).toBe(first);
      wins.set(first, (wins.get(first) ?? 0) + 1);
    }
    expect([...wins.keys()].sort()).toEqual(["a", "b", "c", "d"]);
    for (const n of wins.values()) expect(n).toBeGreaterThan(60); // 100 each on average
  });

  test("summarises why nothing fits", () => {
    const p = place(task(), [
      agent("a", { capabilities: ["fs"] }),
      agent("b", { currentTasks: 5 }),
      agent("c", { capabilities: ["fs"], phase: "NotReady" }),
    ]);
    expect(p.topReasons).toEqual(["2 missing capability data", "1 NotReady", "1 at capacity"]);
    expect(describeNoFit(p)).toBe("0/3 agents fit: 2 missing capability data, 1 NotReady, 1 at capacity");
    expect(describeNoFit(place(task(), []))).toBe("no agents in this domain");
  });
});

describe("placeBatch", () => {
  test("each decision sees the load of the ones before it, in order", () => {
    const agents = [agent("a", { maxConcurrentTasks: 1 }), agent("b", { maxConcurrentTasks: 2, currentTasks: 1 })];
    const got = placeBatch([task({ name: "t1" }), task({ name: "t2" }), task({ name: "t3" })], agents, 1);
    expect(got.map((p) => p.chosenAgent)).toEqual(["a", "b", ""]);
    expect(got[2]?.topReasons).toEqual(["2 at capacity"]);
    expect(got[0]?.candidates).toHaveLength(1); // cut to the limit
    expect(got[2]?.candidateCount).toBe(2);
    expect(agents.map((a) => a.currentTasks)).toEqual([0, 1]); // input untouched
  });
});

describe("validation", () => {
  test.each([
    { name: "no task", given: undefined, field: "task" },
    { name: "no capabilities", given: task({ requiredCapabilities: [] }), field: "task.required_capabilities" },
    {
      name: "empty capability",
      given: task({ requiredCapabilities: ["a", ""] }),
      field: "task.required_capabilities[1]",
    },
    { name: "priority 11", given: task({ priority: 11 }), field: "task.priority" },
  ])("rejects $name naming $field", ({ given, field }) => {
    expect(() => validateTask(given)).toThrow(InvalidArgumentError);
    try {
      validateTask(given);
    } catch (e) {
      expect((e as InvalidArgumentError).field).toBe(field);
    }
  });
  test("rejects bad candidates naming the index", () => {
    expect(() => validateCandidates([agent("a"), agent("")])).toThrow("candidates[1].name");
    expect(() => validateCandidates([agent("a"), agent("a")])).toThrow("duplicate agent a");
    expect(() => validateCandidates([agent("a", { maxConcurrentTasks: 0 })])).toThrow(
      "candidates[0].max_concurrent_tasks",
    );
  });
});
