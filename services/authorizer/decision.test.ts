import { describe, expect, test } from "bun:test";
import { decide, MalformedReview, parseReview, type SubjectAccessReviewSpec } from "./decision.ts";

type ResourceAttributes = NonNullable<SubjectAccessReviewSpec["resourceAttributes"]>;

/** An agent pod's request as the apiserver sends it for `?fieldSelector=status.assignedAgent=agent-a`. */
function review(change: Partial<SubjectAccessReviewSpec> = {}, attrs: Partial<ResourceAttributes> = {}) {
  return {
    user: "system:serviceaccount:mcp-dp:mcp-agent",
    groups: ["system:serviceaccounts", "system:serviceaccounts:mcp-dp", "system:authenticated"],
    uid: "0b6c5f0e",
    extra: {
      "authentication.kubernetes.io/pod-name": ["agent-a"],
      "authentication.kubernetes.io/pod-uid": ["c7d3"],
    },
    ...change,
    resourceAttributes: {
      namespace: "mcp-dp",
      verb: "list",
      group: "mcp.io",
      version: "v1",
      resource: "tasks",
      fieldSelector: { requirements: [{ key: "status.assignedAgent", operator: "In", values: ["agent-a"] }] },
      ...attrs,
    },
  } satisfies SubjectAccessReviewSpec;
}

const selector = (...requirements: { key: string; operator: string; values?: string[] }[]) => ({
  fieldSelector: { requirements },
});
const mine = { key: "status.assignedAgent", operator: "In", values: ["agent-a"] };
const bound = { key: "mcp.io/bound-agent", operator: "In", values: ["agent-a"] };
const labels = (...requirements: { key: string; operator: string; values?: string[] }[]) => ({ requirements });
const wanted =
  "agents may list/watch tasks only with fieldSelector status.assignedAgent=agent-a or labelSelector mcp.io/bound-agent=agent-a";

describe("allowed", () => {
  test.each([
    { name: "a list of its own tasks", given: review(), says: "agent agent-a may list the tasks assigned to it" },
    { name: "a watch of its own tasks", given: review({}, { verb: "watch" }), says: "may watch" },
    {
      name: "one task, by name and assignee (the runtime's read of a task)",
      given: review(
        {},
        { name: "call-1", ...selector({ key: "metadata.name", operator: "In", values: ["call-1"] }, mine) },
      ),
      says: "may list",
    },
    {
      name: "other requirements beside it, which only narrow",
      given: review({}, selector(mine, { key: "status.phase", operator: "NotIn", values: ["Completed"] })),
      says: "may list",
    },
    {
      name: "a label selector as well",
      given: review({}, { labelSelector: { requirements: [{ key: "a", operator: "Exists" }] } }),
      says: "may list",
    },
    {
      name: "the tasks bound to it, by label (ADR 0013)",
      given: review({}, { fieldSelector: undefined, labelSelector: labels(bound) }),
      says: "agent agent-a may list the tasks bound to it",
    },
    {
      name: "one task bound to it, by name and label (the runtime's read of a bound task)",
      given: review(
        {},
        {
          verb: "list",
          name: "call-1",
          ...selector({ key: "metadata.name", operator: "In", values: ["call-1"] }),
          labelSelector: labels(bound),
        },
      ),
      says: "may list the tasks bound to it",
    },
    {
      name: "a watch of the tasks bound to it",
      given: review({}, { verb: "watch", fieldSelector: undefined, labelSelector: labels(bound) }),
      says: "may watch the tasks bound to it",
    },
  ])("$name", ({ given, says }) => {
    const d = decide(given);
    expect(d.allowed).toBe(true);
    expect(d.reason).toContain(says);
  });
});

describe("no opinion", () => {
  test.each([
    { name: "no field selector", given: review({}, { fieldSelector: undefined }), says: wanted },
    { name: "an empty selector", given: review({}, selector()), says: wanted },
    {
      name: "another agent's name",
      given: review({}, selector({ ...mine, values: ["agent-b"] })),
      says: wanted,
    },
    {
      name: "its own name and another's (no such request arrives; In over both is wider)",
      given: review({}, selector({ ...mine, values: ["agent-a", "agent-b"] })),
      says: wanted,
    },
    { name: "the requirement with no values", given: review({}, selector({ ...mine, values: [] })), says: wanted },
    {
      name: "the tasks bound to another agent",
      given: review({}, { fieldSelector: undefined, labelSelector: labels({ ...bound, values: ["agent-b"] }) }),
      says: wanted,
    },
    {
      name: "a bound-agent label that is not In (mcp.io/bound-agent!=agent-b is wider)",
      given: review(
        {},
        { fieldSelector: undefined, labelSelector: labels({ ...bound, operator: "NotIn", values: ["agent-b"] }) },
      ),
      says: wanted,
    },
    {
      name: "the agent's name under another label",
      given: review({}, { fieldSelector: undefined, labelSelector: labels({ ...bound, key: "app" }) }),
      says: wanted,
    },
    {
      name: "its name as a field selector on the label's key (a label is no field)",
      given: review({}, selector({ ...bound })),
      says: wanted,
    },
    {
      name: "NotIn another agent (status.assignedAgent!=agent-b)",
      given: review({}, selector({ ...mine, operator: "NotIn", values: ["agent-b"] })),
      says: wanted,
    },
    {
      name: "only a name, no assignee",
      given: review({}, { name: "x", ...selector({ key: "metadata.name", operator: "In", values: ["x"] }) }),
      says: wanted,
    },
    {
      name: "the assignee only as a raw selector (the apiserver sends requirements)",
      given: review({}, { fieldSelector: { rawSelector: "status.assignedAgent=agent-a" } }),
      says: wanted,
    },
    {
      name: "a get by name, even of its own task",
      given: review({}, { verb: "get", name: "call-1" }),
      says: `${wanted}; to read one task, list with fieldSelector metadata.name=call-1,status.assignedAgent=agent-a`,
    },
    {
      name: "a write",
      given: review({}, { verb: "delete", name: "call-1" }),
      says: `${wanted}; delete is not granted`,
    },
    {
      name: "deletecollection by its own selector",
      given: review({}, { verb: "deletecollection" }),
      says: "not granted",
    },
    {
      name: "another namespace",
      given: review({}, { namespace: "mcp-other" }),
      says: "an agent may read tasks only in its own namespace mcp-dp",
    },
    {
      name: "every namespace",
      given: review({}, { namespace: "" }),
      says: "an agent may read tasks only in its own namespace mcp-dp",
    },
    {
      name: "a subresource",
      given: review({}, { subresource: "status", verb: "get" }),
      says: "does not grant tasks/status",
    },
    {
      name: "another resource",
      given: review({}, { resource: "agents" }),
      says: "only on mcp.io tasks, not agents.mcp.io",
    },
    { name: "another group", given: review({}, { group: "example.com" }), says: "not tasks.example.com" },
    {
      name: "a token not bound to a pod",
      given: review({ extra: {} }),
      says: "an agent reads tasks only with a token bound to its pod",
    },
    {
      name: "two pod names",
      given: review({ extra: { "authentication.kubernetes.io/pod-name": ["agent-a", "agent-b"] } }),
      says: "bound to its pod",
    },
    {
      name: "another ServiceAccount",
      given: review({ user: "system:serviceaccount:mcp-dp:mcp-gateway" }),
      says: "mcp-agent",
    },
    { name: "a user named like it", given: review({ user: "mcp-agent" }), says: "mcp-agent" },
    {
      name: "a ServiceAccount name with a suffix",
      given: review({ user: "system:serviceaccount:mcp-dp:mcp-agent-x" }),
      says: "mcp-agent",
    },
    { name: "no user", given: review({ user: undefined }), says: "mcp-agent" },
    {
      name: "a non-resource request",
      given: { ...review(), resourceAttributes: undefined, nonResourceAttributes: { path: "/healthz", verb: "get" } },
      says: "no non-resource request",
    },
  ])("$name", ({ given, says }) => {
    const d = decide(given);
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain(says);
  });
});

describe("parseReview", () => {
  const ok = { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: review() };

  test("takes a review as the apiserver sends it", () => {
    expect(parseReview(ok).spec).toEqual(review());
  });

  test.each([
    { name: "not an object", given: [], says: "the body must be a JSON object" },
    { name: "null", given: null, says: "the body must be a JSON object" },
    { name: "v1beta1", given: { ...ok, apiVersion: "authorization.k8s.io/v1beta1" }, says: "expected apiVersion" },
    {
      name: "another kind",
      given: { ...ok, kind: "TokenReview" },
      says: 'got "authorization.k8s.io/v1", "TokenReview"',
    },
    { name: "no spec", given: { ...ok, spec: undefined }, says: "spec must be an object" },
    {
      name: "a label selector's requirement without an operator",
      given: { ...ok, spec: review({}, { labelSelector: { requirements: [{ key: "mcp.io/bound-agent" }] } as never }) },
      says: "spec.resourceAttributes.labelSelector.requirements[0] must have a string key and operator",
    },
    {
      name: "a label selector that is a string",
      given: { ...ok, spec: review({}, { labelSelector: "mcp.io/bound-agent=agent-a" as never }) },
      says: "spec.resourceAttributes.labelSelector must be an object",
    },
    { name: "a numeric user", given: { ...ok, spec: { user: 7 } }, says: "spec.user must be a string" },
    {
      name: "groups not a list",
      given: { ...ok, spec: { groups: "a" } },
      says: "spec.groups must be a list of strings",
    },
    {
      name: "extra with a string",
      given: { ...ok, spec: { extra: { "authentication.kubernetes.io/pod-name": "a" } } },
      says: 'spec.extra["authentication.kubernetes.io/pod-name"] must be a list of strings',
    },
    {
      name: "resourceAttributes a list",
      given: { ...ok, spec: { resourceAttributes: [] } },
      says: "spec.resourceAttributes must be an object",
    },
    {
      name: "a numeric verb",
      given: { ...ok, spec: { resourceAttributes: { verb: 1 } } },
      says: "spec.resourceAttributes.verb must be a string",
    },
    {
      name: "requirements not a list",
      given: { ...ok, spec: { resourceAttributes: { fieldSelector: { requirements: {} } } } },
      says: "fieldSelector.requirements must be a list",
    },
    {
      name: "a requirement without operator",
      given: { ...ok, spec: { resourceAttributes: { fieldSelector: { requirements: [{ key: "a" }] } } } },
      says: "requirements[0] must have a string key and operator",
    },
    {
      name: "values with a number",
      given: {
        ...ok,
        spec: { resourceAttributes: { fieldSelector: { requirements: [{ key: "a", operator: "In", values: [1] }] } } },
      },
      says: "requirements[0].values must be a list of strings",
    },
    {
      name: "nonResourceAttributes a string",
      given: { ...ok, spec: { nonResourceAttributes: "/" } },
      says: "spec.nonResourceAttributes must be an object",
    },
  ])("refuses $name", ({ given, says }) => {
    expect(() => parseReview(given)).toThrow(MalformedReview);
    expect(() => parseReview(given)).toThrow(says);
  });
});
