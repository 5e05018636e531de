/**
 * The conductor's controller for one domain (namespace): it keeps Agent
 * health from heartbeats and drives every Task through its lifecycle, placing
 * Pending tasks through the scheduler. Three level-triggered reconcilers share
 * two informers: tasks (by key), agents (by key) and placement (one key per
 * domain, so pending tasks are placed highest priority first, in order).
 * Only the leader runs reconcilers; every replica keeps its caches warm. A
 * leader that loses its lease stops reconciling and campaigns again.
 */
import pLimit from "p-limit";
import type { Agent, Task } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import { conditionDiffers, findCondition, setCondition } from "../../lib/controller/conditions.ts";
import { EventRecorder } from "../../lib/controller/events.ts";
import { LeaderElector } from "../../lib/controller/leader-election.ts";
import { type ReconcileResult, runWorkers } from "../../lib/controller/reconcile.ts";
import { WorkQueue } from "../../lib/controller/workqueue.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { isConflict, isNotFound } from "../../lib/kube/errors.ts";
import { Informer, objectKey } from "../../lib/kube/informer.ts";
import type { Logger } from "../../lib/log.ts";
import { occupiesAgent, toCandidate, toTaskSpec } from "../../lib/scheduling/candidates.ts";
import { describeNoFit } from "../../lib/scheduling/policy.ts";
import type { Candidate, Placement } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { agentHealth, type HeartbeatSighting, observeHeartbeat } from "./agent-health.ts";
import type { ControllerConfig } from "./config.ts";
import type { Prober } from "./mcp-probe.ts";
import { McpServerOperator } from "./mcp-server-operator.ts";
import { ControllerMetrics } from "./metrics.ts";
import { type AgentPhaseView, conditionTypes, decideTask, reasons } from "./task-lifecycle.ts";

/** What the controller needs of the scheduler; the gRPC client in production. */
export interface Placer {
  placeBatch(
    tasks: ReturnType<typeof toTaskSpec>[],
    candidates: Candidate[],
    candidateLimit?: number,
  ): Promise<Placement[]>;
}

/** The shortest gap between two writes of an agent's currentTasks alone. */
const agentCountWriteIntervalMs = 5_000;

/** Tasks per PlaceBatch call: big enough to amortise sending the candidates, small enough to stream writes. */
const placementBatchSize = 200;

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
}

const fieldManager = "mcp-conductor-controller";

export class Controller {
  readonly tasks: Informer<Task>;
  readonly agents: Informer<Agent>;
  readonly metrics: ControllerMetrics;
  readonly mcpServers: McpServerOperator;
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
  /** Tasks occupying each agent, from the informer: agent name → task keys. */
  private readonly tasksByAgent = new Map<string, Set<string>>();
  /** Assignments written but not yet seen by the informer: task key → agent. */
  private readonly assumed = new Map<string, string>();
  /** When the controller first saw each unassigned task, for the latency histogram. */
  private readonly firstSeen = new Map<string, number>();
  private workers: Promise<void>[] = [];
  private readonly writeLimit: ReturnType<typeof pLimit>;
  /** Placement writes in flight, and the tasks they are for (kept out of the next pass). */
  private readonly writes = new Set<Promise<void>>();
  private readonly writing = new Set<string>();
  /**
   * When this replica saw each Agent's heartbeat change, by its own clock:
   * health is judged by that, never by the time the agent wrote. Kept by every
   * replica, leading or not, so a new leader knows which agents it saw alive.
   */
  private readonly heartbeats = new Map<string, HeartbeatSighting>();
  /** When each agent's status was last written, to pace currentTasks updates. */
  private readonly agentStatusWrittenAt = new Map<string, number>();
  private leading = false;
  private stopping = false;
  /** The last term's reconciles and writes: the next term starts once they are done. */
  private lastTerm: Promise<unknown> = Promise.resolve();
  /** Counts the times this replica became the leader; only the latest term may start. */
  private terms = 0;

  constructor(private readonly opts: ControllerOptions) {
    this.cfg = opts.config;
    this.writeLimit = pLimit(this.cfg.placementWriteConcurrency);
    this.log = opts.log.child({ domain: this.cfg.domain });
    this.now = opts.now ?? Date.now;
    this.clients = mcpClients(opts.conn);
    const ns = this.cfg.namespace;
    this.tasks = new Informer(this.clients.tasks, { namespace: ns, logger: this.log });
    this.agents = new Informer(this.clients.agents, { namespace: ns, logger: this.log });
    this.events = new EventRecorder(opts.conn, "mcp-conductor-controller", this.cfg.identity, this.log);
    this.metrics = new ControllerMetrics(this.cfg.domain, {
      isLeader: () => this.leading,
      taskPhases: () => countBy(this.tasks.list(), (t) => t.status?.phase ?? "New"),
      agentPhases: () => countBy(this.agents.list(), (a) => a.status?.phase ?? "Unknown"),
      queueDepths: () =>
        new Map([
          ["tasks", this.taskQueue.length],
          ["agents", this.agentQueue.length],
          ["placement", this.placementQueue.length],
          ["mcpservers", this.mcpServers.queueDepth],
        ]),
      readyByCapability: () => {
        const m = new Map<string, number>();
        for (const a of this.agents.list()) {
          for (const c of a.spec.capabilities) m.set(c, (m.get(c) ?? 0) + (a.status?.phase === "Ready" ? 1 : 0));
        }
        return m;
      },
      oldestPendingSeconds: () => {
        let oldest = Number.POSITIVE_INFINITY;
        for (const t of this.tasks.list()) {
          if (t.status?.phase !== "Pending" && t.status?.phase !== undefined) continue;
          oldest = Math.min(oldest, Date.parse(t.metadata.creationTimestamp ?? "") || oldest);
        }
        return Number.isFinite(oldest) ? Math.max(0, (this.now() - oldest) / 1000) : 0;
      },
    });
    this.mcpServers = new McpServerOperator({
      conn: opts.conn,
      namespace: ns,
      log: this.log,
      events: this.events,
      workload: { bridgeImage: this.cfg.mcpServers.bridgeImage },
      probeIntervalMs: this.cfg.mcpServers.probeIntervalSeconds * 1000,
      probeTimeoutMs: this.cfg.mcpServers.probeTimeoutSeconds * 1000,
      concurrency: this.cfg.concurrency,
      observer: this.metrics,
      prober: opts.mcpProber,
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
    if (this.cfg.leaderElection.enabled) {
      const le = this.cfg.leaderElection;
      this.elector = new LeaderElector(opts.conn, {
        namespace: ns,
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
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get ready(): boolean {
    return this.tasks.hasSynced && this.agents.hasSynced && this.mcpServers.hasSynced;
  }

  async start(): Promise<void> {
    await Promise.all([this.tasks.start(), this.agents.start(), this.mcpServers.startCaches()]);
    this.log.info({ tasks: this.tasks.size, agents: this.agents.size }, "Caches synced");
    if (this.elector) this.elector.start();
    else this.startLeading();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopWorkers();
    await Promise.all(this.workers);
    await Promise.all([...this.writes]);
    await this.elector?.stop();
    await Promise.all([this.tasks.stop(), this.agents.stop(), this.mcpServers.stop()]);
    await this.events.flush();
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
    const workers = [...this.workers, this.mcpServers.reconciling];
    this.lastTerm = Promise.all(workers).then(() => Promise.all([...this.writes]));
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
        onPermanentFailure: (k, err) => this.reportPermanentFailure(this.tasks.get(...splitKey(k)), err),
      }),
      runWorkers({
        name: "agent",
        queue: this.agentQueue,
        reconcile: (k, l) => this.reconcileAgent(k, l),
        concurrency: c,
        log: this.log,
        observer,
        onPermanentFailure: (k, err) => this.reportPermanentFailure(this.agents.get(...splitKey(k)), err),
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
    // Level-triggered: look at everything once on becoming leader.
    for (const t of this.tasks.list()) this.taskQueue.add(objectKey(t));
    for (const a of this.agents.list()) this.agentQueue.add(objectKey(a));
    this.enqueuePlacement();
  }

  /** A reconcile that retrying cannot fix shows on its object as a Warning Event, in the apiserver's words. */
  private reportPermanentFailure(obj: Task | Agent | undefined, err: Error): void {
    if (obj) this.events.record(obj, "Warning", "ReconcileFailed", err.message);
  }

  private stopWorkers(): void {
    this.leading = false;
    this.taskQueue.shutdown();
    this.agentQueue.shutdown();
    this.placementQueue.shutdown();
    this.mcpServers.stopReconciling();
  }

  private enqueuePlacement(): void {
    this.placementQueue.add(this.cfg.namespace);
  }

  // ---- informer handlers: they only enqueue keys ----

  private onTask(t: Task, old: Task | undefined): void {
    const key = objectKey(t);
    if (!this.firstSeen.has(key) && !t.status?.assignedAgent && (t.status?.attempts ?? 0) === 0)
      this.firstSeen.set(key, this.now());
    if (t.status?.assignedAgent || t.status?.phase !== "Pending") this.assumed.delete(key);
    const was = old && occupiesAgent(old) ? old.status?.assignedAgent : undefined;
    const is = occupiesAgent(t) ? t.status?.assignedAgent : undefined;
    if (was !== is) {
      if (was) {
        this.tasksByAgent.get(was)?.delete(key);
        this.agentQueue.add(`${this.cfg.namespace}/${was}`);
        this.enqueuePlacement(); // capacity freed
      }
      if (is) {
        const set = this.tasksByAgent.get(is) ?? new Set<string>();
        this.tasksByAgent.set(is, set);
        set.add(key);
        this.agentQueue.add(`${this.cfg.namespace}/${is}`);
      }
    }
    if (
      (t.status?.phase === "Pending" || t.status?.phase === undefined) &&
      (!old || old.status?.phase !== t.status?.phase)
    ) {
      this.enqueuePlacement();
    }
    this.taskQueue.add(key);
  }

  private onTaskDeleted(t: Task): void {
    const key = objectKey(t);
    this.assumed.delete(key);
    this.firstSeen.delete(key);
    const agent = occupiesAgent(t) ? t.status?.assignedAgent : undefined;
    if (agent) {
      this.tasksByAgent.get(agent)?.delete(key);
      this.agentQueue.add(`${this.cfg.namespace}/${agent}`);
      this.enqueuePlacement();
    }
  }

  private onAgent(a: Agent, old: Agent | undefined): void {
    const key = objectKey(a);
    this.heartbeats.set(key, observeHeartbeat(this.heartbeats.get(key), a, this.now()));
    this.agentQueue.add(key);
    // Heartbeats alone do not change placement; phase, capabilities, tags and capacity do.
    const placementView = (x: Agent | undefined) =>
      x && JSON.stringify([x.status?.phase, x.spec.capabilities, x.spec.tags, x.spec.maxConcurrentTasks]);
    if (placementView(a) !== placementView(old)) this.enqueuePlacement();
    if (old?.status?.phase === "Ready" && a.status?.phase !== "Ready") this.enqueueTasksOf(a.metadata.name ?? "");
  }

  private onAgentDeleted(a: Agent): void {
    this.heartbeats.delete(objectKey(a));
    this.enqueueTasksOf(a.metadata.name ?? "");
    this.enqueuePlacement();
  }

  private enqueueTasksOf(agent: string): void {
    for (const key of this.tasksByAgent.get(agent) ?? []) this.taskQueue.add(key);
  }

  // ---- reconcilers ----

  private agentPhase = (name: string): AgentPhaseView => {
    const agent = this.agents.get(this.cfg.namespace, name);
    if (!agent) return "Missing";
    const ready = findCondition(agent.status?.conditions, "Ready");
    if (agent.status?.phase === "NotReady" && ready?.reason === "Draining") return "Draining";
    return agent.status?.phase;
  };

  private async writeTaskStatus(task: Task, status: NonNullable<Task["status"]>): Promise<Task> {
    return this.clients.tasks.replaceStatus(
      { ...task, status: { ...status, observedGeneration: task.metadata.generation } },
      { fieldManager },
    );
  }

  async reconcileTask(key: string, log: Logger): Promise<ReconcileResult | undefined> {
    const task = this.tasks.getByKey(key);
    if (!task || task.metadata.deletionTimestamp) return undefined;
    const tlog = log.child({ task: task.metadata.name, agent: task.status?.assignedAgent });
    const now = this.now();
    const nowDate = new Date(now);
    const gen = task.metadata.generation;
    const status = task.status ?? {};
    const d = decideTask(task, now, {
      agentPhase: this.agentPhase,
      defaultTtlSeconds: this.cfg.defaultTtlSecondsAfterFinished,
    });

    switch (d.kind) {
      case "wait":
        return { requeueAfterMs: d.requeueAfterMs };
      case "awaitPlacement":
        this.enqueuePlacement();
        return { requeueAfterMs: d.requeueAfterMs };
      case "fail": {
        const error =
          d.reason === reasons.deadlineExceeded || !status.error
            ? { reason: d.reason, message: d.message, retryable: false }
            : status.error;
        await this.writeTaskStatus(task, {
          ...status,
          phase: "Failed",
          completionTime: nowDate.toISOString(),
          error,
          conditions: setCondition(
            status.conditions,
            { type: conditionTypes.failed, status: "True", reason: d.reason, message: d.message },
            nowDate,
            gen,
          ),
        });
        this.metrics.taskTransitions.inc({ reason: d.reason });
        this.events.record(task, "Warning", d.reason, d.message);
        tlog.info({ reason: d.reason }, "Failed Task");
        return undefined;
      }
      case "recordFailedAttempt":
        await this.writeTaskStatus(task, {
          ...status,
          conditions: setCondition(
            status.conditions,
            { type: conditionTypes.attempt(d.attempt), status: "False", reason: d.reason, message: d.message },
            nowDate,
            gen,
          ),
        });
        this.events.record(
          task,
          "Warning",
          "AttemptFailed",
          `attempt ${d.attempt} failed (${d.message}); retrying in ${d.retryInMs / 1000}s`,
        );
        tlog.info({ attempt: d.attempt, retryInMs: d.retryInMs }, "Recorded failed attempt");
        return { requeueAfterMs: d.retryInMs };
      case "retry":
        await this.writeTaskStatus(task, {
          ...status,
          phase: "Pending",
          assignedAgent: undefined,
          assignedTime: undefined,
          startTime: undefined,
          error: undefined,
          result: undefined,
          // the last attempt's progress and messages are not the next one's
          progress: undefined,
          messages: undefined,
          conditions: setCondition(
            status.conditions,
            {
              type: conditionTypes.scheduled,
              status: "False",
              reason: reasons.retrying,
              message: `retrying after attempt ${d.attempt}`,
            },
            nowDate,
            gen,
          ),
        });
        this.metrics.taskTransitions.inc({ reason: reasons.retrying });
        this.events.record(
          task,
          "Normal",
          reasons.retrying,
          `retrying after attempt ${d.attempt} of ${(task.spec.retryPolicy?.maxRetries ?? 3) + 1}`,
        );
        tlog.info({ attempt: d.attempt }, "Retrying Task");
        return undefined;
      case "reassign": {
        const attempts = status.attempts ?? 0;
        let conditions = setCondition(
          status.conditions,
          { type: conditionTypes.scheduled, status: "False", reason: d.reason, message: d.message },
          nowDate,
          gen,
        );
        if (d.reason === reasons.agentLost) {
          conditions = setCondition(
            conditions,
            { type: conditionTypes.attempt(attempts), status: "False", reason: reasons.agentLost, message: d.message },
            nowDate,
            gen,
          );
        }
        await this.writeTaskStatus(task, {
          ...status,
          phase: "Pending",
          // An agent that vanished before starting does not use up an attempt.
          attempts: d.reason === reasons.reassigned ? Math.max(0, attempts - 1) : attempts,
          assignedAgent: undefined,
          assignedTime: undefined,
          startTime: undefined,
          progress: undefined,
          messages: undefined,
          conditions,
        });
        this.metrics.taskTransitions.inc({ reason: d.reason });
        this.events.record(task, "Warning", "Reassigned", d.message);
        tlog.info({ reason: d.reason }, "Reassigning Task");
        return undefined;
      }
      case "delete":
        try {
          await this.clients.tasks.delete(task.metadata.namespace, task.metadata.name ?? "", {
            uid: task.metadata.uid,
          });
          tlog.debug("Deleted finished Task after its TTL");
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        return undefined;
    }
  }

  async reconcileAgent(key: string, log: Logger): Promise<ReconcileResult | undefined> {
    const agent = this.agents.getByKey(key);
    const name = key.slice(key.indexOf("/") + 1);
    if (!agent) {
      this.enqueueTasksOf(name);
      return undefined;
    }
    const now = this.now();
    const seen = observeHeartbeat(this.heartbeats.get(key), agent, now);
    this.heartbeats.set(key, seen);
    const health = agentHealth(agent, seen, now, {
      notReadyAfterMs: this.cfg.heartbeatTimeoutSeconds * 1000,
      unknownAfterMs: this.cfg.unknownAfterSeconds * 1000,
    });
    // Counted from the Tasks themselves, never taken from the agent.
    const current = new Set(this.tasksByAgent.get(name) ?? []);
    for (const [k, a] of this.assumed) if (a === name) current.add(k);
    const currentTasks = current.size;
    const gen = agent.metadata.generation;
    const ready = {
      type: "Ready",
      status: health.phase === "Ready" ? "True" : health.phase === "NotReady" ? "False" : "Unknown",
      reason: health.reason,
      message: health.message,
    } as const;
    const status = agent.status ?? {};
    const healthChanged =
      status.phase !== health.phase ||
      status.observedGeneration !== gen ||
      conditionDiffers(status.conditions, ready, gen);
    if (!healthChanged && status.currentTasks !== currentTasks) {
      // currentTasks is for people (placement counts from its own index):
      // pace those writes so a burst of assignments costs one write per agent.
      const wait = (this.agentStatusWrittenAt.get(key) ?? 0) + agentCountWriteIntervalMs - now;
      if (wait > 0) return { requeueAfterMs: Math.min(wait, health.recheckInMs ?? wait) };
    }
    if (healthChanged || status.currentTasks !== currentTasks) {
      this.agentStatusWrittenAt.set(key, now);
      const conditions = setCondition(status.conditions, ready, new Date(now), gen);
      await this.clients.agents.patch(
        agent.metadata.namespace,
        name,
        { status: { phase: health.phase, currentTasks, observedGeneration: gen, conditions } },
        "merge",
        { subresource: "status", fieldManager },
      );
      if (status.phase !== health.phase) {
        const alog = log.child({ agent: name });
        if (health.phase === "Ready") this.events.record(agent, "Normal", "AgentReady", health.message);
        else this.events.record(agent, "Warning", "AgentNotReady", `${health.phase}: ${health.message}`);
        alog.info({ from: status.phase ?? "(none)", to: health.phase }, "Agent phase changed");
        if (health.phase !== "Ready") this.enqueueTasksOf(name);
      }
    }
    return { requeueAfterMs: health.recheckInMs };
  }

  async reconcilePlacement(log: Logger): Promise<ReconcileResult | undefined> {
    const pending = this.tasks
      .list()
      .filter(
        (t) =>
          (t.status?.phase === "Pending" || t.status?.phase === undefined) &&
          !t.metadata.deletionTimestamp &&
          !this.assumed.has(objectKey(t)) &&
          !this.writing.has(objectKey(t)),
      );
    if (pending.length === 0) return undefined;
    // Highest priority first; first in, first out within a priority.
    pending.sort(
      (a, b) =>
        (b.spec.priority ?? 5) - (a.spec.priority ?? 5) ||
        (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
        (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
    );
    const load = new Map<string, number>();
    for (const [agent, keys] of this.tasksByAgent) load.set(agent, keys.size);
    for (const [key, agent] of this.assumed) {
      const t = this.tasks.getByKey(key);
      if (!t || !occupiesAgent(t)) load.set(agent, (load.get(agent) ?? 0) + 1);
    }
    const candidates = this.agents.list().map((a) => toCandidate(a, load.get(a.metadata.name ?? "") ?? 0));
    const byName = new Map(candidates.map((c) => [c.name, c]));
    for (let from = 0; from < pending.length; from += placementBatchSize) {
      const hasRoom = candidates.some((c) => c.phase === "Ready" && c.currentTasks < c.maxConcurrentTasks);
      // With no free agent anywhere, a task that already says why it waits needs no new answer.
      const batch = pending
        .slice(from, from + placementBatchSize)
        .filter(
          (t) =>
            hasRoom ||
            findCondition(t.status?.conditions, conditionTypes.scheduled)?.reason !== reasons.noAgentAvailable,
        );
      if (batch.length === 0) continue;
      const start = performance.now();
      let placements: Placement[];
      try {
        placements = await this.opts.scheduler.placeBatch(batch.map(toTaskSpec), candidates, 3);
      } finally {
        this.metrics.placementLatency.observe((performance.now() - start) / 1000);
      }
      batch.forEach((task, i) => {
        const placement = placements[i];
        const write = placement && this.placementWrite(task, placement, byName, log);
        if (write) this.startWrite(objectKey(task), write, log);
      });
    }
    return undefined;
  }

  /**
   * Sends a placement write without waiting for it, so the next pass can
   * start at once; the assumed map keeps those tasks out of it. At most
   * placementWriteConcurrency writes are in flight. A write that loses a
   * race (409) or fails is forgotten and its task placed again.
   */
  private startWrite(key: string, write: () => Promise<void>, log: Logger): void {
    this.writing.add(key);
    const p: Promise<void> = this.writeLimit(write)
      .catch((err: Error) => {
        // A conflict means the task changed; its update event brings it back.
        if (!isConflict(err) && !isNotFound(err)) log.warn({ err, task: key }, "Placement write failed");
        this.placementQueue.addAfter(this.cfg.namespace, 100);
      })
      .finally(() => {
        this.writing.delete(key);
        this.writes.delete(p);
        // The task's watch event may have come before this point, while the
        // task was still kept out of passes: look once more.
        if (this.leading) this.enqueuePlacement();
      });
    this.writes.add(p);
  }

  /** The status write one placement decision needs, if any, with the load it adds. */
  private placementWrite(
    task: Task,
    placement: Placement,
    byName: Map<string, Candidate>,
    log: Logger,
  ): (() => Promise<void>) | undefined {
    const key = objectKey(task);
    if (placement.chosenAgent) {
      const chosen = placement.chosenAgent;
      const cand = byName.get(chosen);
      if (cand) cand.currentTasks++;
      this.assumed.set(key, chosen);
      return async () => {
        try {
          await this.assign(task, chosen, placement, log);
        } catch (err) {
          this.assumed.delete(key);
          throw err;
        }
      };
    }
    this.metrics.placementDecisions.inc({ outcome: "unschedulable" });
    const message = describeNoFit(placement);
    const cond = {
      type: conditionTypes.scheduled,
      status: "False",
      reason: reasons.noAgentAvailable,
      message,
    } as const;
    // A new task gets its Pending phase in the same write.
    if (
      task.status?.phase !== undefined &&
      !conditionDiffers(task.status?.conditions, cond, task.metadata.generation)
    ) {
      return undefined;
    }
    return async () => {
      const status = task.status ?? {};
      await this.writeTaskStatus(task, {
        ...status,
        phase: "Pending",
        attempts: status.attempts ?? 0,
        conditions: setCondition(status.conditions, cond, new Date(this.now()), task.metadata.generation),
      });
      this.events.record(task, "Warning", reasons.noAgentAvailable, message);
      log.child({ task: task.metadata.name }).info({ why: message }, "No agent fits Task");
    };
  }

  private async assign(task: Task, agent: string, placement: Placement, log: Logger): Promise<void> {
    const now = this.now();
    const status = task.status ?? {};
    const score = placement.candidates.find((c) => c.agent === agent)?.score;
    const message = `assigned to ${agent} (score ${score})`;
    await this.writeTaskStatus(task, {
      ...status,
      phase: "Assigned",
      assignedAgent: agent,
      attempts: (status.attempts ?? 0) + 1,
      assignedTime: new Date(now).toISOString(),
      conditions: setCondition(
        status.conditions,
        { type: conditionTypes.scheduled, status: "True", reason: reasons.agentFound, message },
        new Date(now),
        task.metadata.generation,
      ),
    });
    this.metrics.placementDecisions.inc({ outcome: "placed" });
    const key = objectKey(task);
    const seen = this.firstSeen.get(key);
    if (seen !== undefined) {
      this.metrics.assignmentLatency.observe((now - seen) / 1000);
      this.firstSeen.delete(key);
    }
    this.events.record(task, "Normal", "Assigned", `Assigned to agent ${agent}, attempt ${(status.attempts ?? 0) + 1}`);
    log.child({ task: task.metadata.name, agent }).info({ attempt: (status.attempts ?? 0) + 1 }, "Assigned Task");
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

/** "namespace/name" → [namespace, name], as objectKey makes them. */
function splitKey(key: string): [string, string] {
  const i = key.indexOf("/");
  return [key.slice(0, i), key.slice(i + 1)];
}
