import { describe, expect, test } from "bun:test";
import type { Plan, Task } from "../../lib/api/resources.ts";
import { argumentsDigest, auditMessage, canonicalJson } from "../../lib/audit/record.ts";
import { traceIdOfTraceparent as traceIdOf } from "../../lib/trace-context.ts";
import { auditEventName, auditRecordOf, auditRecordOfPlan } from "./audit.ts";

const created = "2026-12-05T10:00:00Z";
const finished = "2026-12-05T10:00:01.250Z";

function finishedTask(status: NonNullable<Task["status"]>, extra: Partial<Task["metadata"]> = {}): Task {
  return {
    apiVersion: "mcp.io/v1",
    kind: "Task",
    metadata: {
      name: "call-abc",
      namespace: "mcp-data",
      uid: "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
      creationTimestamp: created,
      labels: {
        "mcp.io/mcp-client": "claude",
        "mcp.io/caller-groups": "g-1234",
        "mcp.io/created-by": "gateway",
        "mcp.io/tool": "csv_to_json",
      },
      annotations: { "mcp.io/caller-user": "alice@example.com" },
      ...extra,
    },
    spec: { requiredCapabilities: ["csv"], tool: "csv_to_json", payload: { csv: "a,b\n1,2", opts: { z: 1, a: 2 } } },
    status,
  };
}

describe("an audit record", () => {
  test("a completed call: who, what, how long, on which agent", () => {
    const r = auditRecordOf(
      finishedTask({
        phase: "Completed",
        attempts: 1,
        assignedAgent: "agent-1",
        assignedTime: "2026-12-05T10:00:00.050Z",
        completionTime: finished,
        result: { content: [] },
      }),
      "data",
    );
    expect(r).toEqual({
      audit: "tool-call",
      domain: "data",
      namespace: "mcp-data",
      task: "call-abc",
      uid: "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
      tool: "csv_to_json",
      caller: { user: "alice@example.com", client: "claude", groupsDigest: "g-1234" },
      createdBy: "gateway",
      argumentsDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      outcome: "completed",
      agent: "agent-1",
      attempts: 1,
      createdAt: created,
      finishedAt: finished,
      durationMs: 1250,
      queuedMs: 50,
      runMs: 1200,
    });
  });

  test.each([
    {
      name: "a tool's own error",
      status: { phase: "Completed", attempts: 1, completionTime: finished, result: { isError: true } },
      outcome: "tool_error",
      reason: undefined,
    },
    {
      name: "a failure, with its reason",
      status: {
        phase: "Failed",
        attempts: 3,
        completionTime: finished,
        error: { reason: "DeadlineExceeded", message: "late" },
        conditions: [
          { type: "Failed", status: "True", reason: "DeadlineExceeded", message: "late", lastTransitionTime: finished },
        ],
      },
      outcome: "failed",
      reason: "DeadlineExceeded",
    },
  ] as const)("$name", ({ status, outcome, reason }) => {
    const r = auditRecordOf(finishedTask(status as unknown as NonNullable<Task["status"]>), "data");
    expect(r.outcome).toBe(outcome);
    expect(r.reason).toBe(reason);
  });

  test("the arguments digest does not depend on key order, and differs for other arguments", () => {
    const a = finishedTask({ phase: "Completed", completionTime: finished });
    const b = finishedTask({ phase: "Completed", completionTime: finished });
    b.spec.payload = { opts: { a: 2, z: 1 }, csv: "a,b\n1,2" };
    const c = finishedTask({ phase: "Completed", completionTime: finished });
    c.spec.payload = { csv: "a,b\n1,3", opts: { z: 1, a: 2 } };
    expect(auditRecordOf(a, "d").argumentsDigest).toBe(auditRecordOf(b, "d").argumentsDigest);
    expect(auditRecordOf(a, "d").argumentsDigest).not.toBe(auditRecordOf(c, "d").argumentsDigest);
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null, u: undefined })).toBe('{"a":null,"b":[1,{"c":2,"d":1}]}');
  });

  test("the trace id comes from a valid traceparent only", () => {
    expect(traceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).toBe(
      "4bf92f3577b34da6a3ce929d0e0e4736",
    );
    expect(traceIdOf("00-00000000000000000000000000000000-00f067aa0ba902b7-01")).toBeUndefined();
    expect(traceIdOf("garbage")).toBeUndefined();
    expect(traceIdOf(undefined)).toBeUndefined();
    const t = finishedTask(
      { phase: "Completed", completionTime: finished },
      { annotations: { "mcp.io/traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" } },
    );
    expect(auditRecordOf(t, "d").traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  });

  test("a Task made with kubectl has no caller marks: the record says none", () => {
    const t = finishedTask({ phase: "Completed", completionTime: finished }, { labels: {}, annotations: {} });
    const r = auditRecordOf(t, "d");
    expect(r.caller).toEqual({});
    expect(r.createdBy).toBeUndefined();
    expect(auditMessage(r)).toStartWith("tools/call csv_to_json by an unknown caller: completed in 1250 ms");
  });

  test("its Event's name is one per Task uid, and a valid name", () => {
    const t = finishedTask({ phase: "Completed" });
    expect(auditEventName(t)).toBe("call-abc.audit-0a1b2c3d4e5f6071");
    const long = finishedTask({ phase: "Completed" }, { name: "x".repeat(253) });
    expect(auditEventName(long).length).toBeLessThanOrEqual(253);
  });

  test("the Event's message names the caller, outcome, duration, agent, attempt and digest", () => {
    const r = auditRecordOf(
      finishedTask({
        phase: "Completed",
        attempts: 2,
        assignedAgent: "agent-1",
        completionTime: finished,
      }),
      "d",
    );
    expect(auditMessage(r)).toBe(
      `tools/call csv_to_json by alice@example.com (client claude): completed in 1250 ms on agent-1, attempt 2; arguments ${r.argumentsDigest}`,
    );
  });
});

describe("the audit record of a plan run by conductor__run_plan", () => {
  const plan = (status: NonNullable<Plan["status"]>, cancel?: boolean): Plan => ({
    apiVersion: "mcp.io/v1",
    kind: "Plan",
    metadata: {
      name: "report-x1",
      namespace: "mcp-data",
      uid: "11111111-2222-3333-4444-555555555555",
      creationTimestamp: created,
      labels: { "mcp.io/created-by": "gateway", "mcp.io/mcp-client": "claude", "mcp.io/caller-groups": "g-1" },
      annotations: { "mcp.io/caller-user": "alice@example.com" },
    },
    spec: {
      steps: [{ name: "parse", tool: "csv_to_json", payload: { csv: "a\n1" } }],
      ...(cancel ? { cancel } : {}),
    } as Plan["spec"],
    status,
  });

  test("says who ran it, the plan's digest without cancel, how it ended and when", () => {
    const done = auditRecordOfPlan(plan({ phase: "Succeeded", completionTime: finished }), "data");
    expect(done).toEqual({
      audit: "tool-call",
      domain: "data",
      namespace: "mcp-data",
      plan: "report-x1",
      uid: "11111111-2222-3333-4444-555555555555",
      tool: "conductor__run_plan",
      caller: { user: "alice@example.com", client: "claude", groupsDigest: "g-1" },
      createdBy: "gateway",
      argumentsDigest: argumentsDigest({ steps: [{ name: "parse", tool: "csv_to_json", payload: { csv: "a\n1" } }] }),
      outcome: "completed",
      createdAt: created,
      finishedAt: finished,
      durationMs: 1250,
    });
    // a cancelled plan asked for the same thing: the same digest
    const cancelled = auditRecordOfPlan(plan({ phase: "Cancelled", completionTime: finished }, true), "data");
    expect(cancelled).toMatchObject({ outcome: "cancelled", argumentsDigest: done.argumentsDigest });
  });

  test("a failed plan says why, from its Succeeded condition", () => {
    const r = auditRecordOfPlan(
      plan({
        phase: "Failed",
        completionTime: finished,
        conditions: [{ type: "Succeeded", status: "False", reason: "StepFailed", message: "step parse failed" }],
      } as NonNullable<Plan["status"]>),
      "data",
    );
    expect(r).toMatchObject({ outcome: "failed", reason: "StepFailed" });
  });
});
