/**
 * The plan reconciler: for one Plan key, reads the Plan and its steps' Tasks
 * from the caches, asks decidePlan what happens next and carries it out, in
 * an order that a crash anywhere leaves right: the Tasks of steps that start
 * are created first (named after the step, so a create repeated after a lost
 * status write finds the one made), then running Tasks are cancelled, then
 * the status is written (only when it changed) and its Events recorded.
 * It shares the controller's Task and Agent informers and has its own over
 * Plans; a step's Task names its Plan in its owner reference, so any change
 * of a Task brings its Plan's key. Like the MCPServer operator it runs only
 * while the controller leads.
 */
import { isDeepStrictEqual } from "node:util";
import pLimit from "p-limit";
import { stepTaskName } from "../../lib/api/plan-state.ts";
import type { Agent, Plan, Task } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import { finalFailureCondition, isFinished } from "../../lib/api/task-state.ts";
import { setCondition } from "../../lib/controller/conditions.ts";
import type { EventRecorder } from "../../lib/controller/events.ts";
import {
  type ReconcileObserver,
  type ReconcileResult,
  reportOnObject,
  runWorkers,
  TerminalError,
} from "../../lib/controller/reconcile.ts";
import { WorkQueue } from "../../lib/controller/workqueue.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { isAlreadyExists, isConflict, isForbidden, isNotFound } from "../../lib/kube/errors.ts";
import { Informer, objectKey } from "../../lib/kube/informer.ts";
import type { Logger } from "../../lib/log.ts";
import { cancelledTaskReason, decidePlan, type PlanView } from "./plan-decisions.ts";

export interface PlanControllerOptions {
  conn: KubeConnection;
  namespace: string;
  /** The controller's informers: the steps' Tasks are among its Tasks, tools among its Agents'. */
  tasks: Informer<Task>;
  agents: Informer<Agent>;
  events: EventRecorder;
  log: Logger;
  now: () => number;
  /** For Plans that name no ttlSecondsAfterFinished. */
  defaultTtlSeconds: number;
  /** The least time a finished Plan (and its Tasks with it) is kept. */
  minTtlSeconds?: number;
  concurrency: number;
  fieldManager: string;
  observer?: ReconcileObserver;
}

const newQueue = () => new WorkQueue({ baseDelayMs: 50, maxDelayMs: 30_000 });

/** The Plan a Task belongs to, by its controller owner reference. */
const ownerPlan = (t: Task): string | undefined =>
  t.metadata.ownerReferences?.find((r) => r.kind === "Plan" && r.controller)?.name;

const ownedBy = (t: Task, plan: Plan) =>
  t.metadata.ownerReferences?.some((r) => r.kind === "Plan" && r.uid === plan.metadata.uid) ?? false;

/** Without undefined fields, as the apiserver would return it, to compare with what it holds. */
const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v ?? {}));

export class PlanController {
  readonly plans: Informer<Plan>;
  private readonly clients;
  // A new queue each time reconciling starts: stopping shuts the last one.
  private queue = newQueue();
  private workers: Promise<void> | undefined;
  private readonly log: Logger;
  /** Parallel Task creates and cancels of one plan (a fan-out of many steps starts at once). */
  private readonly writes = pLimit(16);
  /**
   * Each plan's last status write, with the resourceVersion it was made
   * over: while the cache still holds that version, the write is newer. Steps
   * finishing one after another bring the key back before the watch brings
   * the write, and a write over the cached version would only conflict and
   * wait out a backoff.
   */
  private readonly written = new Map<string, { over: string | undefined; plan: Plan }>();

  constructor(private readonly o: PlanControllerOptions) {
    this.log = o.log.child({ controller: "plan" });
    this.clients = mcpClients(o.conn);
    this.plans = new Informer(this.clients.plans, { namespace: o.namespace, logger: this.log });
    const enqueue = (p: Plan) => this.queue.add(objectKey(p));
    this.plans.on({
      add: enqueue,
      // Our own status writes come back as updates: only spec (generation: cancel) matters.
      update: (p, old) => {
        if (p.metadata.generation !== old.metadata.generation) enqueue(p);
      },
      delete: (p) => this.written.delete(objectKey(p)),
    });
    const ofTask = (t: Task) => {
      const plan = ownerPlan(t);
      if (plan) this.queue.add(`${o.namespace}/${plan}`);
    };
    // A plan moves on when a step's Task finishes or goes; its other writes (Assigned, Running,
    // progress) change nothing in the plan, and a fan-out of many steps makes many of them.
    o.tasks.on({
      add: (t) => isFinished(t) && ofTask(t),
      update: (t, old) => isFinished(t) !== isFinished(old) && ofTask(t),
      delete: ofTask,
    });
  }

  get hasSynced(): boolean {
    return this.plans.hasSynced;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  startCache(): Promise<void> {
    return this.plans.start();
  }

  /** Starts reconciling (as the leader): every plan once, then what changes. */
  startReconciling(): void {
    this.queue = newQueue();
    this.workers = runWorkers({
      name: "plan",
      queue: this.queue,
      reconcile: (k, l) => this.reconcile(k, l),
      concurrency: this.o.concurrency,
      log: this.log,
      observer: this.o.observer,
      onPermanentFailure: reportOnObject((k) => this.plans.getByKey(k), this.o.events),
    });
    for (const p of this.plans.list()) this.queue.add(objectKey(p));
  }

  stopReconciling(): void {
    this.queue.shutdown();
  }

  /** Resolves when the reconciles started as the leader have finished (at once if none). */
  get reconciling(): Promise<void> {
    return this.workers ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await this.workers;
    await this.plans.stop();
  }

  async reconcile(key: string, log: Logger): Promise<ReconcileResult | undefined> {
    const plan = this.current(key);
    if (!plan || plan.metadata.deletionTimestamp) return undefined; // owner references take its Tasks
    const plog = log.child({ plan: plan.metadata.name });
    const d = decidePlan(plan, this.o.now(), await this.view(plan));
    switch (d.kind) {
      case "wait":
        return d.requeueAfterMs === undefined ? undefined : { requeueAfterMs: d.requeueAfterMs };
      case "delete":
        await this.deleteFinished(plan, plog);
        return undefined;
    }
    await Promise.all(d.create.map((t) => this.writes(() => this.createTask(plan, t, plog))));
    await Promise.all(d.cancel.map((c) => this.writes(() => this.cancelTask(c.task, c.message, plog))));
    if (!isDeepStrictEqual(plain(plan.status), plain(d.status))) {
      const out = await this.clients.plans.replaceStatus(
        { ...plan, status: d.status },
        { fieldManager: this.o.fieldManager },
      );
      this.written.set(key, { over: plan.metadata.resourceVersion, plan: out });
      for (const e of d.events) this.o.events.record(plan, e.type, e.reason, e.message);
      if (plan.status?.phase !== d.status.phase) plog.info({ phase: d.status.phase }, "Updated Plan phase");
    }
    return d.requeueAfterMs === undefined ? undefined : { requeueAfterMs: d.requeueAfterMs };
  }

  /** The plan from the cache, or the one this reconciler last wrote while the cache is behind it. */
  private current(key: string): Plan | undefined {
    const cached = this.plans.getByKey(key);
    const w = this.written.get(key);
    if (!cached || !w) return cached;
    if (cached.metadata.resourceVersion === w.over) return w.plan;
    this.written.delete(key); // the cache caught up (or someone else wrote since)
    return cached;
  }

  /**
   * What decidePlan reads: each step's Task from the cache, and, for a step
   * recorded Running that the cache does not have yet (it was created a
   * moment ago), from the apiserver, so a slow watch is never taken for a
   * deleted Task.
   */
  private async view(plan: Plan): Promise<PlanView> {
    const ns = plan.metadata.namespace ?? this.o.namespace;
    const tasks = new Map<string, Task>();
    const recorded = new Map((plan.status?.steps ?? []).map((s) => [s.name, s]));
    await Promise.all(
      plan.spec.steps.map(async (s) => {
        const name = stepTaskName(plan.metadata.name ?? "", s.name);
        let t = this.o.tasks.get(ns, name);
        if (!t && recorded.get(s.name)?.phase === "Running") t = await this.read(ns, name);
        if (t && ownedBy(t, plan)) tasks.set(s.name, t);
      }),
    );
    return {
      taskOf: (step) => tasks.get(step),
      capabilityOf: (tool) => this.capabilityOf(tool),
      defaultTtlSeconds: this.o.defaultTtlSeconds,
      minTtlSeconds: this.o.minTtlSeconds,
    };
  }

  private async read(ns: string, name: string): Promise<Task | undefined> {
    try {
      return await this.clients.tasks.get(ns, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The capability an Agent declares the tool with; Ready agents first, so a stale declaration loses. */
  private capabilityOf(tool: string): string | undefined {
    const agents = [...this.o.agents.list()].sort(
      (a, b) => Number(b.status?.phase === "Ready") - Number(a.status?.phase === "Ready"),
    );
    for (const a of agents) {
      const declared = a.spec.tools?.find((t) => t.name === tool);
      if (declared) return declared.capability;
    }
    return undefined;
  }

  private async createTask(plan: Plan, task: Task, plog: Logger): Promise<void> {
    const ns = plan.metadata.namespace ?? this.o.namespace;
    try {
      await this.clients.tasks.create(ns, task, { fieldManager: this.o.fieldManager });
      plog.debug({ task: task.metadata.name }, "Created Task for step");
    } catch (err) {
      if (isAlreadyExists(err)) {
        // Made by an earlier pass whose status write was lost: ours, and the step runs.
        const existing = await this.read(ns, task.metadata.name ?? "");
        if (!existing || ownedBy(existing, plan)) return;
        // Retrying cannot fix it: the reconcile ends with a Warning Event (ReconcileFailed) until the plan
        // changes, or the other Task goes and the plan is looked at again.
        throw new TerminalError(
          `Task ${task.metadata.name} exists and is not this plan's (an earlier plan of this name?): delete it or rename the plan`,
        );
      }
      // A full quota (403 "exceeded quota") frees up as Tasks finish: retried with backoff, not given
      // up as another 403 (RBAC) is.
      if (isForbidden(err) && /exceeded quota|status unknown for quota/.test((err as Error).message))
        throw new Error((err as Error).message);
      throw err;
    }
  }

  /** Fails a Task for good with reason Cancelled, as the gateway cancels a call; its agent stops. */
  private async cancelTask(task: Task, message: string, plog: Logger): Promise<void> {
    let t = task;
    for (let attempt = 0; ; attempt++) {
      if (isFinished(t)) return;
      const now = new Date(this.o.now());
      const status = t.status ?? {};
      try {
        await this.clients.tasks.replaceStatus(
          {
            ...t,
            status: {
              ...status,
              phase: "Failed",
              completionTime: now.toISOString(),
              error: { reason: cancelledTaskReason, message, retryable: false },
              conditions: setCondition(
                status.conditions,
                { type: finalFailureCondition, status: "True", reason: cancelledTaskReason, message },
                now,
                t.metadata.generation,
              ),
            },
          },
          { fieldManager: this.o.fieldManager },
        );
        plog.info({ task: t.metadata.name }, "Cancelled Task of step");
        return;
      } catch (err) {
        // The agent writes the same status: read again and look.
        if (!isConflict(err) || attempt >= 5) throw err;
        const fresh = await this.read(t.metadata.namespace ?? this.o.namespace, t.metadata.name ?? "");
        if (!fresh) return;
        t = fresh;
      }
    }
  }

  private async deleteFinished(plan: Plan, plog: Logger): Promise<void> {
    try {
      await this.clients.plans.delete(plan.metadata.namespace, plan.metadata.name ?? "", {
        uid: plan.metadata.uid,
        propagationPolicy: "Background",
      });
      plog.debug("Deleted finished Plan after its TTL");
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
