/**
 * Turns a tool call into a durable Task and waits for it to finish. One
 * informer over the gateway's own Tasks (by label) serves every waiting call,
 * so a thousand calls in flight cost one watch, not a thousand.
 *
 * The gateway places a call itself when one of the tool's Ready agents has
 * room, with the scheduler's policy over the loads its own Tasks show, and
 * creates the Task bound to that agent (ADR 0013): the Task is never Pending,
 * the controller writes nothing for it, and its agent's result is the call's
 * one status write. When no agent has room by its count, the Task is created
 * unbound and the controller places it in priority order, as any other.
 */
import { randomBytes } from "node:crypto";
import { clientCapabilitiesAnnotation } from "../../lib/agent/tool.ts";
import type { Agent, McpClients, Task } from "../../lib/api/resources.ts";
import { boundAgentLabel, finalFailureCondition, isFinished } from "../../lib/api/task-state.ts";
import { setCondition } from "../../lib/controller/conditions.ts";
import { isConflict, isTransient } from "../../lib/kube/errors.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { labelValue } from "../../lib/kube/labels.ts";
import type { Logger } from "../../lib/log.ts";
import { chooseBoundAgent } from "../../lib/scheduling/call-binding.ts";
import { LoadIndex } from "../../lib/scheduling/load-index.ts";
import { InFlightByCaller } from "./calls/in-flight.ts";
import { annotations, callerMarks, labels, sessionLabelValue } from "./calls/marks.ts";
import type { CallMeta, CallStore, TaskOutcome } from "./calls/store.ts";
import type { Caller } from "./calls/tools.ts";
import type { GatewayTool } from "./tool-registry.ts";

export { annotations, callerMarks, clientLabelValue, labels, madeBy, sessionLabelValue } from "./calls/marks.ts";

export type { TaskOutcome };

/** How the gateway binds calls to agents (ADR 0013); without it, every Task is created unbound. */
export interface CallBinding {
  /** The Agent of this name in the domain, from the gateway's cache. */
  agent: (name: string) => Agent | undefined;
}

interface Waiter {
  onChange: (t: Task) => void;
  resolve: (o: TaskOutcome) => void;
}

export class TaskCalls implements CallStore {
  readonly informer: Informer<Task>;
  /** The calls waiting on each Task, by name (a retried 2026 call may wait beside an earlier round). */
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly byCaller = new InFlightByCaller();
  /**
   * The gateways' Tasks on each agent, as placement counts them (with those
   * this replica created and its watch has not brought back yet). Tasks made
   * otherwise, and other replicas' last few, are not seen: an agent given one
   * more than it takes queues it, and runs it when a slot frees.
   */
  private readonly load = new LoadIndex((key) => this.informer.getByKey(key));
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly clients: McpClients,
    readonly namespace: string,
    private readonly log: Logger,
    private readonly binding?: CallBinding,
  ) {
    this.informer = new Informer(clients.tasks, {
      namespace,
      labelSelector: `${labels.createdBy}=gateway`,
      logger: log,
    });
    this.informer.on({
      add: (t) => {
        this.load.observe(t, undefined);
        this.dispatch(t);
      },
      update: (t, old) => {
        this.load.observe(t, old);
        this.dispatch(t);
      },
      delete: (t) => {
        this.load.remove(t);
        this.byCaller.forget(t.metadata.name ?? "");
        const ws = this.waiters.get(t.metadata.name ?? "");
        this.waiters.delete(t.metadata.name ?? "");
        for (const w of ws ?? []) w.resolve({ kind: "deleted" });
      },
    });
  }

  start(): Promise<void> {
    this.sweeper = setInterval(
      () => this.byCaller.sweep((name) => this.informer.get(this.namespace, name) !== undefined),
      30_000,
    );
    this.sweeper.unref?.();
    return this.informer.start();
  }

  stop(): Promise<void> {
    clearInterval(this.sweeper);
    return this.informer.stop();
  }

  /** Calls waiting on their Tasks on this replica. */
  get inFlight(): number {
    let n = 0;
    for (const ws of this.waiters.values()) n += ws.size;
    return n;
  }

  cached(name: string): Task | undefined {
    return this.informer.get(this.namespace, name);
  }

  list(): Task[] {
    return this.informer.list();
  }

  /** Tasks of a caller not yet finished, made through any replica (calls/in-flight.ts). */
  inFlightOf(caller: Caller): number {
    return this.byCaller.count(caller);
  }

  private dispatch(t: Task): void {
    this.byCaller.observe(t);
    this.tell(t, this.waiters.get(t.metadata.name ?? ""));
  }

  private tell(t: Task, ws: Iterable<Waiter> | undefined): void {
    for (const w of [...(ws ?? [])]) {
      w.onChange(t);
      if (isFinished(t)) {
        this.drop(t.metadata.name ?? "", w);
        w.resolve(t.status?.phase === "Completed" ? { kind: "completed", task: t } : { kind: "failed", task: t });
      }
    }
  }

  private drop(name: string, w: Waiter): void {
    const ws = this.waiters.get(name);
    ws?.delete(w);
    if (ws?.size === 0) this.waiters.delete(name);
  }

  get(name: string): Promise<Task> {
    return this.clients.tasks.get(this.namespace, name);
  }

  /**
   * Cancels a call made as an MCP task: the Task fails for good with reason
   * Cancelled, which stops its agent's work and is what tasks/get reports.
   */
  async cancelTask(task: Task, message: string, reason = "Cancelled"): Promise<Task> {
    // The agent and the controller write the same status: on a conflict, read again and retry.
    for (let attempt = 0; ; attempt++) {
      if (isFinished(task)) return task;
      const now = new Date();
      const status = task.status ?? {};
      try {
        return await this.clients.tasks.replaceStatus({
          ...task,
          status: {
            ...status,
            phase: "Failed",
            completionTime: now.toISOString(),
            error: { reason, message, retryable: false },
            conditions: setCondition(
              status.conditions,
              { type: finalFailureCondition, status: "True", reason, message },
              now,
              task.metadata.generation,
            ),
          },
        });
      } catch (err) {
        // A 5xx or a lost connection (an apiserver restarting) is worth another try, as a conflict is.
        const transient = isTransient(err);
        if ((!isConflict(err) && !transient) || attempt >= 5) throw err;
        if (transient) await Bun.sleep(250 * 2 ** attempt);
        task = await this.get(task.metadata.name ?? "");
      }
    }
  }

  /** Records a client's answers to a running task's input requests, and what is still unanswered. */
  writeInput(task: Task, stillAsked: Record<string, unknown>, answers: Record<string, unknown>): Promise<Task> {
    const status = task.status ?? {};
    return this.clients.tasks.replaceStatus({
      ...task,
      status: {
        ...status,
        inputRequests: stillAsked,
        inputResponses: { ...(status.inputResponses ?? {}), ...answers },
      },
    });
  }

  /**
   * The agent to bind a new call's Task to: the one the scheduler's policy
   * picks among the tool's Ready agents with room, or none (the controller
   * places the Task then).
   */
  private chooseAgent(tool: GatewayTool, name: string): string | undefined {
    if (!this.binding || tool.federated) return undefined;
    const agents: Agent[] = [];
    for (const n of tool.agents) {
      const agent = this.binding.agent(n);
      if (agent) agents.push(agent);
    }
    try {
      return chooseBoundAgent(
        { name, capability: tool.capability, namespace: this.namespace },
        agents,
        this.load.loads(),
      );
    } catch (err) {
      // An agent the policy refuses as a candidate (bad data on its object): leave the call to the controller.
      this.log.debug({ err, tool: tool.name }, "Could not place a call; creating its Task unbound");
      return undefined;
    }
  }

  /** Creates the Task for a tool call, bound to an agent with room when there is one. Its name is unguessable. */
  async create(tool: GatewayTool, args: Record<string, unknown>, meta: CallMeta): Promise<Task> {
    const name = `call-${randomBytes(12).toString("hex")}`;
    const marks = callerMarks(meta.caller);
    const session = meta.caller.session;
    const client = meta.clientCapabilities ? inputCapabilitiesOf(meta.clientCapabilities) : undefined;
    const key = `${this.namespace}/${name}`;
    const agent = this.chooseAgent(tool, name);
    // Counted before the create is sent, so the calls after it see the agent fuller.
    if (agent) this.load.assume(key, agent);
    const created = await this.clients.tasks
      .create(this.namespace, {
        metadata: {
          name,
          labels: {
            [labels.createdBy]: "gateway",
            ...(agent ? { [boundAgentLabel]: agent } : {}),
            ...marks.labels,
            [labels.tool]: labelValue(tool.name),
            ...(session ? { [labels.session]: sessionLabelValue(session) } : {}),
          },
          annotations: {
            [annotations.requestId]: meta.requestId,
            ...marks.annotations,
            ...(meta.traceparent ? { [annotations.traceparent]: meta.traceparent } : {}),
            // a client that declared none of them is the Task without the annotation (ctx.client: nothing)
            ...(client && client !== "{}" ? { [clientCapabilitiesAnnotation]: client } : {}),
          },
        },
        spec: {
          requiredCapabilities: [tool.capability],
          ...(tool.generic ? {} : { tool: tool.name }),
          payload: args,
          ...(meta.ttlSeconds !== undefined ? { ttlSecondsAfterFinished: meta.ttlSeconds } : {}),
        },
      })
      .catch((err: unknown) => {
        this.load.forget(key);
        throw err;
      });
    // Counted at once: the watch brings it a moment later, and the caller's next call must see it.
    this.byCaller.observe(created);
    meta.counted?.();
    return created;
  }

  /**
   * Waits until the Task finishes or is deleted; onChange sees every update
   * meanwhile. `stop` ends the wait early (the call answered something else):
   * it resolves as stopped.
   */
  wait(task: Task, onChange: (t: Task) => void = () => {}, stop?: AbortSignal): Promise<TaskOutcome> {
    const name = task.metadata.name ?? "";
    return new Promise((resolve) => {
      const w: Waiter = { onChange, resolve };
      const ws = this.waiters.get(name) ?? new Set();
      ws.add(w);
      this.waiters.set(name, ws);
      stop?.addEventListener(
        "abort",
        () => {
          this.drop(name, w);
          resolve({ kind: "stopped" });
        },
        { once: true },
      );
      // It may have finished (or moved on) before we started waiting.
      const cached = this.informer.get(this.namespace, name);
      if (cached) this.tell(cached, [w]);
    });
  }

  async cancel(task: Task): Promise<void> {
    try {
      await this.clients.tasks.delete(this.namespace, task.metadata.name ?? "");
      this.byCaller.forget(task.metadata.name ?? "");
    } catch (err) {
      this.log.warn({ err, task: task.metadata.name }, "Could not delete a cancelled call's Task");
    }
  }
}

/**
 * What a tool needs to know of its client (ctx.client): the elicitation,
 * sampling and roots capabilities it declared, as JSON for the Task's
 * annotation. A capability's settings are kept only while small; the
 * capability itself always is.
 */
export function inputCapabilitiesOf(capabilities: Record<string, unknown>): string {
  const kept: Record<string, unknown> = {};
  for (const k of ["elicitation", "sampling", "roots"]) {
    const v = capabilities[k];
    if (!v || typeof v !== "object" || Array.isArray(v)) continue;
    kept[k] = JSON.stringify(v).length <= 512 ? v : {};
  }
  return JSON.stringify(kept);
}
