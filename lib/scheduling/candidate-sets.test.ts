import { describe, expect, test } from "bun:test";
import type { Candidate } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { makeCandidate } from "../../test/harness/builders.ts";
import { CandidateSets, UnknownCandidateSetError } from "./candidate-sets.ts";
import { InvalidArgumentError } from "./policy.ts";

const candidate = (name: string, currentTasks = 0) => makeCandidate(name, { currentTasks });

describe("CandidateSets", () => {
  test("a kept list comes back with the loads given, in its order; unchanged candidates are the same objects", () => {
    const sets = new CandidateSets();
    const list = [candidate("a"), candidate("b", 2)];
    sets.keep("s1", list);
    const got = sets.withLoads("s1", [3, 2]);
    expect(got.map((c) => [c.name, c.currentTasks])).toEqual([
      ["a", 3],
      ["b", 2],
    ]);
    expect(got[1]).toBe(list[1] as Candidate);
    expect(list[0]?.currentTasks).toBe(0); // the kept list is not changed by a call's loads
  });

  test("a list not kept is asked for again", () => {
    const sets = new CandidateSets();
    expect(() => sets.withLoads("nope", [])).toThrow(UnknownCandidateSetError);
    expect(() => sets.withLoads("nope", [])).toThrow("candidate set nope is not kept here: send the candidates again");
  });

  test("the least recently used list goes first when more are kept than allowed", () => {
    const sets = new CandidateSets(2);
    sets.keep("s1", [candidate("a")]);
    sets.keep("s2", [candidate("b")]);
    sets.withLoads("s1", [0]); // s1 used last: s2 is the oldest now
    sets.keep("s3", [candidate("c")]);
    expect(sets.size).toBe(2);
    expect(sets.withLoads("s1", [1])[0]?.name).toBe("a");
    expect(() => sets.withLoads("s2", [0])).toThrow(UnknownCandidateSetError);
    expect(sets.withLoads("s3", [0])[0]?.name).toBe("c");
  });

  test("loads that do not fit the list are refused, naming the field", () => {
    const sets = new CandidateSets();
    sets.keep("s1", [candidate("a"), candidate("b")]);
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgumentError);
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(refusal(() => sets.withLoads("s1", [1]))).toBe(
      "current_tasks: has 1 entries; candidate set s1 has 2 candidates",
    );
    expect(refusal(() => sets.withLoads("s1", [1, -1]))).toBe("current_tasks[1]: must not be negative");
    expect(refusal(() => sets.keep("x".repeat(129), []))).toBe("candidate_set: must be at most 128 characters");
    expect(refusal(() => sets.withLoads("s1", [0, 4]))).toBe("accepted");
  });
});
