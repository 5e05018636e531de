/**
 * The conductor's controller for one domain (namespace): it keeps Agent
 * health from heartbeats and drives every Task through its lifecycle, placing
 * Pending tasks through the scheduler. Three level-triggered reconcilers share
 * two informers: tasks by key (task-reconciler.ts), agents by key
 * (agent-reconciler.ts) and placement, one key per domain so pending tasks are
 * placed highest priority first, in order (placement.ts); the load index
 * (lib/scheduling/load-index.ts) counts each agent's tasks for the last two. This file is the
 * wiring: informers, queues, leader election, start and stop. Only the leader
 * runs reconcilers; every replica keeps its caches warm. A leader that loses
 * its lease stops reconciling and campaigns again.
 */

import { agentLeaseLabel } from "../../lib/agent/lease.ts";
import type { Agent, Plan, Task } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import { isBoundUnstarted } from "../../lib/api/task-state.ts";
import { EventRecorder } from "../../lib/controller/events.ts";
import { LeaderElector } from "../../lib/controller/leader-election.ts";
import { type ReconcileResult, reportOnObject, runWorkers } from "../../lib/controller/reconcile.ts";
import { WorkQueue } from "../../lib/controller/workqueue.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { Informer, objectKey } from "../../lib/kube/informer.ts";
import { type Lease, leaseClient } from "../../lib/kube/leases.ts";
import type { Logger } from "../../lib/log.ts";
import { LoadIndex } from "../../lib/scheduling/load-index.ts";
import { AgentReconciler } from "./agent-reconciler.ts";
import { TaskAudit } from "./audit.ts";
import type { ControllerConfig } from "./config.ts";
import type { Prober } from "./mcp-probe.ts";
import { McpServerOperator } from "./mcp-server-operator.ts";
import { ControllerMetrics } from "./metrics.ts";
import { PlacementReconciler, type Placer } from "./placement.ts";
import { PlanController } from "./plan-reconciler.ts";
import { TaskReconciler } from "./task-reconciler.ts";
import type { TaskStatusWriter } from "./task-status.ts";

// Declared beside placement; main.ts, the test harness and the benches import it from here.
export type { Placer };

export interface ControllerOptions {
  config: ControllerConfig;
  conn: KubeConnection;
  scheduler: Placer;
  log: Logger;
  now?: () => number;
  /**
   * Called when leadership is lost, once reconciling stopped. The controller
   * then campaigns again with its caches warm: an apiserver outage longer than
   * the renew deadline costs no restart (and no CrashLoopBackOff).
   */
  onLostLeadership?: () => void;
  /** The MCP handshake with MCPServers; a real one by default. */
  mcpProber?: Prober;
  /** The audit stream: one record per finished Task (audit.ts); none by default. */
  audit?: Logger;
}

const fieldManager = "mcp-conductor-controller";

export class Controller {
  readonly tasks: Informer<Task>;
  readonly agents: Informer<Agent>;
  /** The agents' Leases, their heartbeats (agent-health.ts); not the leader election's. */
  readonly leases: Informer<Lease>;
  readonly metrics: ControllerMetrics;
  readonly mcpServers: McpServerOperator;
  /** Plans: each step a Task once its dependencies finished (plan-reconciler.ts, ADR 0012). */
  readonly plans: PlanController;
  private readonly clients;
  // New queues each term: stepping down shuts the last ones.
  private taskQueue = new WorkQueue();
  private agentQueue = new WorkQueue();
  private placementQueue = newPlacementQueue();
  private readonly events: EventRecorder;
  private readonly elector: LeaderElector | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly cfg: ControllerConfig;
  private readonly load: LoadIndex;
  private readonly audit?: TaskAudit;
  private readonly taskReconciler: TaskReconciler;
  private readonly agentReconciler: AgentReconciler;
  private readonly placement: PlacementReconciler;
  private workers: Promise<void>[] = [];
  private leading = false;
  private stopping = false;
  /** The last term's reconciles and writes: the next term starts once they are done. */
  private lastTerm: Promise<unknown> = Promise.resolve();
  /** Counts the times this replica became the leader; only the latest term may start. */
  private terms = 0;

  constructor(opts: ControllerOptions) {
    this.cfg = opts.config;
    this.log = opts.log.child({ domain: this.cfg.domain });
    this.now = opts.now ?? Date.now;
    this.clients = mcpClients(opts.conn);
    const ns = this.cfg.namespace;
    this.tasks = new Informer(this.clients.tasks, { namespace: ns, logger: this.log });
    this.agents = new Informer(this.clients.agents, { namespace: ns, logger: this.log });
    this.leases = new Informer(leaseClient(opts.conn), {
      namespace: ns,
      labelSelector: `${agentLeaseLabel}=true`,
      logger: this.log,
    });
    this.events = new EventRecorder(opts.conn, "mcp-conductor-controller", this.cfg.identity, this.log);
    this.metrics = this.newMetrics();
    this.mcpServers = this.newMcpServerOperator(opts);
    this.load = new LoadIndex((key) => this.tasks.getByKey(key));
    this.audit = opts.audit
      ? new TaskAudit({
          conn: opts.conn,
          namespace: ns,
          domain: this.cfg.domain,
          audit: opts.audit,
          log: this.log,
          component: "mcp-conductor-controller",
          instance: this.cfg.identity,
        })
      : undefined;
    const shared = { tasks: this.tasks, agents: this.agents, events: this.events, now: this.now };
    const writeStatus: TaskStatusWriter = (task, status) =>
      this.clients.tasks.replaceStatus({ ...task, status }, { fieldManager });
    this.taskReconciler = new TaskReconciler({
      ...shared,
      namespace: ns,
      defaultTtlSeconds: this.cfg.defaultTtlSecondsAfterFinished,
      minTtlSeconds: this.cfg.minTtlSecondsAfterFinished,
      writeStatus,
      deleteTask: (t) =>
        this.clients.tasks.delete(t.metadata.namespace, t.metadata.name ?? "", { uid: t.metadata.uid }),
      metrics: this.metrics,
      enqueuePlacement: () => this.enqueuePlacement(),
    });
    this.plans = new PlanController({
      conn: opts.conn,
      namespace: ns,
      tasks: this.tasks,
      agents: this.agents,
      events: this.events,
      log: this.log,
      now: this.now,
      defaultTtlSeconds: this.cfg.defaultTtlSecondsAfterFinished,
      minTtlSeconds: this.cfg.minTtlSecondsAfterFinished,
      concurrency: this.cfg.concurrency,
      fieldManager,
      observer: this.metrics,
    });
    // A conductor__run_plan call is recorded when its Plan finishes, as a Task's call is (audit.ts).
    const auditPlan = (p: Plan) => {
      if (this.leading) this.audit?.observePlan(p);
    };
    this.plans.plans.on({ add: auditPlan, update: auditPlan, delete: (p) => this.audit?.forget(p) });
    this.agentReconciler = new AgentReconciler({
      ...shared,
      leases: this.leases,
      load: this.load,
      patchStatus: (a, status) =>
        this.clients.agents.patch(a.metadata.namespace, a.metadata.name ?? "", { status }, "merge", {
          subresource: "status",
          fieldManager,
        }),
      thresholds: {
        notReadyAfterMs: this.cfg.heartbeatTimeoutSeconds * 1000,
        unknownAfterMs: this.cfg.unknownAfterSeconds * 1000,
      },
      enqueueTasksOf: (agent) => this.enqueueTasksOf(agent),
    });
    this.placement = new PlacementReconciler({
      ...shared,
      load: this.load,
      scheduler: opts.scheduler,
      writeStatus,
      writeConcurrency: this.cfg.placementWriteConcurrency,
      metrics: this.metrics,
      enqueue: (afterMs) =>
        afterMs === undefined ? this.enqueuePlacement() : this.placementQueue.addAfter(ns, afterMs),
      isLeading: () => this.leading,
    });
    this.tasks.on({
      add: (t) => this.onTask(t, undefined),
      update: (t, old) => this.onTask(t, old),
      delete: (t) => this.onTaskDeleted(t),
    });
    this.agents.on({
      add: (a) => this.onAgent(a, undefined),
      update: (a, old) => this.onAgent(a, old),
      delete: (a) => this.onAgentDeleted(a),
    });
    // A deleted Lease is no news (its agent makes it again, or its Agent went first).
    this.leases.on({ add: (l) => this.onAgentLease(l), update: (l) => this.onAgentLease(l) });
    this.elector = this.cfg.leaderElection.enabled ? this.newElector(opts) : undefined;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get ready(): boolean {
    return (
      this.tasks.hasSynced &&
      this.agents.hasSynced &&
      this.leases.hasSynced &&
      this.mcpServers.hasSynced &&
      this.plans.hasSynced
    );
  }

  async start(): Promise<void> {
    await Promise.all([
      this.tasks.start(),
      this.agents.start(),
      this.leases.start(),
      this.mcpServers.startCaches(),
      this.plans.startCache(),
    ]);
    this.log.info({ tasks: this.tasks.size, agents: this.agents.size }, "Caches synced");
    if (this.elector) this.elector.start();
    else this.startLeading();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopWorkers();
    await Promise.all(this.workers);
    await this.placement.settled();
    await this.elector?.stop();
    await Promise.all([
      this.tasks.stop(),
      this.agents.stop(),
      this.leases.stop(),
      this.mcpServers.stop(),
      this.plans.stop(),
    ]);
    await this.audit?.flush();
    await this.events.flush();
  }

  /** Reconciles one Task (the task workers call this; public for tests and benches). */
  reconcileTask(key: string, log: Logger): Promise<ReconcileResult | undefined> {
    return this.taskReconciler.reconcile(key, log);
  }

  /** Reconciles one Agent. */
  reconcileAgent(key: string, log: Logger): Promise<ReconcileResult | undefined> {
    return this.agentReconciler.reconcile(key, log);
  }

  /** Runs one placement pass over the domain's pending Tasks. */
  reconcilePlacement(log: Logger): Promise<ReconcileResult | undefined> {
    return this.placement.reconcile(log);
  }

  private newMcpServerOperator(opts: ControllerOptions): McpServerOperator {
    const m = this.cfg.mcpServers;
    return new McpServerOperator({
      conn: opts.conn,
      namespace: this.cfg.namespace,
      log: this.log,
      events: this.events,
      workload: { bridgeImage: m.bridgeImage },
      probeIntervalMs: m.probeIntervalSeconds * 1000,
      probeTimeoutMs: m.probeTimeoutSeconds * 1000,
      concurrency: this.cfg.concurrency,
      observer: this.metrics,
      prober: opts.mcpProber,
    });
  }

  private newElector(opts: ControllerOptions): LeaderElector {
    const le = this.cfg.leaderElection;
    return new LeaderElector(opts.conn, {
      namespace: this.cfg.namespace,
      name: le.leaseName,
      identity: this.cfg.identity,
      leaseDurationMs: le.leaseDurationSeconds * 1000,
      renewDeadlineMs: le.renewDeadlineSeconds * 1000,
      retryPeriodMs: le.retryPeriodSeconds * 1000,
      logger: this.log,
      onStartedLeading: () => void this.lead(),
      onStoppedLeading: () => {
        this.metrics.leader.set(0);
        this.stepDown();
        opts.onLostLeadership?.();
      },
    });
  }

  /** A new term: the last one's reconciles finish first, so no key is reconciled twice at once. */
  private async lead(): Promise<void> {
    const term = ++this.terms;
    await this.lastTerm;
    // Stopped, or lost (and maybe won again) meanwhile: the latest term starts, once.
    if (this.stopping || term !== this.terms || !this.elector?.isLeader) return;
    this.startLeading();
  }

  /** Lost the lease: stop reconciling now; what is in flight finishes before a next term. */
  private stepDown(): void {
    this.stopWorkers();
    const workers = [...this.workers, this.mcpServers.reconciling, this.plans.reconciling];
    this.lastTerm = Promise.all(workers).then(() => this.placement.settled());
    this.log.warn("Stopped reconciling: no longer the leader");
  }

  private startLeading(): void {
    this.leading = true;
    this.metrics.leader.set(1);
    this.log.info("Started reconciling");
    this.taskQueue = new WorkQueue();
    this.agentQueue = new WorkQueue();
    this.placementQueue = newPlacementQueue();
    const c = this.cfg.concurrency;
    const observer = this.metrics;
    this.workers = [
      runWorkers({
        name: "task",
        queue: this.taskQueue,
        reconcile: (k, l) => this.reconcileTask(k, l),
        concurrency: c,
        log: this.log,
        observer,
        onPermanentFailure: reportOnObject((k) => this.tasks.getByKey(k), this.events),
      }),
      runWorkers({
        name: "agent",
        queue: this.agentQueue,
        reconcile: (k, l) => this.reconcileAgent(k, l),
        concurrency: c,
        log: this.log,
        observer,
        onPermanentFailure: reportOnObject((k) => this.agents.getByKey(k), this.events),
      }),
      runWorkers({
        name: "placement",
        queue: this.placementQueue,
        reconcile: (_k, l) => this.reconcilePlacement(l),
        concurrency: 1,
        log: this.log,
        observer,
      }),
    ];
    this.mcpServers.startReconciling();
    this.plans.startReconciling();
    void this.startAuditing();
    // Level-triggered: look at everything once on becoming leader.
    for (const t of this.tasks.list()) this.taskQueue.add(objectKey(t));
    for (const a of this.agents.list()) this.agentQueue.add(objectKey(a));
    this.enqueuePlacement();
  }

  /**
   * The audit trail's part of leading: learn which finished Tasks earlier
   * leaders recorded, then record the rest; new ones as they finish (onTask).
   */
  private async startAuditing(): Promise<void> {
    const audit = this.audit;
    if (!audit) return;
    for (let delayMs = 1000; this.leading; delayMs = Math.min(delayMs * 2, 30_000)) {
      try {
        await audit.seed();
        break;
      } catch (err) {
        this.log.warn({ err, retryInMs: delayMs }, "Could not list the audit Events; trying again");
        await Bun.sleep(delayMs);
      }
    }
    if (!this.leading) return;
    for (const t of this.tasks.list()) audit.observe(t);
    for (const p of this.plans.plans.list()) audit.observePlan(p);
  }

  private stopWorkers(): void {
    this.leading = false;
    this.audit?.reset();
    this.taskQueue.shutdown();
    this.agentQueue.shutdown();
    this.placementQueue.shutdown();
    this.mcpServers.stopReconciling();
    this.plans.stopReconciling();
  }

  private enqueuePlacement(): void {
    this.placementQueue.add(this.cfg.namespace);
  }

  private enqueueAgent(name: string): void {
    this.agentQueue.add(`${this.cfg.namespace}/${name}`);
  }

  private enqueueTasksOf(agent: string): void {
    for (const key of this.load.tasksOn(agent)) this.taskQueue.add(key);
  }

  // ---- informer handlers: they note what the caches need and enqueue keys ----

  private onTask(t: Task, old: Task | undefined): void {
    this.placement.observe(t);
    if (this.leading) this.audit?.observe(t);
    const { released, took } = this.load.observe(t, old);
    if (released) {
      this.enqueueAgent(released);
      this.enqueuePlacement(); // capacity freed
    }
    if (took) this.enqueueAgent(took);
    if (
      (t.status?.phase === "Pending" || t.status?.phase === undefined) &&
      (!old || old.status?.phase !== t.status?.phase)
    ) {
      this.enqueuePlacement();
    }
    this.taskQueue.add(objectKey(t));
  }

  private onTaskDeleted(t: Task): void {
    this.placement.forget(t);
    this.audit?.forget(t);
    const agent = this.load.remove(t);
    if (agent) {
      this.enqueueAgent(agent);
      this.enqueuePlacement();
    }
  }

  private onAgent(a: Agent, old: Agent | undefined): void {
    this.agentReconciler.observe(a);
    this.agentQueue.add(objectKey(a));
    // Heartbeats alone do not change placement; phase, capabilities, tags and capacity do.
    const placementView = (x: Agent | undefined) =>
      x && JSON.stringify([x.status?.phase, x.spec.capabilities, x.spec.tags, x.spec.maxConcurrentTasks]);
    if (placementView(a) !== placementView(old)) {
      this.placement.agentsChanged();
      this.enqueuePlacement();
    }
    if (old?.status?.phase === "Ready" && a.status?.phase !== "Ready") this.enqueueTasksOf(a.metadata.name ?? "");
  }

  /**
   * A heartbeat: noted on every replica; on the agent queue only when it
   * changes the agent's health (a Ready agent's renewals do not). No task or
   * placement work: the Agent's update, when its phase is written, moves
   * those (onAgent).
   */
  private onAgentLease(l: Lease): void {
    if (this.agentReconciler.observeLease(l, !this.leases.hasSynced)) this.agentQueue.add(objectKey(l));
  }

  private onAgentDeleted(a: Agent): void {
    this.agentReconciler.forget(a);
    this.placement.agentsChanged();
    this.enqueueTasksOf(a.metadata.name ?? "");
    this.enqueuePlacement();
  }

  /** The gauges of the domain's state, read from the caches at scrape time. */
  private newMetrics(): ControllerMetrics {
    return new ControllerMetrics(this.cfg.domain, {
      isLeader: () => this.leading,
      // A Task created bound to its agent (ADR 0013) is Assigned in all but its status.
      taskPhases: () =>
        countBy(this.tasks.list(), (t) => t.status?.phase ?? (isBoundUnstarted(t) ? "Assigned" : "New")),
      agentPhases: () => countBy(this.agents.list(), (a) => a.status?.phase ?? "Unknown"),
      queueDepths: () =>
        new Map([
          ["tasks", this.taskQueue.length],
          ["agents", this.agentQueue.length],
          ["placement", this.placementQueue.length],
          ["mcpservers", this.mcpServers.queueDepth],
          ["plans", this.plans.queueDepth],
        ]),
      readyByCapability: () => {
        const m = new Map<string, number>();
        for (const a of this.agents.list()) {
          for (const c of a.spec.capabilities) m.set(c, (m.get(c) ?? 0) + (a.status?.phase === "Ready" ? 1 : 0));
        }
        // A capability a waiting Task needs and no Agent offers has no Ready agent either.
        for (const t of this.tasks.list())
          if ((t.status?.phase === "Pending" || t.status?.phase === undefined) && !isBoundUnstarted(t))
            for (const c of t.spec.requiredCapabilities) if (!m.has(c)) m.set(c, 0);
        return m;
      },
      oldestPendingSeconds: () => {
        let oldest = Number.POSITIVE_INFINITY;
        for (const t of this.tasks.list()) {
          if ((t.status?.phase !== "Pending" && t.status?.phase !== undefined) || isBoundUnstarted(t)) continue;
          oldest = Math.min(oldest, Date.parse(t.metadata.creationTimestamp ?? "") || oldest);
        }
        return Number.isFinite(oldest) ? Math.max(0, (this.now() - oldest) / 1000) : 0;
      },
    });
  }
}

function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

function newPlacementQueue(): WorkQueue {
  return new WorkQueue({ baseDelayMs: 50, maxDelayMs: 5_000 });
}
