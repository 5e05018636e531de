// Who made a Task: the marks a call puts on it, and task ownership read back from them.
import { describe, expect, test } from "bun:test";
import type { Task } from "../../../lib/api/resources.ts";
import { groupsHash } from "../auth/subject.ts";
import {
  annotations,
  callerKey,
  callerKeyOfTask,
  callerMarks,
  clientLabelValue,
  labels,
  madeBy,
  sessionLabelValue,
} from "./marks.ts";
import type { Caller } from "./tools.ts";

/** A Task carrying the marks of the caller that made it. */
const taskOf = (caller: Caller): Task => {
  const m = callerMarks(caller);
  return { metadata: { name: "t", labels: m.labels, annotations: m.annotations }, spec: {} as Task["spec"] };
};

const alice: Caller = { client: "alice", subject: { user: "alice@example.com", groups: ["dev", "ops"] } };

describe("marks", () => {
  test("are the documented label and annotation keys (selectors and kubectl rely on them)", () => {
    expect(labels).toEqual({
      createdBy: "mcp.io/created-by",
      session: "mcp.io/mcp-session",
      tool: "mcp.io/tool",
      client: "mcp.io/mcp-client",
      callerGroups: "mcp.io/caller-groups",
    });
    expect(annotations).toEqual({
      requestId: "mcp.io/mcp-request-id",
      callerUser: "mcp.io/caller-user",
      traceparent: "mcp.io/traceparent",
    });
  });

  test("record the client as a label, the groups' digest as a label and the user exactly", () => {
    expect(callerMarks(alice)).toEqual({
      labels: { "mcp.io/mcp-client": "alice", "mcp.io/caller-groups": groupsHash(["dev", "ops"]) },
      annotations: { "mcp.io/caller-user": "alice@example.com" },
    });
  });

  test("a caller without a subject is its client, in no group", () => {
    expect(callerMarks({ client: "bob" })).toEqual({
      labels: { "mcp.io/mcp-client": "bob", "mcp.io/caller-groups": groupsHash([]) },
      annotations: { "mcp.io/caller-user": "bob" },
    });
  });

  test("label values are cut and sanitised, with a hash of the whole", () => {
    const long = `client/${"x".repeat(80)}`;
    const v = clientLabelValue(long);
    expect(v.length).toBeLessThanOrEqual(63);
    expect(v).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]$/);
    expect(clientLabelValue(`${long}y`)).not.toBe(v);
    expect(sessionLabelValue("s".repeat(100))).toHaveLength(63);
    expect(sessionLabelValue("short")).toBe("short");
  });
});

describe("madeBy", () => {
  test("the same client, user and groups (in any order) made it", () => {
    expect(madeBy(taskOf(alice), alice)).toBe(true);
    expect(madeBy(taskOf(alice), { ...alice, subject: { user: "alice@example.com", groups: ["ops", "dev"] } })).toBe(
      true,
    );
    expect(madeBy(taskOf({ client: "bob" }), { client: "bob" })).toBe(true);
  });

  test.each<{ name: string; other: Caller }>([
    { name: "another client", other: { ...alice, client: "mallory" } },
    { name: "another user", other: { ...alice, subject: { user: "mallory", groups: ["dev", "ops"] } } },
    { name: "other groups", other: { ...alice, subject: { user: "alice@example.com", groups: ["dev"] } } },
    { name: "no subject", other: { client: "alice" } },
  ])("$name did not make it", ({ other }) => {
    expect(madeBy(taskOf(alice), other)).toBe(false);
  });

  test("a Task without marks is nobody's", () => {
    const bare: Task = { metadata: { name: "t" }, spec: {} as Task["spec"] };
    expect(callerKeyOfTask(bare)).toBe("\u0000\u0000");
    expect(madeBy(bare, alice)).toBe(false);
    expect(madeBy(bare, { client: "" })).toBe(false);
  });

  test("each part of the key comes from its own mark", () => {
    const t = taskOf(alice);
    expect(callerKeyOfTask(t)).toBe(`alice\u0000${groupsHash(["dev", "ops"])}\u0000alice@example.com`);
    expect(callerKey(alice)).toBe(callerKeyOfTask(t));
    const noUser: Task = { ...t, metadata: { ...t.metadata, annotations: {} } };
    expect(callerKeyOfTask(noUser)).toBe(`alice\u0000${groupsHash(["dev", "ops"])}\u0000`);
    const noLabels: Task = { ...t, metadata: { ...t.metadata, labels: {} } };
    expect(callerKeyOfTask(noLabels)).toBe("\u0000\u0000alice@example.com");
  });
});
