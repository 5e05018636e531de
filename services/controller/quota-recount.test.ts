import { describe, expect, test } from "bun:test";
import { uncountedTasksQuota } from "./quota-recount.ts";

describe("uncountedTasksQuota", () => {
  const q = (spec?: Record<string, string>, hard?: Record<string, string>, used?: Record<string, string>) => ({
    metadata: { name: "mcp-tasks" },
    spec: spec && { hard: spec },
    status: hard || used ? { hard, used } : undefined,
  });
  const limit = { "count/tasks.mcp.io": "10" };
  test.each([
    ["enforced (status.hard), never counted", q(limit, limit, {}), true],
    ["enforced, no used at all", q(limit, limit, undefined), true],
    ["counted", q(limit, limit, { "count/tasks.mcp.io": "0" }), false],
    ["not yet seen by the quota controller (no status): not enforced either", q(limit), false],
    ["a quota on something else", q({ pods: "5" }, { pods: "5" }, {}), false],
  ] as const)("%s → %p", (_, quota, want) => {
    expect(uncountedTasksQuota(quota)).toBe(want);
  });
});
