import { describe, expect, test } from "bun:test";
import type { Candidate, TaskSpec } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import {
  describeNoFit,
  InvalidArgumentError,
  place,
  placeBatch,
  score,
  tieBreak,
  validateCandidates,
  validateTask,
} from "./policy.ts";

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

  test("decisions on the same agent add up until it is full", () => {
    const agents = [agent("a", { maxConcurrentTasks: 2 }), agent("b", { maxConcurrentTasks: 4, currentTasks: 3 })];
    const got = placeBatch(
      ["t1", "t2", "t3", "t4"].map((name) => task({ name })),
      agents,
      1,
    );
    // a: 0/2 then 1/2 score above b's 3/4; full after two, then b takes one and is full.
    expect(got.map((p) => p.chosenAgent)).toEqual(["a", "a", "b", ""]);
    expect(agents.map((a) => a.currentTasks)).toEqual([0, 3]);
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

describe("place: scores and explanations, exactly", () => {
  test("a feasible agent's score and how it was made", () => {
    const t = task({ affinity: { required: ["eu"], preferred: ["ssd", "gpu", "arm"], avoided: ["spot"] } });
    const p = place(t, [
      agent("a", { capabilities: ["data", "fs", "http"], tags: ["eu", "ssd"], maxConcurrentTasks: 3, currentTasks: 1 }),
    ]);
    expect(p).toEqual({
      chosenAgent: "a",
      candidates: [
        {
          agent: "a",
          feasible: true,
          score: 53.333,
          reasons: ["load 1/3 (+40)", "preferred tags 1/3 (+10)", "specialization (+3.333)"],
        },
      ],
      topReasons: [],
      candidateCount: 1,
    });
  });

  test("specialization: the share of the agent's capabilities the task uses", () => {
    const t = task({ requiredCapabilities: ["data", "fs"] });
    const p = place(t, [agent("a", { capabilities: ["data", "fs", "http", "code"] })]);
    expect(p.candidates[0]).toMatchObject({ score: 65, reasons: ["load 0/5 (+60)", "specialization (+5)"] });
  });

  test("score() explains with the same figure place() ranks by", () => {
    const t = task({ affinity: { required: [], preferred: ["ssd"], avoided: [] } });
    const a = agent("a", { tags: ["ssd"], capabilities: ["data", "fs"], currentTasks: 1, maxConcurrentTasks: 4 });
    expect(score(t, a)).toEqual({
      score: 80,
      reasons: ["load 1/4 (+45)", "preferred tags 1/1 (+30)", "specialization (+5)"],
    });
    expect(place(t, [a]).candidates[0]?.score).toBe(80);
  });

  test("explanations kept once made stay right: past the kept texts' bound, and for counts too large to keep", () => {
    // 1,500 distinct names and loads, more than the policy keeps, asked twice:
    // the second round reads texts kept or made again after a clear.
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 1500; i++) {
        const t = task({ requiredCapabilities: [`cap-${i}`], affinity: { required: [], preferred: [], avoided: [] } });
        const p = place(t, [agent("a", { capabilities: ["data"], currentTasks: i, maxConcurrentTasks: i + 1 })]);
        expect(p.candidates[0]?.reasons).toEqual([`missing capability cap-${i}`]);
        expect(score(t, agent("a", { currentTasks: i, maxConcurrentTasks: i + 1 })).reasons[0]).toBe(
          `load ${i}/${i + 1} (+${Math.round((60 / (i + 1)) * 1000) / 1000})`,
        );
      }
    const huge = agent("a", { currentTasks: 2 ** 21, maxConcurrentTasks: 2 ** 22 });
    expect(score(task(), huge).reasons[0]).toBe(`load ${2 ** 21}/${2 ** 22} (+30)`);
    const full = agent("b", { currentTasks: 2 ** 22, maxConcurrentTasks: 2 ** 22 });
    expect(place(task(), [full]).candidates[0]?.reasons).toEqual([`at capacity ${2 ** 22}/${2 ** 22}`]);
  });

  test("a task without affinity: no tag filters, no preferred-tags part", () => {
    const t: TaskSpec = { name: "t1", requiredCapabilities: ["data"], priority: 5, domain: "ns" };
    const p = place(t, [
      agent("a", { tags: ["spot"], currentTasks: 1, maxConcurrentTasks: 2 }),
      agent("b", { domain: "" }),
    ]);
    expect(p.chosenAgent).toBe("a");
    expect(p.candidates).toEqual([
      { agent: "a", feasible: true, score: 40, reasons: ["load 1/2 (+30)", "specialization (+10)"] },
      { agent: "b", feasible: false, score: 0, reasons: ["other domain (none)"] },
    ]);
    expect(p.topReasons).toEqual([]);
  });

  test("an agent with the required tags and none of the avoided ones fits, and says nothing of tags", () => {
    const t = task({ affinity: { required: ["eu"], preferred: [], avoided: ["spot"] } });
    const p = place(t, [agent("a", { tags: ["eu"] }), agent("b", { tags: ["eu"], phase: "NotReady" })]);
    expect(p.chosenAgent).toBe("a");
    expect(p.candidates[1]).toEqual({ agent: "b", feasible: false, score: 0, reasons: ["NotReady"] });
  });

  test("agents that do not fit are listed after those that do, by name, up to the limit", () => {
    const agents = [
      agent("d", { phase: "NotReady" }),
      agent("fit"),
      agent("b", { phase: "NotReady" }),
      agent("c", { phase: "NotReady" }),
      agent("a", { phase: "NotReady" }),
    ];
    expect(place(task(), agents).candidates.map((c) => [c.agent, c.feasible])).toEqual([
      ["fit", true],
      ["a", false],
      ["b", false],
      ["c", false],
      ["d", false],
    ]);
    expect(place(task(), agents, 3).candidates.map((c) => c.agent)).toEqual(["fit", "a", "b"]);
    expect(place(task(), agents, 1).candidates.map((c) => c.agent)).toEqual(["fit"]);
    const none = place(task(), agents.slice(2), 2);
    expect(none.candidates.map((c) => c.agent)).toEqual(["a", "b"]);
    expect(none.topReasons).toEqual(["3 NotReady"]);
  });

  test("the summary keeps the five commonest reasons, ties by name, figures cut off", () => {
    const t = task({ affinity: { required: ["eu"], preferred: [], avoided: ["spot"] } });
    const p = place(t, [
      agent("a", { domain: "east", tags: ["eu"] }),
      agent("b", { domain: "west", tags: ["eu"] }),
      agent("c", { tags: ["eu"], currentTasks: 10, maxConcurrentTasks: 10 }),
      agent("d", { tags: ["eu"], currentTasks: 12, maxConcurrentTasks: 12 }),
      agent("e", { tags: ["eu", "spot"] }),
      agent("f", { tags: ["eu"], phase: "Unknown" }),
      agent("g", { tags: ["eu"], phase: "NotReady" }),
      agent("h"),
      agent("i", { tags: ["eu"], capabilities: [] }),
    ]);
    expect(p.topReasons).toEqual(["2 at capacity", "2 other domain", "1 NotReady", "1 Unknown", "1 avoided tag spot"]);
    expect(p.candidates).toHaveLength(9);
  });

  test("an exact tie of score and hash goes to the first name, whatever the order given", () => {
    // Two names whose tie-break hashes for task t1 collide (found by search).
    expect(tieBreak("t1", "a5zb3ni9f")).toBe(tieBreak("t1", "a1melp9k7"));
    const agents = [agent("a5zb3ni9f"), agent("a1melp9k7")];
    expect(place(task(), agents).candidates.map((c) => c.agent)).toEqual(["a1melp9k7", "a5zb3ni9f"]);
    expect(place(task(), [...agents].reverse()).candidates.map((c) => c.agent)).toEqual(["a1melp9k7", "a5zb3ni9f"]);
    // The same when only the best are listed from many, ranked as they come.
    const busier = Array.from({ length: 16 }, (_, i) => agent(`busier-${i}`, { currentTasks: 1 }));
    for (const order of [[...agents, ...busier], [...busier, ...agents].reverse()])
      for (const k of [1, 2])
        expect(place(task(), order, k).candidates.map((c) => c.agent)).toEqual(["a1melp9k7", "a5zb3ni9f"].slice(0, k));
  });

  test("the tie-break hash is stable: the same numbers in every process and version", () => {
    expect(tieBreak("t1", "a")).toBe(3885237421);
    expect(tieBreak("task", "agent")).toBe(3847699900);
  });
});

describe("validation: every rule and its message", () => {
  const field = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as Error).name).toBe("InvalidArgumentError");
      return (e as Error).message;
    }
    return "accepted";
  };
  test("tasks", () => {
    expect(field(() => validateTask(undefined, "tasks[2]"))).toBe("tasks[2]: is required");
    expect(field(() => validateTask(task({ requiredCapabilities: [] })))).toBe(
      "task.required_capabilities: must name at least one capability",
    );
    expect(field(() => validateTask(task({ requiredCapabilities: ["", "a"] })))).toBe(
      "task.required_capabilities[0]: must not be empty",
    );
    expect(field(() => validateTask(task({ priority: -1 })))).toBe("task.priority: must be between 1 and 10, got -1");
    expect(field(() => validateTask(task({ priority: 11 })))).toBe("task.priority: must be between 1 and 10, got 11");
    for (const priority of [0, 1, 5, 10]) expect(field(() => validateTask(task({ priority })))).toBe("accepted");
  });
  test("candidates", () => {
    expect(field(() => validateCandidates([agent("")]))).toBe("candidates[0].name: is required");
    expect(field(() => validateCandidates([agent("a"), agent("a")]))).toBe("candidates[1].name: duplicate agent a");
    expect(field(() => validateCandidates([agent("a", { maxConcurrentTasks: 0 })]))).toBe(
      "candidates[0].max_concurrent_tasks: must be at least 1",
    );
    expect(field(() => validateCandidates([agent("a"), agent("b", { currentTasks: -1 })]))).toBe(
      "candidates[1].current_tasks: must not be negative",
    );
    expect(
      field(() => validateCandidates([agent("a", { maxConcurrentTasks: 1 }), agent("b", { currentTasks: 0 })])),
    ).toBe("accepted");
  });
});

describe("place: the best few of many", () => {
  test("listing the best k gives the first k of the full ranking, in order, and the same choice", () => {
    // Loads from a small range, so scores tie often and the hash and name decide.
    let seed = 7;
    const next = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 2 ** 32;
    };
    const agents = Array.from({ length: 400 }, (_, i) =>
      agent(`agent-${i}`, {
        currentTasks: Math.floor(next() * 3),
        maxConcurrentTasks: 4,
        tags: next() < 0.3 ? ["ssd"] : [],
        phase: next() < 0.9 ? "Ready" : "NotReady",
      }),
    );
    for (const name of ["t1", "t2", "another-task"]) {
      const t = task({ name, affinity: { required: [], preferred: ["ssd"], avoided: [] } });
      const all = place(t, agents);
      for (const k of [1, 3, 10]) {
        const few = place(t, agents, k);
        expect(few.chosenAgent).toBe(all.chosenAgent);
        expect(few.candidates).toEqual(all.candidates.slice(0, k));
      }
    }
  });
});
