/**
 * The task reconciler: for one Task key, reads the Task from the cache, asks
 * decideTask what happens next and carries it out: a status write (computed
 * by taskStatusAfter), then the Event, metric and log line that go with it.
 * Placing Tasks is not done here but in one pass for the domain (placement.ts),
 * so that they are placed highest priority first.
 */
import type { Agent, Task } from "../../lib/api/resources.ts";
import { findCondition } from "../../lib/controller/conditions.ts";
import type { EventRecorder } from "../../lib/controller/events.ts";
import type { ReconcileResult } from "../../lib/controller/reconcile.ts";
import { isNotFound } from "../../lib/kube/errors.ts";
import type { Informer } from "../../lib/kube/informer.ts";
import type { Logger } from "../../lib/log.ts";
import { type AgentHealth, readyCondition } from "./agent-health.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { type AgentPhaseView, decideTask, eventReasons, maxAttempts, reasons } from "./task-lifecycle.ts";
import { type DecidedStatusChange, type TaskStatusWriter, taskStatusAfter } from "./task-status.ts";

export interface TaskReconcilerOptions {
  tasks: Informer<Task>;
  agents: Informer<Agent>;
  namespace: string;
  /** For Tasks that name no ttlSecondsAfterFinished. */
  defaultTtlSeconds: number;
  /** The least time a finished Task is kept, whatever it asks for. */
  minTtlSeconds: number;
  writeStatus: TaskStatusWriter;
  /** Deletes a finished Task, only if it is still the one with this UID. */
  deleteTask: (task: Task) => Promise<void>;
  events: EventRecorder;
  metrics: ControllerMetrics;
  now: () => number;
  /** Asks for a placement pass: a Pending Task is placed there, not here. */
  enqueuePlacement: () => void;
}

export class TaskReconciler {
  constructor(private readonly o: TaskReconcilerOptions) {}

  async reconcile(key: string, log: Logger): Promise<ReconcileResult | undefined> {
    const task = this.o.tasks.getByKey(key);
    if (!task || task.metadata.deletionTimestamp) return undefined;
    const tlog = log.child({ task: task.metadata.name, agent: task.status?.assignedAgent });
    const now = this.o.now();
    const d = decideTask(task, now, {
      agentPhase: this.agentPhase,
      defaultTtlSeconds: this.o.defaultTtlSeconds,
      minTtlSeconds: this.o.minTtlSeconds,
    });
    switch (d.kind) {
      case "wait":
        return { requeueAfterMs: d.requeueAfterMs };
      case "awaitPlacement":
        this.o.enqueuePlacement();
        return { requeueAfterMs: d.requeueAfterMs };
      case "delete":
        await this.deleteFinished(task, tlog);
        return undefined;
      default:
        await this.o.writeStatus(task, taskStatusAfter(task, d, now));
        return this.recordWritten(task, d, tlog);
    }
  }

  /** The Event, metric and log line of a status change just written; when to look again. */
  private recordWritten(task: Task, d: DecidedStatusChange, tlog: Logger): ReconcileResult | undefined {
    const { events, metrics } = this.o;
    switch (d.kind) {
      case "fail":
        metrics.taskTransitions.inc({ reason: d.reason });
        events.record(task, "Warning", d.reason, d.message);
        tlog.info({ reason: d.reason }, "Failed Task");
        return undefined;
      case "recordFailedAttempt":
        events.record(
          task,
          "Warning",
          eventReasons.attemptFailed,
          `attempt ${d.attempt} failed (${d.message}); retrying in ${d.retryInMs / 1000}s`,
        );
        tlog.info({ attempt: d.attempt, retryInMs: d.retryInMs }, "Recorded failed attempt");
        // The backoff runs from now: look again when it is over.
        return { requeueAfterMs: d.retryInMs };
      case "retry":
        metrics.taskTransitions.inc({ reason: reasons.retrying });
        events.record(task, "Normal", reasons.retrying, `retrying after attempt ${d.attempt} of ${maxAttempts(task)}`);
        tlog.info({ attempt: d.attempt }, "Retrying Task");
        return undefined;
      case "reassign":
        metrics.taskTransitions.inc({ reason: d.reason });
        events.record(task, "Warning", eventReasons.reassigned, d.message);
        tlog.info({ reason: d.reason }, "Reassigning Task");
        return undefined;
    }
  }

  private async deleteFinished(task: Task, tlog: Logger): Promise<void> {
    try {
      await this.o.deleteTask(task);
      tlog.debug("Deleted finished Task after its TTL");
    } catch (err) {
      // Deleted meanwhile (by its client, or a previous leader): nothing left to do.
      if (!isNotFound(err)) throw err;
    }
  }

  /** An agent's phase as decideTask sees it, from the cache. */
  private readonly agentPhase = (name: string): AgentPhaseView => {
    const agent = this.o.agents.get(this.o.namespace, name);
    if (!agent) return "Missing";
    const ready = findCondition(agent.status?.conditions, readyCondition);
    // Draining is NotReady for new work, but the agent still finishes what it runs.
    const draining: AgentHealth["reason"] = "Draining";
    if (agent.status?.phase === "NotReady" && ready?.reason === draining) return "Draining";
    return agent.status?.phase;
  };
}
