/**
 * The audit records of federated tool calls. A call the gateway proxies to an
 * MCPServer becomes no Task, so no controller sees it finish: the gateway that
 * made it writes its record, on the audit stream the controller's records go
 * to (lib/audit/record.ts, same shape), and a ToolCallAudited Event on the
 * MCPServer. One Event per call is one more apiserver write per federated
 * call; recording is off with the stream ("off").
 */
import { type AuditRecord, argumentsDigest, auditEventReason, auditMessage } from "../../lib/audit/record.ts";
import type { EventRecorder } from "../../lib/controller/events.ts";
import type { KubeObject } from "../../lib/kube/resource-client.ts";
import type { Logger } from "../../lib/log.ts";
import { traceIdOfTraceparent } from "../../lib/trace-context.ts";
import { groupsHash } from "./auth/subject.ts";
import { clientLabelValue } from "./calls/marks.ts";
import { type Caller, subjectOfCaller } from "./calls/tools.ts";

/** One federated call as it ended. */
export interface FederatedCall {
  tool: string;
  mcpServer: string;
  upstreamTool: string;
  caller: Caller;
  arguments: Record<string, unknown>;
  outcome: AuditRecord["outcome"];
  /** Why it failed, when it did. */
  reason?: string;
  startedAt: Date;
  finishedAt: Date;
  traceparent?: string;
}

/** The audit record of a federated call. */
export function federatedAuditRecord(c: FederatedCall, namespace: string): AuditRecord {
  const subject = subjectOfCaller(c.caller);
  const traceId = traceIdOfTraceparent(c.traceparent);
  return {
    audit: "tool-call",
    domain: namespace,
    namespace,
    mcpServer: c.mcpServer,
    upstreamTool: c.upstreamTool,
    tool: c.tool,
    caller: { user: subject.user, client: clientLabelValue(c.caller.client), groupsDigest: groupsHash(subject.groups) },
    argumentsDigest: argumentsDigest(c.arguments),
    outcome: c.outcome,
    ...(c.outcome === "failed" && c.reason ? { reason: c.reason } : {}),
    createdAt: c.startedAt.toISOString(),
    finishedAt: c.finishedAt.toISOString(),
    durationMs: Math.max(0, c.finishedAt.getTime() - c.startedAt.getTime()),
    ...(traceId ? { traceId } : {}),
  };
}

export interface FederatedAuditOptions {
  namespace: string;
  /** The audit stream: one info line per record. */
  audit: Logger;
  events: EventRecorder;
  /** The MCPServer as the gateway's informer holds it, for the Event's object. */
  server: (name: string) => KubeObject | undefined;
}

export class FederatedAudit {
  constructor(private readonly o: FederatedAuditOptions) {}

  record(call: FederatedCall): void {
    const r = federatedAuditRecord(call, this.o.namespace);
    this.o.audit.info(r, "tool call");
    const server = this.o.server(call.mcpServer) ?? {
      apiVersion: "mcp.io/v1",
      kind: "MCPServer",
      metadata: { name: call.mcpServer, namespace: this.o.namespace },
    };
    this.o.events.record(server, r.outcome === "completed" ? "Normal" : "Warning", auditEventReason, auditMessage(r));
  }
}
