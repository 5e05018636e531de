import { describe, expect, test } from "bun:test";
import { parseManifests } from "./apply.ts";
import type { KubeConnection } from "./connection.ts";
import { isAlreadyExists, isConflict, isGone, isNotFound, KubeApiError } from "./errors.ts";
import { ResourceClient } from "./resource-client.ts";

const conn = {} as KubeConnection;

describe("ResourceClient.path", () => {
  const cases = [
    {
      name: "custom namespaced item",
      type: { group: "mcp.io", version: "v1", plural: "tasks", kind: "Task", namespaced: true },
      args: ["ns", "t1", "status"],
      want: "/apis/mcp.io/v1/namespaces/ns/tasks/t1/status",
    },
    {
      name: "custom across namespaces",
      type: { group: "mcp.io", version: "v1", plural: "agents", kind: "Agent", namespaced: true },
      args: [undefined],
      want: "/apis/mcp.io/v1/agents",
    },
    {
      name: "core namespaced",
      type: { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true },
      args: ["ns"],
      want: "/api/v1/namespaces/ns/events",
    },
    {
      name: "cluster-scoped ignores namespace",
      type: { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
      args: ["ignored", "n1"],
      want: "/api/v1/namespaces/n1",
    },
  ] as const;
  test.each(cases)("$name", ({ type, args, want }) => {
    const c = new ResourceClient(conn, type);
    expect(c.path(...(args as unknown as [string | undefined, string?, string?]))).toBe(want);
  });
});

describe("KubeApiError classification", () => {
  const err = (code: number, reason?: string) => new KubeApiError(code, { code, reason, message: "m" }, "GET", "/");
  test.each([
    { given: err(404), check: isNotFound, want: true },
    { given: err(409, "Conflict"), check: isConflict, want: true },
    { given: err(409, "Conflict"), check: isAlreadyExists, want: false },
    { given: err(409, "AlreadyExists"), check: isAlreadyExists, want: true },
    { given: err(410), check: isGone, want: true },
    { given: new Error("x"), check: isNotFound, want: false },
  ])("$check.name on $given.statusCode", ({ given, check, want }) => {
    expect(check(given)).toBe(want);
  });
});

describe("parseManifests", () => {
  test("reads every document and skips empty ones", () => {
    const objs = parseManifests("a: 1\nkind: A\nmetadata: {name: x}\n---\n---\nkind: B\nmetadata: {name: y}\n");
    expect(objs.map((o) => o.kind)).toEqual(["A", "B"]);
  });
  test("reports invalid YAML", () => {
    expect(() => parseManifests("a: [1, 2\n")).toThrow(/invalid YAML/);
  });
});
