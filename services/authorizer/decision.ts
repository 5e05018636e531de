/**
 * The authorizer's one decision (ADR 0011): may this request, a
 * SubjectAccessReview (authorization.k8s.io/v1) that the apiserver sends
 * after RBAC gave no opinion, read Tasks? Yes only for an agent listing or
 * watching Tasks of its own namespace with a field selector that keeps the
 * answer to the Tasks assigned to its pod, or a label selector that keeps it
 * to the Tasks created bound to its pod (ADR 0013):
 *
 *   user          system:serviceaccount:<ns>:mcp-agent, ns == the request's namespace
 *   extra         authentication.kubernetes.io/pod-name: [<pod>]   (a pod-bound token)
 *   request       list or watch mcp.io tasks (no subresource)
 *   fieldSelector a requirement {key: status.assignedAgent, operator: In, values: [<pod>]}
 *   or labelSelector a requirement {key: mcp.io/bound-agent, operator: In, values: [<pod>]}
 *
 * A task bound to one agent and since moved to another still carries the
 * first one's label, so that agent still sees it (and what the controller
 * wrote of where it went); a task's own status says whose it is.
 *
 * The apiserver sends a selector's requirements parsed (KEP-4601): `=` and
 * `==` arrive as operator In with the one value, `!=` as NotIn, and other
 * requirements beside it only narrow the answer further, so they are allowed.
 * It never sends `get`: a get names no selector, so an agent reads a Task by
 * listing with `metadata.name=<name>,status.assignedAgent=<pod>`.
 *
 * Anything else gets no opinion (allowed false, denied false) with the reason:
 * the apiserver then refuses it, as no other authorizer allows it. Pure: no
 * state, no clock, no I/O.
 */

/** A SubjectAccessReview's spec, the parts read here (authorization.k8s.io/v1). */
export interface SubjectAccessReviewSpec {
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
  resourceAttributes?: {
    namespace?: string;
    verb?: string;
    group?: string;
    version?: string;
    resource?: string;
    subresource?: string;
    name?: string;
    fieldSelector?: {
      rawSelector?: string;
      requirements?: { key: string; operator: string; values?: string[] }[];
    };
    labelSelector?: {
      rawSelector?: string;
      requirements?: { key: string; operator: string; values?: string[] }[];
    };
  };
  nonResourceAttributes?: { path?: string; verb?: string };
}

export interface SubjectAccessReview {
  apiVersion: "authorization.k8s.io/v1";
  kind: "SubjectAccessReview";
  spec: SubjectAccessReviewSpec;
}

/** What the authorizer answers: allowed, or no opinion; it never denies outright. */
export interface Decision {
  allowed: boolean;
  reason: string;
}

/** A request that is no SubjectAccessReview v1; its message says what is wrong. */
export class MalformedReview extends Error {
  override readonly name = "MalformedReview";
}

export const agentServiceAccount = "mcp-agent";
/** The key under which a pod-bound service-account token carries its pod's name. */
export const podNameExtra = "authentication.kubernetes.io/pod-name";
export const assignedAgentField = "status.assignedAgent";
/** The label of a Task created bound to an agent (lib/api/task-state.ts). */
export const boundAgentLabel = "mcp.io/bound-agent";

const saUser = /^system:serviceaccount:([^:]+):([^:]+)$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

function optionalString(o: Record<string, unknown>, key: string, where: string): void {
  if (o[key] !== undefined && typeof o[key] !== "string") throw new MalformedReview(`${where}.${key} must be a string`);
}

/**
 * Checks that a parsed body is a SubjectAccessReview v1 whose fields have the
 * types the API gives them; throws MalformedReview naming the first wrong one.
 */
export function parseReview(body: unknown): SubjectAccessReview {
  if (!isObject(body)) throw new MalformedReview("the body must be a JSON object (a SubjectAccessReview)");
  if (body.apiVersion !== "authorization.k8s.io/v1" || body.kind !== "SubjectAccessReview")
    throw new MalformedReview(
      `expected apiVersion authorization.k8s.io/v1, kind SubjectAccessReview, got ${JSON.stringify(body.apiVersion)}, ${JSON.stringify(body.kind)}`,
    );
  const spec = body.spec;
  if (!isObject(spec)) throw new MalformedReview("spec must be an object");
  for (const key of ["user", "uid"]) optionalString(spec, key, "spec");
  if (spec.groups !== undefined && !isStringList(spec.groups))
    throw new MalformedReview("spec.groups must be a list of strings");
  if (spec.extra !== undefined) {
    if (!isObject(spec.extra)) throw new MalformedReview("spec.extra must be an object of string lists");
    for (const [k, v] of Object.entries(spec.extra))
      if (!isStringList(v)) throw new MalformedReview(`spec.extra[${JSON.stringify(k)}] must be a list of strings`);
  }
  const ra = spec.resourceAttributes;
  if (ra !== undefined) {
    if (!isObject(ra)) throw new MalformedReview("spec.resourceAttributes must be an object");
    for (const key of ["namespace", "verb", "group", "version", "resource", "subresource", "name"])
      optionalString(ra, key, "spec.resourceAttributes");
    for (const which of ["fieldSelector", "labelSelector"])
      checkSelector(ra[which], `spec.resourceAttributes.${which}`);
  }
  if (spec.nonResourceAttributes !== undefined && !isObject(spec.nonResourceAttributes))
    throw new MalformedReview("spec.nonResourceAttributes must be an object");
  return body as unknown as SubjectAccessReview;
}

/** Checks a selector of a review's resourceAttributes (KEP-4601: parsed requirements). */
function checkSelector(sel: unknown, where: string): void {
  if (sel === undefined) return;
  if (!isObject(sel)) throw new MalformedReview(`${where} must be an object`);
  optionalString(sel, "rawSelector", where);
  const reqs = sel.requirements;
  if (reqs === undefined) return;
  if (!Array.isArray(reqs)) throw new MalformedReview(`${where}.requirements must be a list`);
  reqs.forEach((r, i) => {
    if (!isObject(r) || typeof r.key !== "string" || typeof r.operator !== "string")
      throw new MalformedReview(`${where}.requirements[${i}] must have a string key and operator`);
    if (r.values !== undefined && !isStringList(r.values))
      throw new MalformedReview(`${where}.requirements[${i}].values must be a list of strings`);
  });
}

/** Whether a selector has `key` = `pod` (In with only that value) among its requirements. */
const selectsOnly = (
  requirements: { key: string; operator: string; values?: string[] }[] | undefined,
  key: string,
  pod: string,
): boolean =>
  (requirements ?? []).some(
    (r) =>
      r.key === key && r.operator === "In" && (r.values?.length ?? 0) > 0 && (r.values ?? []).every((v) => v === pod),
  );

const noOpinion = (reason: string): Decision => ({ allowed: false, reason });

/** The decision on one review (see the module's comment). */
export function decide(spec: SubjectAccessReviewSpec): Decision {
  const sa = saUser.exec(spec.user ?? "");
  if (!sa || sa[2] !== agentServiceAccount)
    return noOpinion(`the authorizer decides only for the ${agentServiceAccount} ServiceAccounts`);
  const saNamespace = sa[1] as string;
  const ra = spec.resourceAttributes;
  if (!ra) return noOpinion("agents may make no non-resource request through this authorizer");
  if (ra.group !== "mcp.io" || ra.resource !== "tasks")
    return noOpinion(`the authorizer decides only on mcp.io tasks, not ${ra.resource ?? ""}.${ra.group ?? ""}`);
  if (ra.subresource) return noOpinion(`the authorizer does not grant tasks/${ra.subresource}`);
  if (ra.namespace !== saNamespace)
    return noOpinion(`an agent may read tasks only in its own namespace ${saNamespace}`);
  const pods = spec.extra?.[podNameExtra] ?? [];
  const pod = pods[0];
  if (pods.length !== 1 || !pod) return noOpinion("an agent reads tasks only with a token bound to its pod");
  const wanted = `agents may list/watch tasks only with fieldSelector ${assignedAgentField}=${pod} or labelSelector ${boundAgentLabel}=${pod}`;
  if (ra.verb === "get")
    return noOpinion(
      `${wanted}; to read one task, list with fieldSelector metadata.name=${ra.name || "<name>"},${assignedAgentField}=${pod}`,
    );
  if (ra.verb !== "list" && ra.verb !== "watch") return noOpinion(`${wanted}; ${ra.verb ?? "no verb"} is not granted`);
  if (selectsOnly(ra.fieldSelector?.requirements, assignedAgentField, pod))
    return { allowed: true, reason: `agent ${pod} may ${ra.verb} the tasks assigned to it` };
  if (selectsOnly(ra.labelSelector?.requirements, boundAgentLabel, pod))
    return { allowed: true, reason: `agent ${pod} may ${ra.verb} the tasks bound to it` };
  return noOpinion(wanted);
}
