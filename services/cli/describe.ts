/**
 * `conductor describe task NAME`: what happened to a Task, in order. The
 * timeline merges the Task's own record (created, started, finished), its
 * conditions (each at its lastTransitionTime) and the core/v1 Events the
 * controller recorded about it, sorted by time.
 */
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { isNotFound } from "../../lib/kube/errors.ts";
import { helpOption, kubeOptions, outputFormat, outputOption, parse } from "./args.ts";
import { connect } from "./connect.ts";
import { CommandError, UsageError } from "./errors.ts";
import { age, formatDocument, formatTable } from "./output.ts";

export const describeUsage = `usage: conductor describe task NAME [flags]

Shows a Task and its timeline: its conditions and its Events, in time order.

Flags:
  -n, --namespace NS      the domain namespace (default: the kubeconfig's, else mcp-system)
  -o, --output FORMAT     json or yaml (default: text)
      --kubeconfig PATH   the kubeconfig (default: $KUBECONFIG, ~/.kube/config)`;

/** One moment in a Task's life. */
export interface TimelineEntry {
  time: string;
  /** Task (its own timestamps), Condition or Event. */
  source: "Task" | "Condition" | "Event";
  /** For an Event Normal or Warning; for a condition its status. */
  type: string;
  reason: string;
  message: string;
  /** How many times an Event was seen, when more than once. */
  count?: number;
  /** The time as milliseconds, for sorting (an Event's `time` has whole seconds). */
  at: number;
}

interface CoreEvent {
  metadata: { name?: string; creationTimestamp?: string };
  involvedObject: { uid?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
}

/**
 * When an Event happened, to the millisecond where possible. Its timestamps
 * are whole seconds, which would sort it before everything else in that
 * second; but recorders name events after the time they were made (client-go
 * `<object>.<hex nanoseconds>`, ours `<object>.<hex milliseconds><4 hex>`),
 * which places it inside the second. Otherwise the second itself.
 */
export function eventTimeMs(name: string | undefined, time: string): number {
  const t = Date.parse(time);
  const hex = /\.([0-9a-f]+)$/.exec(name ?? "")?.[1];
  if (!hex) return t;
  for (const digits of [hex, hex.slice(0, -4)]) {
    const n = Number.parseInt(digits, 16);
    for (const ms of [n, n / 1e6]) if (ms >= t && ms < t + 1000) return Math.floor(ms);
  }
  return t;
}

/** Builds the timeline; entries at the same time keep this order: the Task's, conditions, Events. */
export function timeline(task: Task, events: CoreEvent[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  const s = task.status ?? {};
  const own = (time: string | undefined, reason: string, message: string) => {
    if (time) entries.push({ time, at: Date.parse(time), source: "Task", type: "", reason, message });
  };
  own(task.metadata.creationTimestamp, "Created", `requires ${task.spec.requiredCapabilities.join(", ")}`);
  own(s.startTime, "Started", `running on ${s.assignedAgent ?? "?"} (attempt ${s.attempts ?? 0})`);
  if (s.phase === "Completed") own(s.completionTime, "Completed", `completed on ${s.assignedAgent ?? "?"}`);
  else
    own(s.completionTime, "Finished", s.error ? `${s.phase}: ${s.error.reason}: ${s.error.message}` : (s.phase ?? ""));
  for (const c of s.conditions ?? []) {
    if (!c.lastTransitionTime) continue;
    entries.push({
      time: c.lastTransitionTime,
      at: Date.parse(c.lastTransitionTime),
      source: "Condition",
      type: `${c.type}=${c.status}`,
      reason: c.reason ?? "",
      message: c.message ?? "",
    });
  }
  for (const e of events) {
    const time = e.firstTimestamp || e.eventTime || e.lastTimestamp || e.metadata.creationTimestamp;
    if (!time) continue;
    entries.push({
      time,
      at: eventTimeMs(e.metadata.name, time),
      source: "Event",
      type: e.type ?? "",
      reason: e.reason ?? "",
      message: e.message ?? "",
      ...(e.count && e.count > 1 ? { count: e.count } : {}),
    });
  }
  // Array.prototype.sort is stable, so equal times keep the order above.
  return entries.sort((a, b) => a.at - b.at);
}

export async function runDescribe(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse("describe", args, { ...kubeOptions, ...outputOption, ...helpOption });
  if (values.help) {
    out(`${describeUsage}\n`);
    return 0;
  }
  const format = outputFormat("describe", values.output);
  const [kind, name, ...extra] = positionals;
  if (kind !== "task" && kind !== "tasks") {
    throw new UsageError(
      kind
        ? `describe: cannot describe "${kind}"; only "task" is supported`
        : "describe: name what to describe: task NAME",
    );
  }
  if (!name) throw new UsageError("describe task: name the task");
  if (extra.length > 0) throw new UsageError(`describe: unexpected argument "${extra[0]}"`);

  const target = connect(values);
  let task: Task;
  try {
    task = await mcpClients(target.conn).tasks.get(target.namespace, name);
  } catch (err) {
    if (isNotFound(err)) throw new CommandError(`task "${name}" not found in namespace ${target.namespace}`);
    throw err;
  }
  const fieldSelector = `involvedObject.kind=Task,involvedObject.name=${name}`;
  const events = await target.conn.request<{ items: CoreEvent[] }>(
    "GET",
    `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/events`,
    { query: { fieldSelector } },
  );
  // Events about an earlier Task of the same name are not this one's.
  const mine = events.items.filter((e) => !e.involvedObject.uid || e.involvedObject.uid === task.metadata.uid);
  const entries = timeline(task, mine);

  if (format === "json" || format === "yaml") {
    out(formatDocument({ task, timeline: entries }, format));
    return 0;
  }
  const s = task.status ?? {};
  const field = (label: string, value: unknown) =>
    value === undefined || value === "" ? "" : `${`${label}:`.padEnd(14)}${String(value)}\n`;
  const now = Date.now();
  // Times shown as sorted: to the millisecond, in UTC.
  const rows = entries.map((e) => [
    new Date(e.at).toISOString(),
    age(new Date(e.at).toISOString(), now),
    e.source,
    e.type,
    e.reason,
    e.count ? `${e.message} (x${e.count})` : e.message,
  ]);
  out(
    field("Name", task.metadata.name) +
      field("Namespace", task.metadata.namespace) +
      field("Phase", s.phase ?? "(none yet)") +
      field("Agent", s.assignedAgent) +
      field("Attempts", s.attempts) +
      field("Priority", task.spec.priority) +
      field("Capabilities", task.spec.requiredCapabilities.join(", ")) +
      field("Tool", task.spec.tool) +
      field("Deadline", task.spec.deadline) +
      field("Error", s.error ? `${s.error.reason}: ${s.error.message}` : undefined) +
      "Timeline:\n" +
      formatTable(["TIME", "AGE", "SOURCE", "TYPE", "REASON", "MESSAGE"], rows)
        .map((l) => `  ${l}`)
        .join("\n") +
      "\n",
  );
  return 0;
}
