import { describe, expect, test } from "bun:test";
import { makeTask } from "../../test/harness/builders.ts";
import { assignmentWorthAnEvent, nextPassAfterMs } from "./placement.ts";
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
