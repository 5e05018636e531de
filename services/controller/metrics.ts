/**
 * The controller's Prometheus metrics. Every series carries the domain label
 * (a default label of the registry), so one dashboard can show many domains.
 * The gauges of the domain's state (tasks and agents by phase, ready agents
 * per capability, the oldest pending task) come from the leader alone: both
 * replicas hold the same caches, and `sum by (phase) (mcp_tasks)` over both
 * would count every Task twice.
 */

import type { ReconcileObserver } from "../../lib/controller/reconcile.ts";
import { Counter, Gauge, Histogram, Registry } from "../../lib/metrics.ts";

export class ControllerMetrics implements ReconcileObserver {
  readonly registry = new Registry();
  readonly tasks: Gauge<"phase">;
  readonly agents: Gauge<"phase">;
  readonly assignmentLatency: Histogram;
  readonly placementLatency: Histogram;
  readonly placementDecisions: Counter<"outcome">;
  readonly reconcileDuration: Histogram<"controller" | "outcome">;
  readonly reconcileErrors: Counter<"controller">;
  readonly queueDepth: Gauge<"queue">;
  readonly leader: Gauge;
  readonly taskTransitions: Counter<"reason">;
  readonly readyAgentsByCapability: Gauge<"capability">;
  readonly oldestPending: Gauge;

  constructor(
    domain: string,
    collect: {
      taskPhases: () => Map<string, number>;
      agentPhases: () => Map<string, number>;
      queueDepths: () => Map<string, number>;
      readyByCapability: () => Map<string, number>;
      oldestPendingSeconds: () => number;
      /** Whether this replica leads; the domain's state gauges are empty otherwise. */
      isLeader?: () => boolean;
    },
  ) {
    const leads = collect.isLeader ?? (() => true);
    this.registry.setDefaultLabels({ domain });
    const registers = [this.registry];
    this.tasks = new Gauge({
      name: "mcp_tasks",
      help: "Tasks in this domain by phase",
      labelNames: ["phase"],
      registers,
      collect() {
        this.reset();
        if (!leads()) return;
        for (const [phase, n] of collect.taskPhases()) this.set({ phase }, n);
      },
    });
    this.agents = new Gauge({
      name: "mcp_agents",
      help: "Agents in this domain by phase",
      labelNames: ["phase"],
      registers,
      collect() {
        this.reset();
        if (!leads()) return;
        for (const [phase, n] of collect.agentPhases()) this.set({ phase }, n);
      },
    });
    this.queueDepth = new Gauge({
      name: "mcp_controller_queue_depth",
      help: "Keys waiting in each reconcile queue",
      labelNames: ["queue"],
      registers,
      collect() {
        for (const [queue, n] of collect.queueDepths()) this.set({ queue }, n);
      },
    });
    this.assignmentLatency = new Histogram({
      name: "mcp_task_assignment_latency_seconds",
      help: "From the controller first seeing a Task to its first assignment",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.placementLatency = new Histogram({
      name: "mcp_placement_duration_seconds",
      help: "Scheduler PlaceBatch calls, each deciding up to 200 tasks",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.placementDecisions = new Counter({
      name: "mcp_placement_decisions_total",
      help: "Placement decisions by outcome: placed (counted once written), unschedulable",
      labelNames: ["outcome"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "mcp_controller_reconcile_duration_seconds",
      help: "Reconcile durations by controller and outcome (success, error, conflict)",
      labelNames: ["controller", "outcome"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: "mcp_controller_reconcile_errors_total",
      help: "Reconciles that failed (optimistic-lock conflicts excluded)",
      labelNames: ["controller"],
      registers,
    });
    this.leader = new Gauge({ name: "mcp_controller_leader", help: "1 when this replica is the leader", registers });
    this.readyAgentsByCapability = new Gauge({
      name: "mcp_capability_ready_agents",
      help: "Ready agents offering each capability (0: tasks needing it wait)",
      labelNames: ["capability"],
      registers,
      collect() {
        this.reset();
        if (!leads()) return;
        for (const [capability, n] of collect.readyByCapability()) this.set({ capability }, n);
      },
    });
    this.oldestPending = new Gauge({
      name: "mcp_tasks_oldest_pending_seconds",
      help: "Age of the oldest Pending task (0 when none waits)",
      registers,
      collect() {
        this.reset();
        // reset() leaves a gauge without labels at 0, which a standby would export
        if (leads()) this.set(collect.oldestPendingSeconds());
        else this.remove();
      },
    });
    this.taskTransitions = new Counter({
      name: "mcp_task_transitions_total",
      help: "Lifecycle transitions made by the controller, by reason",
      labelNames: ["reason"],
      registers,
    });
  }

  observe(controller: string, seconds: number, outcome: "success" | "error" | "conflict"): void {
    this.reconcileDuration.observe({ controller, outcome }, seconds);
    if (outcome === "error") this.reconcileErrors.inc({ controller });
  }
}
