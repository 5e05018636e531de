/**
 * The audit trail of tool calls run as Tasks: when a Task finishes, one
 * record of it (who called, which tool, a digest of the arguments, the
 * outcome, how long it queued and ran, on which agent, the Task's uid and
 * trace) goes to the audit stream, a logger of its own that an operator
 * ships to a SIEM (lines with "log":"audit"), and an Event
 * ToolCallAudited on the Task says the same for kubectl.
 *
 * The leader records it, from the Task as it is finished, whoever finished
 * it (an agent, the controller, a Task made with kubectl). Once per Task:
 * the Event has a name made from the Task's uid, so a second leader's
 * attempt meets 409 and records nothing; a new leader first lists the
 * ToolCallAudited Events to know which Tasks were recorded. Events expire
 * (the apiserver's --event-ttl, an hour by default): a Task that outlived
 * its Event is recorded again by a new leader, and one the last leader did
 * not get to is recorded late, rather than never: at least once, the uid
 * telling repeats apart. The record comes from the Task's own fields: the
 * caller's marks the gateway wrote (client, user, groups digest), not what
 * the agent says.
 */
import { isPlanFinished, planLabels } from "../../lib/api/plan-state.ts";
import type { Plan, Task } from "../../lib/api/resources.ts";
import { isFinallyFailed, isFinished, taskAgent, taskAttempt } from "../../lib/api/task-state.ts";
import { type AuditRecord, argumentsDigest, auditEventReason, auditMessage } from "../../lib/audit/record.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { isConflict } from "../../lib/kube/errors.ts";
import type { Logger } from "../../lib/log.ts";
import { traceIdOfTraceparent, traceparentAnnotation } from "../../lib/trace-context.ts";

/** The Task marks a record takes its caller from (services/gateway/calls/marks.ts writes them). */
const marks = {
  client: "mcp.io/mcp-client",
  callerGroups: "mcp.io/caller-groups",
  callerUser: "mcp.io/caller-user",
  createdBy: planLabels.createdBy,
  plan: planLabels.plan,
  traceparent: traceparentAnnotation,
} as const;

/** Who made a Task or Plan, from the marks the gateway wrote on it, and what made it. */
function callerOf(m: Task["metadata"]): Pick<AuditRecord, "caller" | "createdBy"> {
  const l = m.labels ?? {};
  const a = m.annotations ?? {};
  return {
    caller: {
      ...(a[marks.callerUser] !== undefined ? { user: a[marks.callerUser] } : {}),
      ...(l[marks.client] !== undefined ? { client: l[marks.client] } : {}),
      ...(l[marks.callerGroups] !== undefined ? { groupsDigest: l[marks.callerGroups] } : {}),
    },
    ...(l[marks.createdBy] !== undefined ? { createdBy: l[marks.createdBy] } : {}),
  };
}

const between = (from: string | undefined, to: string | undefined) => {
  const a = from ? Date.parse(from) : Number.NaN;
  const b = to ? Date.parse(to) : Number.NaN;
  return Number.isNaN(a) || Number.isNaN(b) ? undefined : Math.max(0, b - a);
};

/** The audit record of a finished Task. */
export function auditRecordOf(task: Task, domain: string): AuditRecord {
  const l = task.metadata.labels ?? {};
  const a = task.metadata.annotations ?? {};
  const s = task.status ?? {};
  const failed = isFinallyFailed(task) || s.phase === "Failed";
  const toolError = !failed && (s.result as { isError?: unknown } | undefined)?.isError === true;
  const createdAt = task.metadata.creationTimestamp;
  const onAgentAt = s.assignedTime ?? s.startTime;
  const record: AuditRecord = {
    audit: "tool-call",
    domain,
    namespace: task.metadata.namespace ?? "",
    task: task.metadata.name ?? "",
    uid: task.metadata.uid ?? "",
    tool: task.spec.tool ?? l["mcp.io/tool"] ?? "",
    ...callerOf(task.metadata),
    ...(l[marks.plan] !== undefined ? { plan: l[marks.plan] } : {}),
    argumentsDigest: argumentsDigest(task.spec.payload),
    outcome: failed ? "failed" : toolError ? "tool_error" : "completed",
    ...(failed && s.error?.reason ? { reason: s.error.reason } : {}),
    ...(taskAgent(task) ? { agent: taskAgent(task) } : {}),
    attempts: taskAttempt(task),
    ...(createdAt ? { createdAt } : {}),
    ...(s.completionTime ? { finishedAt: s.completionTime } : {}),
  };
  const durationMs = between(createdAt, s.completionTime);
  const queuedMs = between(createdAt, onAgentAt);
  const runMs = between(onAgentAt, s.completionTime);
  const traceId = traceIdOfTraceparent(a[marks.traceparent]);
  return {
    ...record,
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(queuedMs !== undefined ? { queuedMs } : {}),
    ...(runMs !== undefined ? { runMs } : {}),
    ...(traceId ? { traceId } : {}),
  };
}

/** The tool a client runs a Plan with (services/gateway/plans.ts offers it). */
export const runPlanTool = "conductor__run_plan";

/**
 * The audit record of a finished Plan that a client's conductor__run_plan
 * made (its steps' Tasks have records of their own, each naming the plan).
 * The arguments are the plan as asked: its spec, without `cancel`.
 */
export function auditRecordOfPlan(plan: Plan, domain: string): AuditRecord {
  const a = plan.metadata.annotations ?? {};
  const s = plan.status ?? {};
  const { cancel: _cancel, ...asked } = plan.spec as Plan["spec"] & { cancel?: unknown };
  const failed = s.phase === "Failed";
  // a failed plan's Succeeded condition is False, with why (StepFailed, Invalid)
  const reason = failed ? s.conditions?.find((c) => c.type === "Succeeded" && c.status === "False")?.reason : undefined;
  const createdAt = plan.metadata.creationTimestamp;
  const durationMs = between(createdAt, s.completionTime);
  const traceId = traceIdOfTraceparent(a[marks.traceparent]);
  return {
    audit: "tool-call",
    domain,
    namespace: plan.metadata.namespace ?? "",
    plan: plan.metadata.name ?? "",
    uid: plan.metadata.uid ?? "",
    tool: runPlanTool,
    ...callerOf(plan.metadata),
    argumentsDigest: argumentsDigest(asked),
    outcome: s.phase === "Succeeded" ? "completed" : s.phase === "Cancelled" ? "cancelled" : "failed",
    ...(reason ? { reason } : {}),
    ...(createdAt ? { createdAt } : {}),
    ...(s.completionTime ? { finishedAt: s.completionTime } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...(traceId ? { traceId } : {}),
  };
}

/** Whether a Plan is a tool call's (made by the gateway for conductor__run_plan), not one made with kubectl. */
const isToolCallPlan = (p: Plan): boolean => p.metadata.labels?.[marks.createdBy] === "gateway";

/** The name of an object's audit Event: one per uid, so a second try is a 409. */
export const auditEventName = (obj: Task | Plan): string =>
  `${(obj.metadata.name ?? "task").slice(0, 200)}.audit-${(obj.metadata.uid ?? "").replaceAll("-", "").slice(0, 16)}`;

export interface TaskAuditOptions {
  conn: KubeConnection;
  namespace: string;
  domain: string;
  /** The audit stream: one info line per record. */
  audit: Logger;
  /** The controller's own log, for what went wrong. */
  log: Logger;
  component: string;
  instance: string;
}

export class TaskAudit {
  /** Uids of the Tasks recorded, by this leader or (as their Events say) an earlier one. */
  private readonly recorded = new Set<string>();
  private seeded = false;
  /** Counts leadership terms: a seed that ends after its term did counts for nothing. */
  private term = 0;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly o: TaskAuditOptions) {}

  /** On becoming leader: which Tasks earlier leaders recorded (their Events), so none is recorded twice. */
  async seed(): Promise<void> {
    const term = this.term;
    const found: string[] = [];
    let cont: string | undefined;
    do {
      const q = new URLSearchParams({ fieldSelector: `reason=${auditEventReason}`, limit: "500" });
      if (cont) q.set("continue", cont);
      const list = (await this.o.conn.request("GET", `/api/v1/namespaces/${this.o.namespace}/events?${q}`)) as {
        items?: { involvedObject?: { uid?: string } }[];
        metadata?: { continue?: string };
      };
      for (const e of list.items ?? []) if (e.involvedObject?.uid) found.push(e.involvedObject.uid);
      cont = list.metadata?.continue || undefined;
    } while (cont);
    if (term !== this.term) return;
    for (const uid of found) this.recorded.add(uid);
    this.seeded = true;
  }

  /** Records a finished Task once (a no-op for one unfinished, or recorded). Never throws: the reconcile goes on. */
  observe(task: Task): void {
    if (isFinished(task)) this.once(task, () => auditRecordOf(task, this.o.domain));
  }

  /** Records a finished Plan of a conductor__run_plan call once. */
  observePlan(plan: Plan): void {
    if (isToolCallPlan(plan) && isPlanFinished(plan)) this.once(plan, () => auditRecordOfPlan(plan, this.o.domain));
  }

  private once(obj: Task | Plan, recordOf: () => AuditRecord): void {
    const uid = obj.metadata.uid;
    if (!this.seeded || !uid || this.recorded.has(uid)) return;
    this.recorded.add(uid);
    const p = this.record(obj, recordOf()).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Leadership lost: the next term learns afresh what was recorded. */
  reset(): void {
    this.term++;
    this.seeded = false;
    this.recorded.clear();
  }

  /** A Task or Plan deleted: its uid will not be seen again. */
  forget(obj: Task | Plan): void {
    if (obj.metadata.uid) this.recorded.delete(obj.metadata.uid);
  }

  /** Waits for the records begun. */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private async record(obj: Task | Plan, r: AuditRecord): Promise<void> {
    const now = new Date().toISOString();
    const body = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: auditEventName(obj), namespace: this.o.namespace },
      involvedObject: {
        apiVersion: obj.apiVersion ?? "mcp.io/v1",
        kind: obj.kind ?? (r.task ? "Task" : "Plan"),
        name: obj.metadata.name,
        namespace: this.o.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason: auditEventReason,
      message: auditMessage(r).slice(0, 1024),
      type: r.outcome === "completed" ? "Normal" : "Warning",
      source: { component: this.o.component },
      reportingComponent: this.o.component,
      reportingInstance: this.o.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.o.conn.request("POST", `/api/v1/namespaces/${this.o.namespace}/events`, { body });
    } catch (err) {
      // Another leader recorded it first: its record stands.
      if (isConflict(err)) return;
      // The stream is the record; the Event is for people. Say the Event is missing and record all the same.
      this.o.log.warn({ err, task: r.task, plan: r.plan }, "Could not record the audit Event of a tool call");
    }
    this.o.audit.info(r, "tool call");
  }
}
