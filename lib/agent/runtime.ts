/**
 * The agent runtime: registers an Agent, heartbeats, watches the Tasks
 * assigned to it (a field selector on status.assignedAgent), and runs each
 * with its tool's handler under a concurrency limit and a timeout. It reads
 * Tasks only through that selector, never by a get: in a cluster an agent may
 * read no other Task (ADR 0011).
 *
 * It also watches the Tasks created bound to it (the label
 * mcp.io/bound-agent, ADR 0013), which have no status until it writes one.
 *
 * Contract with the controller (see services/controller/task-lifecycle.ts):
 * the agent moves its task Assigned (or bound, with no status) → Completed |
 * Failed, every write guarded by resourceVersion, so a task that was
 * reassigned or failed meanwhile is never overwritten. It writes Running in
 * between only when the task outlives runningAfterMs or the tool reports
 * progress or asks its client something, so a short call costs one status
 * write. It writes status.assignedAgent and status.attempts only as it
 * starts a bound task (itself, attempt 1) and no other move: in a cluster the
 * admission policy (deploy/policy) refuses them. A task that leaves the agent
 * (deleted, reassigned, failed by its deadline) aborts its handler.
 */
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import pLimit from "p-limit";
import type { Agent, Task } from "../api/resources.ts";
import { mcpClients } from "../api/resources.ts";
import {
  boundAgentLabel,
  inputAnswerTimeMs,
  inputTimeoutReason,
  isBoundUnstarted,
  taskAgent,
  taskAttempt,
} from "../api/task-state.ts";
import { type Clock, sleep, systemClock } from "../clock.ts";
import type { KubeConnection } from "../kube/connection.ts";
import { isConflict, isForbidden, isNotFound, isTransient } from "../kube/errors.ts";
import { Informer } from "../kube/informer.ts";
import { isLabelValue } from "../kube/labels.ts";
import { leaseClient } from "../kube/leases.ts";
import type { Logger } from "../log.ts";
import { traceparentAnnotation } from "../trace-context.ts";
import { inSpan, tracedServices } from "../tracing.ts";
import { AgentLease, leaseDurationSeconds } from "./lease.ts";
import { AgentMetrics } from "./metrics.ts";
import { normalizeMessage, normalizeProgress, ProgressWriter, type StatusNotes } from "./progress.ts";
import type { AnyTool, InputRequest, ToolContext, ToolDefinition } from "./tool.ts";
import { clientOf, inputHelpers, ToolError, toolLog } from "./tool.ts";
import { ToolTime } from "./tool-time.ts";
import { validate } from "./validation.ts";

/** Marks an agent that is shutting down: no new work, but its tasks stay with it. */
export const drainingAnnotation = "mcp.io/draining";

export interface AgentRuntimeOptions {
  name: string;
  namespace: string;
  /** What the runtime reads the time from and waits on (heartbeats, retries, time limits); tests move a FakeClock. */
  clock?: Clock;
  /**
   * The pod the agent runs in, in `namespace`: it owns the Agent, so the
   * garbage collector deletes the Agent with the pod when the agent could not
   * deregister itself (a crash, a node lost). Unset outside a pod.
   */
  pod?: { name: string; uid: string };
  conn: KubeConnection;
  tools: AnyTool[];
  /** How long a status write keeps retrying while the apiserver cannot be reached (default 5 min). */
  statusWriteRetryMs?: number;
  /** Capabilities beyond those the tools name. */
  capabilities?: string[];
  tags?: string[];
  resources?: Agent["spec"]["resources"];
  maxConcurrentTasks?: number;
  heartbeatIntervalMs?: number;
  /**
   * Per-task timeout, unless the tool sets its own. It stands still while the
   * tool waits for its client's answers, which have a limit of their own.
   */
  taskTimeoutMs?: number;
  /**
   * How long a client has to answer each question a tool asks
   * (ctx.requestInput), from when it is asked (default 10 minutes): the
   * question's answer-by time, written on the Task. Past it the attempt
   * fails with InputTimeout, not retryable.
   */
  inputAnswerTimeMs?: number;
  /** Results larger than this (as JSON) fail the task rather than bloat etcd. */
  maxResultBytes?: number;
  /** How long shutdown waits for tasks in flight. */
  shutdownGraceMs?: number;
  /**
   * How long a task runs before the agent writes Running (default 1 s; 0:
   * at once). A call that finishes sooner costs one status write, its
   * result; a tool that reports progress or asks its client something
   * writes Running first.
   */
  runningAfterMs?: number;
  log: Logger;
}

interface Running {
  abort: AbortController;
  attempt: number;
  /** When this agent began the attempt: the Task's startTime, whenever it is written (never after its end). */
  startedAt: string;
  done: Promise<void>;
  /** Why the handler was aborted, when the runtime aborted it. */
  why?: "cancelled" | "shutdown" | "inputTimeout";
  /** What went unanswered, when the attempt ended because its client did not answer in time. */
  unanswered?: string;
  /** Called with each update of the task while it runs (answers to input requests arrive so). */
  watchers: Set<(t: Task) => void>;
  /** Input keys this attempt has used: never used twice, so no answer is taken for another request. */
  inputKeys: Set<string>;
  /** The tool's time limit, which stands still while it waits for answers. */
  toolTime?: ToolTime;
  /** Ends the waits for answers still going when the attempt ends (a tool that did not wait for them). */
  inputWaits: Set<() => void>;
  /** The task as this attempt last wrote it (or found it). */
  latest: Task;
  /** The Running write, once made: the task as written, or undefined when it was no longer ours. */
  claim?: Promise<Task | undefined>;
  /** Set as the attempt ends: no Running write after that. */
  ending?: boolean;
}

/** How an attempt ended: its result, or why it failed and whether another attempt may succeed. */
type AttemptEnd = { result: Record<string, unknown> } | { reason: string; message: string; retryable: boolean };

const terminal = (t: Task) => t.status?.phase === "Completed" || t.status?.phase === "Failed";

export class AgentRuntime {
  readonly metrics: AgentMetrics;
  private readonly clients;
  private readonly tasks: Informer<Task>;
  /** The tasks created bound to this agent (ADR 0013); none when its name can be no label value. */
  private readonly bound: Informer<Task> | undefined;
  /** True until both task caches synced at start: what they list then, a previous run may have started. */
  private starting = true;
  /**
   * The attempt this run last started (or gave back) of each task, so that
   * no attempt starts twice: the two caches (by assignee and by label) see
   * the same task on separate watches, and one may still show an attempt
   * Assigned after the other saw it run and finish. (Before ADR 0013 the
   * Running write, refused on a stale view, kept that from running the tool.)
   * Bounded: a stale view arrives within seconds, not after 10,000 tasks.
   */
  private readonly startedAttempt = new Map<string, number>();
  private readonly tools = new Map<string, AnyTool>();
  private readonly running = new Map<string, Running>();
  private readonly limit: ReturnType<typeof pLimit>;
  private stopHeartbeats: () => void = () => {};
  /** The agent's heartbeat, made once its Agent is registered (it owns the Lease). */
  private lease: AgentLease | undefined;
  private readonly clock: Clock;
  private draining = false;
  private registered = false;
  private readonly log: Logger;

  constructor(private readonly opts: AgentRuntimeOptions) {
    for (const t of opts.tools) {
      if (this.tools.has(t.name)) throw new Error(`two tools are named ${t.name}`);
      this.tools.set(t.name, t);
    }
    this.log = opts.log.child({ agent: opts.name, domain: opts.namespace });
    this.clock = opts.clock ?? systemClock;
    this.clients = mcpClients(opts.conn);
    this.metrics = new AgentMetrics(opts.name, opts.namespace);
    this.limit = pLimit(opts.maxConcurrentTasks ?? 5);
    this.tasks = new Informer(this.clients.tasks, {
      namespace: opts.namespace,
      fieldSelector: `status.assignedAgent=${opts.name}`,
      logger: this.log,
    });
    this.tasks.on({
      add: (t) => this.consider(t),
      update: (t) => this.consider(t),
      // Deleted, or no longer assigned to us (it left the field selector).
      delete: (t) => this.cancel(t, "the task was deleted or reassigned"),
    });
    // The gateway binds no task to an agent whose name is no label value.
    this.bound = isLabelValue(opts.name)
      ? new Informer(this.clients.tasks, {
          namespace: opts.namespace,
          labelSelector: `${boundAgentLabel}=${opts.name}`,
          logger: this.log,
        })
      : undefined;
    this.bound?.on({
      add: (t) => this.consider(t),
      update: (t) => this.consider(t),
      delete: (t) => this.cancel(t, "the task was deleted"),
    });
  }

  get ready(): boolean {
    return this.registered && this.tasks.hasSynced && (this.bound?.hasSynced ?? true) && !this.draining;
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** The Agent object this runtime publishes. */
  agentSpec(): Agent["spec"] {
    const capabilities = [...new Set([...this.opts.tools.map((t) => t.capability), ...(this.opts.capabilities ?? [])])];
    return {
      capabilities,
      tools: this.opts.tools.map((t) => ({
        name: t.name,
        ...(t.title ? { title: t.title } : {}),
        description: t.description,
        capability: t.capability,
        inputSchema: { type: "object", ...t.inputSchema },
        ...(t.outputSchema ? { outputSchema: t.outputSchema } : {}),
        ...(t.taskSupport ? { taskSupport: t.taskSupport } : {}),
      })),
      tags: this.opts.tags ?? [],
      ...(this.opts.resources ? { resources: this.opts.resources } : {}),
      maxConcurrentTasks: this.opts.maxConcurrentTasks ?? 5,
    };
  }

  async start(): Promise<void> {
    await this.register();
    // Before the first heartbeat, so what the caches list was given to an
    // earlier run of this agent (a new one is not Ready, so gets nothing).
    await Promise.all([this.tasks.start(), this.bound?.start()]);
    await this.giveBackEarlierTasks();
    this.starting = false;
    // Tasks that arrived while the earlier ones were given back: their events were held back.
    for (const t of [...this.tasks.list(), ...(this.bound?.list() ?? [])]) this.consider(t);
    await this.heartbeat();
    const every = this.heartbeatIntervalMs();
    const beat = () => {
      this.heartbeat().catch((err: Error) => this.log.warn({ err }, "Heartbeat failed"));
      this.stopHeartbeats = this.clock.schedule(beat, every);
    };
    this.stopHeartbeats = this.clock.schedule(beat, every);
    this.log.info({ tools: [...this.tools.keys()] }, "Agent started");
  }

  /**
   * Creates the Agent, or adopts an existing one of the same name: a container
   * restarted in the same pod finds the Agent its last run made. A new pod of a
   * Deployment has a new name, so the garbage collector, deleting the old pod's
   * Agent, never takes the new one.
   */
  private async register(): Promise<void> {
    const spec = this.agentSpec();
    // No blockOwnerDeletion: it would take the right to update the pod's
    // finalizers, and nothing needs the pod's deletion to wait for the Agent's.
    const owner = this.opts.pod && { apiVersion: "v1", kind: "Pod", name: this.opts.pod.name, uid: this.opts.pod.uid };
    let agent: Agent;
    try {
      agent = await this.clients.agents.create(this.opts.namespace, {
        metadata: { name: this.opts.name, ...(owner ? { ownerReferences: [owner] } : {}) },
        spec,
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
      // A pod of the same name but another uid (one recreated under a fixed name)
      // takes the Agent over, so it no longer goes with the pod that is gone.
      agent = await this.clients.agents.patch(
        this.opts.namespace,
        this.opts.name,
        {
          metadata: { annotations: { [drainingAnnotation]: null }, ...(owner ? { ownerReferences: [owner] } : {}) },
          spec,
        },
        "merge",
      );
    }
    const every = this.heartbeatIntervalMs();
    this.lease = new AgentLease({
      leases: leaseClient(this.opts.conn),
      namespace: this.opts.namespace,
      name: this.opts.name,
      agentUid: agent.metadata.uid ?? "",
      durationSeconds: leaseDurationSeconds(every),
      now: () => this.clock.now(),
      // A renewal that hangs gives way to the next one once the lease it would renew has run out.
      timeoutMs: leaseDurationSeconds(every) * 1000,
    });
    this.registered = true;
  }

  private heartbeatIntervalMs(): number {
    return this.opts.heartbeatIntervalMs ?? 10_000;
  }

  /**
   * Renews the agent's Lease (lib/agent/lease.ts), not its Agent's status:
   * a renewal wakes only the controller, which watches the Leases.
   */
  private async heartbeat(): Promise<void> {
    await this.lease?.renew();
  }

  /**
   * SIGTERM: take no new tasks, let those in flight finish within the grace
   * period, abort the rest, then deregister, so the controller reassigns
   * what is left at once instead of waiting for the heartbeat to go stale.
   */
  async shutdown(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.log.info({ inFlight: this.running.size }, "Draining");
    try {
      await this.clients.agents.patch(
        this.opts.namespace,
        this.opts.name,
        { metadata: { annotations: { [drainingAnnotation]: "true" } } },
        "merge",
      );
    } catch (err) {
      this.log.warn({ err }, "Could not mark the agent draining");
    }
    const grace = this.opts.shutdownGraceMs ?? 30_000;
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    const finished = await Promise.race([all.then(() => true), sleep(this.clock, grace).then(() => false)]);
    if (!finished) {
      for (const r of this.running.values()) {
        r.why = "shutdown";
        r.abort.abort(new Error("the agent is shutting down"));
      }
      await all;
    }
    this.stopHeartbeats();
    await Promise.all([this.tasks.stop(), this.bound?.stop()]);
    try {
      await this.clients.agents.delete(this.opts.namespace, this.opts.name);
    } catch (err) {
      if (!isNotFound(err)) this.log.warn({ err }, "Could not deregister the agent");
    }
    this.log.info("Agent stopped");
  }

  private consider(t: Task): void {
    const uid = t.metadata.uid ?? "";
    const current = this.running.get(uid);
    if (current) {
      // Failed by its deadline, or sent back to Pending, or moved, while we ran it.
      if (
        taskAgent(t) !== this.opts.name ||
        terminal(t) ||
        t.status?.phase === "Pending" ||
        taskAttempt(t) !== current.attempt
      ) {
        this.cancel(t, `the task is now ${t.status?.phase ?? "unassigned"}`);
      }
      for (const fn of current.watchers) fn(t);
      return;
    }
    // What the caches list at start is looked at once they synced (giveBackEarlierTasks).
    if (this.starting || this.draining || taskAgent(t) !== this.opts.name) return;
    if (t.status?.phase !== "Assigned" && !isBoundUnstarted(t)) return;
    if (!this.markStarted(uid, taskAttempt(t))) return;
    this.begin(t);
  }

  /** Notes that this run starts (or gives back) `attempt` of a task; false when it already did. */
  private markStarted(uid: string, attempt: number): boolean {
    if ((this.startedAttempt.get(uid) ?? 0) >= attempt) return false;
    this.startedAttempt.delete(uid);
    this.startedAttempt.set(uid, attempt);
    if (this.startedAttempt.size > 10_000)
      this.startedAttempt.delete(this.startedAttempt.keys().next().value as string);
    return true;
  }

  /**
   * The tasks this agent had when it started, not finished: a previous run of
   * it (a restarted container) may have been running any of them, even those
   * not marked Running (it writes Running only once a call outlives
   * runningAfterMs). Their attempt may have had effects, so each ends
   * (AgentRestarted, retryable) and the next attempt runs under a new
   * idempotency key, instead of this attempt's key being used twice.
   */
  private async giveBackEarlierTasks(): Promise<void> {
    const mine = new Map<string, Task>();
    for (const t of [...this.tasks.list(), ...(this.bound?.list() ?? [])]) {
      const phase = t.status?.phase;
      if (taskAgent(t) === this.opts.name && (phase === "Running" || phase === "Assigned" || isBoundUnstarted(t)))
        mine.set(t.metadata.uid ?? "", t);
    }
    for (const t of mine.values()) {
      this.markStarted(t.metadata.uid ?? "", taskAttempt(t));
      const now = new Date().toISOString();
      await this.writeFinal(t, t.status?.phase === "Running", taskAttempt(t), t.status?.startTime ?? now, {
        reason: "AgentRestarted",
        message: `agent ${this.opts.name} restarted during the task`,
        retryable: true,
      }).catch((err: Error) => this.log.warn({ err, task: t.metadata.name }, "Could not give back an earlier task"));
    }
  }

  private cancel(t: Task, why: string): void {
    const r = this.running.get(t.metadata.uid ?? "");
    if (!r || r.abort.signal.aborted) return;
    r.why = "cancelled";
    r.abort.abort(new Error(why));
  }

  private begin(t: Task): void {
    const uid = t.metadata.uid ?? "";
    const abort = new AbortController();
    const entry: Running = {
      abort,
      attempt: taskAttempt(t),
      startedAt: new Date().toISOString(),
      latest: t,
      done: Promise.resolve(),
      watchers: new Set(),
      inputKeys: new Set(),
      inputWaits: new Set(),
    };
    this.running.set(uid, entry);
    // The run continues the call's trace (the gateway's span, on the Task).
    entry.done = this.limit(() =>
      inSpan(
        tracedServices.agent,
        `execute_tool ${t.spec.tool ?? "(by capability)"}`,
        {
          kind: SpanKind.CONSUMER,
          parent: t.metadata.annotations?.[traceparentAnnotation],
          attributes: {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": t.spec.tool,
            "mcp.task": t.metadata.name,
            "mcp.task.attempt": entry.attempt,
            "mcp.agent": this.opts.name,
          },
        },
        () => this.execute(t, entry),
      ),
    )
      .catch((err: Error) => this.log.error({ err, task: t.metadata.name }, "Task execution failed unexpectedly"))
      .finally(() => this.running.delete(uid));
  }

  /**
   * The task as it is now, as this agent may see it, or undefined when it is
   * gone or out of its sight. An agent may read only the tasks assigned to
   * it (ADR 0011): the apiserver lets it list and watch with the field
   * selector status.assignedAgent=<its name> and never get a task by name,
   * so one task is read as a list by name and assignee; a task bound to it is
   * read through its label, and may have been reassigned since: the callers
   * check whose it is.
   */
  private async readOwn(t: Task): Promise<Task | undefined> {
    const me = this.opts.name;
    const name = `metadata.name=${t.metadata.name ?? ""}`;
    // A task bound to this agent is read through its label, which it has from its creation.
    const list = await this.clients.tasks.list(
      t.metadata.namespace,
      t.metadata.labels?.[boundAgentLabel] === me
        ? { labelSelector: `${boundAgentLabel}=${me}`, fieldSelector: name }
        : { fieldSelector: `${name},status.assignedAgent=${me}` },
    );
    return list.items[0];
  }

  /**
   * Writes the task's status, guarded by its resourceVersion. A result must
   * not be lost to an apiserver or etcd that is briefly away, so connection
   * errors, 5xx and 429 are retried with backoff for up to statusWriteRetryMs
   * (the task stays Running meanwhile, and the controller does not reassign a
   * task whose agent still heartbeats). Conflicts read the task again.
   */
  private async writeStatus(
    t: Task,
    status: NonNullable<Task["status"]>,
    attempt = taskAttempt(t),
  ): Promise<Task | undefined> {
    let current = t;
    let conflicts = 0;
    const giveUpAt = this.clock.now() + (this.opts.statusWriteRetryMs ?? 300_000);
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await this.clients.tasks.replaceStatus({ ...current, status: { ...current.status, ...status } });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        if (isTransient(err) && this.clock.now() < giveUpAt) {
          this.log.warn({ err, task: t.metadata.name, retryInMs: delay }, "Status write failed; retrying");
          await sleep(this.clock, delay);
          continue;
        }
        // A stale write fails with 409, or with 403 where the admission policy
        // already sees the task assigned elsewhere: either way, look again.
        if (!isConflict(err) && !isForbidden(err)) throw err;
        if (++conflicts > 5) throw new Error("too many conflicting writes");
        for (;;) {
          try {
            const own = await this.readOwn(t);
            if (!own) return undefined; // deleted, or assigned elsewhere meanwhile
            current = own;
            break;
          } catch (readErr) {
            if (!isTransient(readErr) || this.clock.now() > giveUpAt) throw readErr;
            await sleep(this.clock, delay);
          }
        }
        if (taskAgent(current) !== this.opts.name || taskAttempt(current) !== attempt || terminal(current)) {
          return undefined;
        }
        if (isForbidden(err)) throw err;
      }
    }
  }

  /**
   * Puts the tool's requests on the Task (status.inputRequests), each under
   * the tool's name for it (from the second attempt on with the attempt:
   * `confirm@2`, so an answer meant for an earlier attempt's question is
   * never taken for this one's) unless that key was already used in this
   * attempt or is on the Task (then `name-2`, `name-3`, …), so a client sees
   * the names the tool chose and an answer found under a key is always to
   * this request. Each request carries its answer-by time (`answerBy`); the
   * tool's own time limit stands still meanwhile. Waits until the Task
   * carries an answer for each, then takes them off again. Past the
   * answer-by time the attempt ends: the Task fails with InputTimeout, not
   * retryable (another attempt would only ask again, of a client that is
   * not answering).
   */
  private async requestInput(
    t: Task,
    entry: Running,
    signal: AbortSignal,
    requests: Record<string, InputRequest>,
  ): Promise<Record<string, unknown>> {
    signal.throwIfAborted();
    const answerByMs = this.clock.now() + (this.opts.inputAnswerTimeMs ?? inputAnswerTimeMs);
    const answerBy = new Date(answerByMs).toISOString();
    const base = (name: string) => (entry.attempt > 1 ? `${name}@${entry.attempt}` : name);
    // key → the tool's name for it; chosen at the write, from what the Task then holds
    let minted = new Map<string, string>();
    const answered = (task: Task) => {
      const responses = (task.status?.inputResponses ?? {}) as Record<string, unknown>;
      return minted.size > 0 && [...minted.keys()].every((k) => k in responses) ? responses : undefined;
    };
    let unwatch = () => {};
    const arrived = new Promise<Record<string, unknown>>((resolve, reject) => {
      const watch = (task: Task) => {
        const r = answered(task);
        if (r) {
          unwatch();
          resolve(r);
        }
      };
      const aborted = () => {
        unwatch();
        reject(signal.reason);
      };
      unwatch = () => {
        entry.watchers.delete(watch);
        signal.removeEventListener("abort", aborted);
      };
      entry.watchers.add(watch);
      signal.addEventListener("abort", aborted, { once: true });
    });
    // an abort during the write is seen below, by the wait
    arrived.catch(() => {});
    try {
      await this.editInput(t, entry, (s) => {
        const taken = new Set([...Object.keys(s.inputRequests ?? {}), ...Object.keys(s.inputResponses ?? {})]);
        // a write that conflicted and is tried again gives back the keys it had picked
        for (const key of minted.keys()) entry.inputKeys.delete(key);
        minted = new Map();
        for (const name of Object.keys(requests)) {
          let key = base(name);
          for (let n = 2; taken.has(key) || entry.inputKeys.has(key); n++) key = `${base(name)}-${n}`;
          entry.inputKeys.add(key);
          minted.set(key, name);
        }
        const asked = Object.fromEntries([...minted].map(([key, name]) => [key, { ...requests[name], answerBy }]));
        return { inputRequests: { ...(s.inputRequests ?? {}), ...asked } };
      });
    } catch (err) {
      unwatch();
      throw err;
    }
    this.log.info({ task: t.metadata.name, keys: [...minted.keys()], answerBy }, "Asked the client for input");
    entry.toolTime?.pause();
    // the attempt may end without waiting for the answers: its end ends the wait, and its answer-by time
    const ended = () => {
      cancelLate();
      unwatch();
    };
    entry.inputWaits.add(ended);
    const cancelLate = this.clock.schedule(
      () => {
        if (entry.abort.signal.aborted) return;
        entry.why = "inputTimeout";
        entry.unanswered = `the client did not answer ${[...minted.keys()].join(", ")} by ${answerBy}`;
        entry.abort.abort(new ToolError(inputTimeoutReason, entry.unanswered));
      },
      Math.max(0, answerByMs - this.clock.now()),
    );
    let seen: Record<string, unknown>;
    try {
      seen = await arrived;
    } finally {
      entry.inputWaits.delete(ended);
      ended();
      entry.toolTime?.resume();
    }
    await this.editInput(t, entry, (s) => {
      const drop = <T extends Record<string, unknown> | undefined>(m: T) =>
        Object.fromEntries(Object.entries(m ?? {}).filter(([k]) => !minted.has(k)));
      return { inputRequests: drop(s.inputRequests), inputResponses: drop(s.inputResponses) };
    });
    return Object.fromEntries([...minted].map(([key, name]) => [name, seen[key]]));
  }

  /**
   * A read-modify-write of the task's input maps, retried on conflicts and
   * brief outages. The task as written becomes the attempt's latest, which
   * the next write (its end) goes from, instead of a version this write made
   * stale, which would cost it a conflict and a read.
   */
  private async editInput(
    t: Task,
    entry: Running,
    change: (s: NonNullable<Task["status"]>) => Partial<NonNullable<Task["status"]>>,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const current = await this.readOwn(t);
        const status = current?.status ?? {};
        if (!current || status.assignedAgent !== this.opts.name || terminal(current))
          throw new Error("the task is no longer this agent's");
        entry.latest = await this.clients.tasks.replaceStatus({ ...current, status: { ...status, ...change(status) } });
        return;
      } catch (err) {
        if ((!isConflict(err) && !isTransient(err)) || attempt >= 20) throw err;
        await sleep(this.clock, Math.min(100 * 2 ** attempt, 2_000));
      }
    }
  }

  /**
   * The fields an attempt's start writes, with Running or with its end: who
   * runs it and which attempt (unchanged for an Assigned task; for a bound
   * one, the first status it gets), when it started, and nothing an earlier
   * attempt left (progress, messages, questions or answers).
   */
  private startFields(attempt: number, startedAt: string): NonNullable<Task["status"]> {
    return {
      assignedAgent: this.opts.name,
      attempts: attempt,
      startTime: startedAt,
      progress: undefined,
      messages: undefined,
      inputRequests: undefined,
      inputResponses: undefined,
    };
  }

  /**
   * Writes the attempt's end; `started` says whether Running was written,
   * else the start's fields go in the same write, with the attempt's start
   * time (`startedAt`). Nothing is written when the task is no longer this
   * agent's in this attempt.
   */
  private async writeFinal(
    t: Task,
    started: boolean,
    attempt: number,
    startedAt: string,
    end: AttemptEnd,
    notes: StatusNotes = {},
  ): Promise<void> {
    // never before the start (the start's time was read first)
    const now = new Date(Math.max(Date.now(), Date.parse(startedAt))).toISOString();
    const fields: NonNullable<Task["status"]> =
      "result" in end
        ? { phase: "Completed", completionTime: now, result: end.result, error: undefined }
        : { phase: "Failed", error: { reason: end.reason, message: end.message, retryable: end.retryable } };
    await this.writeStatus(
      t,
      { ...(started ? {} : this.startFields(attempt, startedAt)), ...notes, ...fields },
      attempt,
    );
  }

  private resolveTool(t: Task): ToolDefinition | string {
    if (t.spec.tool) return this.tools.get(t.spec.tool) ?? `this agent has no tool ${t.spec.tool}`;
    const byCapability = [...this.tools.values()].filter((tool) =>
      t.spec.requiredCapabilities.includes(tool.capability),
    );
    if (byCapability.length === 1) return byCapability[0] as ToolDefinition;
    return byCapability.length === 0
      ? `no tool of this agent serves ${t.spec.requiredCapabilities.join(", ")}`
      : `the task names no tool and ${byCapability.length} tools serve its capabilities`;
  }

  private async execute(t: Task, entry: Running): Promise<void> {
    const tlog = this.log.child({ task: t.metadata.name, attempt: entry.attempt });
    if (entry.abort.signal.aborted || this.draining) return;
    // Running is written once the task outlives runningAfterMs, or before
    // the tool's first progress or question: a short call's only status
    // write is its end. Only if the task is still ours in this attempt.
    const claim = (): Promise<Task | undefined> => {
      if (!entry.claim) {
        if (entry.ending) return Promise.resolve(undefined);
        entry.claim = this.writeStatus(
          entry.latest,
          { ...this.startFields(entry.attempt, entry.startedAt), phase: "Running" },
          entry.attempt,
        )
          .catch((err: Error) => {
            tlog.warn({ err }, "Could not mark the task Running");
            return undefined;
          })
          .then((written) => {
            if (written) entry.latest = written;
            else if (!entry.ending) {
              tlog.info("Task is no longer ours; stopping it");
              this.cancel(t, "the task is no longer this agent's");
            }
            return written;
          });
      }
      return entry.claim;
    };
    const runningAfterMs = this.opts.runningAfterMs ?? 1_000;
    // 0 is "at once": claimed as the task starts, not on a timer that a tool
    // finishing within the same tick outruns (its Running would never be written).
    let stopClaimTimer = () => {};
    if (runningAfterMs <= 0) void claim();
    else stopClaimTimer = this.clock.schedule(() => void claim(), runningAfterMs);
    // What the tool reported in its last interval, not yet written: the final write carries it.
    let lastNotes: StatusNotes = {};
    const finish = async (end: AttemptEnd): Promise<void> => {
      entry.ending = true;
      stopClaimTimer();
      const span = trace.getActiveSpan();
      if ("result" in end) span?.setAttribute("mcp.task.outcome", "completed");
      else {
        span?.setAttribute("mcp.task.outcome", end.reason);
        span?.setStatus({ code: SpanStatusCode.ERROR, message: end.message || end.reason });
      }
      // a Running write refused (the task left this agent meanwhile): nothing more to write
      if (entry.claim && !(await entry.claim)) return;
      await this.writeFinal(entry.latest, entry.claim !== undefined, entry.attempt, entry.startedAt, end, lastNotes);
    };
    const tool = this.resolveTool(t);
    if (typeof tool === "string") {
      await finish({ reason: "UnknownTool", message: tool, retryable: false });
      this.metrics.executed.inc({ tool: t.spec.tool ?? "", outcome: "invalid_input" });
      return;
    }
    const invalid = validate(tool.inputSchema, t.spec.payload ?? {});
    if (invalid) {
      await finish({ reason: "InvalidInput", message: invalid, retryable: false });
      this.metrics.executed.inc({ tool: tool.name, outcome: "invalid_input" });
      tlog.info({ why: invalid }, "Rejected invalid input");
      return;
    }

    const timeoutMs = tool.timeoutMs ?? this.opts.taskTimeoutMs ?? 300_000;
    // The tool's time stands still while it waits for answers (requestInput); the deadline never does.
    const toolTime = new ToolTime(timeoutMs, this.clock);
    entry.toolTime = toolTime;
    const untilDeadline = t.spec.deadline ? Date.parse(t.spec.deadline) - this.clock.now() : Number.NaN;
    const pastDeadline = Number.isFinite(untilDeadline) ? AbortSignal.timeout(Math.max(1, untilDeadline)) : undefined;
    const signal = AbortSignal.any([entry.abort.signal, toolTime.signal, ...(pastDeadline ? [pastDeadline] : [])]);
    const progress = new ProgressWriter({
      write: async (notes) => {
        if (!(await claim())) throw new Error("the task is no longer this agent's");
        await this.editInput(t, entry, () => notes);
      },
      onError: (err) => tlog.debug({ err }, "Could not write progress or messages; dropped"),
      clock: this.clock,
    });
    let seq = 0;
    signal.addEventListener("abort", () => progress.stop(), { once: true });
    const requestInput: ToolContext["requestInput"] = async (requests) => {
      if (!(await claim())) throw new Error("the task is no longer this agent's");
      return this.requestInput(entry.latest, entry, signal, requests);
    };
    const ctx: ToolContext = {
      task: t,
      signal,
      attempt: entry.attempt,
      idempotencyKey: `${t.metadata.uid}/${entry.attempt}`,
      log: toolLog(tlog, (level, data, logger) => progress.message(normalizeMessage(++seq, level, data, logger))),
      requestInput,
      ...inputHelpers(requestInput),
      client: clientOf(t),
      progress: (done, total, message) => progress.report(normalizeProgress(done, total, message)),
    };
    this.metrics.inFlight.inc();
    const end = this.metrics.duration.startTimer({ tool: tool.name });
    let outcome = "completed";
    try {
      const value = await Promise.race([
        Promise.resolve(tool.handler(t.spec.payload ?? {}, ctx)),
        new Promise<never>((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason), { once: true }),
        ),
      ]).finally(() => {
        lastNotes = progress.stop();
      });
      const result =
        value !== null && typeof value === "object" && !Array.isArray(value)
          ? (value as Record<string, unknown>)
          : { value };
      const size = Buffer.byteLength(JSON.stringify(result));
      const max = this.opts.maxResultBytes ?? 256 * 1024;
      if (size > max) {
        outcome = "too_large";
        await finish({
          reason: "ResultTooLarge",
          message: `the result is ${size} bytes; the limit is ${max}`,
          retryable: false,
        });
      } else {
        await finish({ result });
      }
    } catch (err) {
      if (entry.why === "cancelled") {
        outcome = "cancelled";
        tlog.info({ why: (entry.abort.signal.reason as Error)?.message }, "Cancelled task");
      } else if (entry.why === "shutdown") {
        outcome = "cancelled";
        await finish({
          reason: "AgentShutdown",
          message: `agent ${this.opts.name} shut down during the task`,
          retryable: true,
        });
      } else if (entry.why === "inputTimeout") {
        // Another attempt would ask again, of a client that does not answer.
        outcome = "timeout";
        await finish({
          reason: inputTimeoutReason,
          message: entry.unanswered ?? "the client did not answer in time",
          retryable: false,
        });
      } else if (pastDeadline?.aborted) {
        // Past the deadline the controller fails the task itself.
        outcome = "timeout";
      } else if (toolTime.signal.aborted) {
        // A plain timeout may succeed next time.
        outcome = "timeout";
        await finish({
          reason: "Timeout",
          message: `the tool ran longer than ${timeoutMs} ms`,
          retryable: true,
        });
      } else if (err instanceof ToolError) {
        outcome = "failed";
        await finish({ reason: err.reason, message: err.message, retryable: err.retryable });
      } else {
        outcome = "failed";
        await finish({
          reason: "ToolFailed",
          message: (err as Error)?.message ?? String(err),
          retryable: true,
        });
      }
    } finally {
      entry.ending = true;
      stopClaimTimer();
      toolTime.stop();
      for (const ended of entry.inputWaits) ended();
      end();
      this.metrics.inFlight.dec();
      this.metrics.executed.inc({ tool: tool.name, outcome });
    }
    tlog.info({ outcome }, "Executed task");
  }
}
