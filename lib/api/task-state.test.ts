import { describe, expect, test } from "bun:test";
import { makeTask } from "../../test/harness/builders.ts";
import type { Task } from "./resources.ts";
import { isBoundUnstarted, isFinished, taskAgent, taskAttempt } from "./task-state.ts";

describe("where a Task is, and in which attempt (ADR 0013)", () => {
  const cases: { name: string; given: Task; bound: boolean; agent: string | undefined; attempt: number }[] = [
    { name: "new, unbound", given: makeTask().noStatus().obj(), bound: false, agent: undefined, attempt: 0 },
    { name: "new, bound to a", given: makeTask().noStatus().boundTo("a").obj(), bound: true, agent: "a", attempt: 1 },
    { name: "bound, empty status", given: makeTask().boundTo("a").obj(), bound: true, agent: "a", attempt: 1 },
    {
      name: "bound, started by a",
      given: makeTask().boundTo("a").phase("Running").assignedTo("a").attempts(1).obj(),
      bound: false,
      agent: "a",
      attempt: 1,
    },
    {
      name: "bound to a, moved to b by the controller",
      given: makeTask().boundTo("a").phase("Assigned").assignedTo("b").attempts(2).obj(),
      bound: false,
      agent: "b",
      attempt: 2,
    },
    {
      name: "bound to a, sent back to Pending",
      given: makeTask().boundTo("a").phase("Pending").attempts(1).obj(),
      bound: false,
      agent: undefined,
      attempt: 1,
    },
    {
      name: "placed by the controller",
      given: makeTask().phase("Assigned").assignedTo("c").attempts(3).obj(),
      bound: false,
      agent: "c",
      attempt: 3,
    },
    {
      name: "an assignee but no phase (no bound label): not bound",
      given: makeTask().assignedTo("c").obj(),
      bound: false,
      agent: "c",
      attempt: 0,
    },
  ];
  test.each(cases)("$name", ({ given, bound, agent, attempt }) => {
    expect(isBoundUnstarted(given)).toBe(bound);
    expect(taskAgent(given)).toBe(agent);
    expect(taskAttempt(given)).toBe(attempt);
  });

  test("a bound Task is not finished until its agent says so", () => {
    const t = makeTask().noStatus().boundTo("a").obj();
    expect(isFinished(t)).toBe(false);
    expect(isFinished(makeTask().boundTo("a").phase("Completed").assignedTo("a").obj())).toBe(true);
  });
});
