/**
 * The audit record of one tool call, the same shape whoever writes it: the
 * controller for a call run as a Task (services/controller/audit.ts), the
 * gateway for a call it proxied to an MCPServer (services/gateway/audit.ts).
 * One JSON line each, "log":"audit", on a logger of its own that an operator
 * ships to a SIEM; the arguments themselves stay out of it (a digest only).
 */
import { createHash } from "node:crypto";

/** The reason of the Kubernetes Event that says the same as a record. */
export const auditEventReason = "ToolCallAudited";

export interface AuditRecord {
  audit: "tool-call";
  domain: string;
  namespace: string;
  /** The Task that ran the call; none for a federated call, which has none. */
  task?: string;
  uid?: string;
  /** The federated MCPServer that answered the call, and its own name for the tool. */
  mcpServer?: string;
  upstreamTool?: string;
  tool: string;
  /** Who called, as the gateway authenticated it: the token's user, the client, a digest of the groups. */
  caller: { user?: string; client?: string; groupsDigest?: string };
  /** Who made the Task: a gateway, a plan, or none (kubectl). */
  createdBy?: string;
  plan?: string;
  /** sha256 of the arguments as JSON with sorted keys. */
  argumentsDigest: string;
  /** completed; tool_error (the tool ran and said it failed); failed, with the reason; cancelled by the client. */
  outcome: "completed" | "tool_error" | "failed" | "cancelled";
  reason?: string;
  agent?: string;
  attempts?: number;
  createdAt?: string;
  finishedAt?: string;
  /** Asked → answered; asked → on an agent; on an agent → finished. */
  durationMs?: number;
  queuedMs?: number;
  runMs?: number;
  /** From the W3C traceparent the call carried, when it carried one. */
  traceId?: string;
}

/** JSON with object keys sorted at every depth, so equal arguments have one digest. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v ?? null);
}

export const argumentsDigest = (args: unknown): string =>
  `sha256:${createHash("sha256")
    .update(canonicalJson(args ?? {}))
    .digest("hex")}`;

/** The one line an Event about the record says, for kubectl describe. */
export function auditMessage(r: AuditRecord): string {
  const who = r.caller.user ?? "an unknown caller";
  const client = r.caller.client ? ` (client ${r.caller.client})` : "";
  const how = r.outcome === "failed" ? `failed (${r.reason ?? "unknown reason"})` : r.outcome.replace("_", " ");
  const took = r.durationMs !== undefined ? ` in ${r.durationMs} ms` : "";
  const on = r.agent ? ` on ${r.agent}` : r.mcpServer ? ` on MCPServer ${r.mcpServer}` : "";
  const attempt = r.attempts !== undefined ? `, attempt ${r.attempts}` : "";
  return `tools/call ${r.tool} by ${who}${client}: ${how}${took}${on}${attempt}; arguments ${r.argumentsDigest}${r.traceId ? `; trace ${r.traceId}` : ""}`;
}
