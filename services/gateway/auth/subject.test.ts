import { describe, expect, test } from "bun:test";
import { groupsHash, subjectOf } from "./subject.ts";
import type { Identity } from "./types.ts";

const id = (method: Identity["method"], client: string, groups: string[] = []): Identity => ({
  client,
  method,
  groups,
  scopes: [],
});

describe("subjectOf", () => {
  test("a Kubernetes token keeps the apiserver's user and groups", () => {
    const s = subjectOf(
      id("kubernetes", "system:serviceaccount:ns:sa", ["system:serviceaccounts", "system:authenticated"]),
    );
    expect(s).toEqual({
      user: "system:serviceaccount:ns:sa",
      groups: ["system:authenticated", "system:serviceaccounts"],
    });
  });

  test("an OAuth token cannot pass for a service account or the static-token holders", () => {
    const s = subjectOf(
      id("oauth", "system:serviceaccount:ns:reports", ["mcp.io:static-tokens", "system:masters", "developers"]),
    );
    expect(s).toEqual({
      user: "oauth:system:serviceaccount:ns:reports",
      groups: ["oauth:developers", "system:authenticated"],
    });
  });

  test("a static-token client is its name, in mcp.io:static-tokens; a name under system: is prefixed", () => {
    expect(subjectOf(id("static", "ci-bot", ["ignored"]))).toEqual({
      user: "ci-bot",
      groups: ["mcp.io:static-tokens", "system:authenticated"],
    });
    expect(subjectOf(id("static", "system:admin")).user).toBe("static:system:admin");
  });

  test("open mode's caller is anonymous", () => {
    expect(subjectOf(id("anonymous", "anonymous"))).toEqual({
      user: "system:anonymous",
      groups: ["system:unauthenticated"],
    });
  });

  test("the groups digest ignores order and repeats", () => {
    expect(groupsHash(["b", "a", "a"])).toBe(groupsHash(["a", "b"]));
    expect(groupsHash(["a"])).not.toBe(groupsHash(["a", "b"]));
  });
});
