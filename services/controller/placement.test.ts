import { describe, expect, test } from "bun:test";
import { makeTask } from "../../test/harness/builders.ts";
import { assignmentWorthAnEvent } from "./placement.ts";
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
