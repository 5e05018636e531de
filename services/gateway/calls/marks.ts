/**
 * What a gateway's Task says about its call, as labels (selectable, cut to
 * 63 characters) and annotations (exact): which gateway made it, for which
 * tool, client and session, the caller's user and a digest of its groups,
 * and the JSON-RPC id of the request.
 */
import type { Task } from "../../../lib/api/resources.ts";
import { labelValue } from "../../../lib/kube/labels.ts";
import { traceparentAnnotation } from "../../../lib/trace-context.ts";
import { groupsHash } from "../auth/subject.ts";
import { type Caller, subjectOfCaller } from "./tools.ts";

export const labels = {
  createdBy: "mcp.io/created-by",
  session: "mcp.io/mcp-session",
  tool: "mcp.io/tool",
  /** The authenticated MCP client that made the call. */
  client: "mcp.io/mcp-client",
  /** A digest of the caller's groups (auth/subject.ts groupsHash). */
  callerGroups: "mcp.io/caller-groups",
} as const;
export const annotations = {
  requestId: "mcp.io/mcp-request-id",
  /** The caller's user, exactly (a label value would have to be cut or changed). */
  callerUser: "mcp.io/caller-user",
  /** The W3C trace context the call came with: the audit record's trace id, and where a trace continues. */
  traceparent: traceparentAnnotation,
} as const;

/** The label value that records a client identity (distinct clients never share one: task ownership reads it). */
export const clientLabelValue = (client: string) => labelValue(client);

/** The label value that records a session (a sealed id is longer than a label: cut, with a hash of the whole). */
export const sessionLabelValue = (sessionId: string) => labelValue(sessionId);

/** The labels and annotations that record who made a call on its Task. */
export function callerMarks(caller: Caller): { labels: Record<string, string>; annotations: Record<string, string> } {
  const subject = subjectOfCaller(caller);
  return {
    labels: { [labels.client]: clientLabelValue(caller.client), [labels.callerGroups]: groupsHash(subject.groups) },
    annotations: { [annotations.callerUser]: subject.user },
  };
}

/**
 * Whether a Task (or a Plan) was made by this caller: the same client, user and groups.
 * Client label values are cut and sanitised, so two clients may share one;
 * the user annotation is exact, and a caller whose groups changed is another
 * caller to RBAC, and here too.
 */
export function madeBy(t: Pick<Task, "metadata">, caller: Caller): boolean {
  return callerKeyOfTask(t) === callerKey(caller);
}

/** One key per caller (client, user, groups), the same from the caller and from its Tasks. */
export function callerKey(caller: Caller): string {
  const subject = subjectOfCaller(caller);
  return `${clientLabelValue(caller.client)}\u0000${groupsHash(subject.groups)}\u0000${subject.user}`;
}

export function callerKeyOfTask(t: Pick<Task, "metadata">): string {
  const l = t.metadata.labels ?? {};
  return `${l[labels.client] ?? ""}\u0000${l[labels.callerGroups] ?? ""}\u0000${t.metadata.annotations?.[annotations.callerUser] ?? ""}`;
}
