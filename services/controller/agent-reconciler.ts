/**
 * The agent reconciler: for one Agent key, judges its health from when this
 * replica saw its heartbeat change (its Lease renewed, or, from an agent of an
 * earlier release, its status.lastHeartbeat: agent-health.ts) and writes its
 * phase, its Ready condition and currentTasks. When an agent stops being
 * Ready, its Tasks are reconciled, so they are reassigned (or left to a
 * draining agent).
 */
import type { Agent } from "../../lib/api/resources.ts";
import { conditionDiffers, setCondition } from "../../lib/controller/conditions.ts";
import type { EventRecorder } from "../../lib/controller/events.ts";
import type { ReconcileResult } from "../../lib/controller/reconcile.ts";
import { WriteSlots } from "../../lib/controller/write-slots.ts";
import { type Informer, objectKey } from "../../lib/kube/informer.ts";
import type { Lease } from "../../lib/kube/leases.ts";
import type { Logger } from "../../lib/log.ts";
import type { LoadIndex } from "../../lib/scheduling/load-index.ts";
import {
  agentEventReasons,
  agentHealth,
  type HealthThresholds,
  type HeartbeatSighting,
  healthChanged,
  observeHeartbeat,
  readyCondition,
} from "./agent-health.ts";

export type AgentStatus = NonNullable<Agent["status"]>;

/** The shortest gap between two writes of an agent's currentTasks alone. */
const agentCountWriteIntervalMs = 5_000;

/**
 * Writes of currentTasks alone across the domain, per second at most: with
 * 1,000 agents taking Tasks, the 5 s pace per agent alone would be 200 Agent
 * writes a second, as many as the Tasks' own.
 */
const agentCountWritesPerSecond = 10;

export interface AgentReconcilerOptions {
  agents: Informer<Agent>;
  /** The agents' Leases (lib/agent/lease.ts), named like their Agents. */
  leases: Informer<Lease>;
  /** Where currentTasks is counted from: the Tasks themselves, never the agent's word. */
  load: LoadIndex;
  /** Merge-patches the Agent's status subresource with these fields. */
  patchStatus: (agent: Agent, status: AgentStatus) => Promise<unknown>;
  events: EventRecorder;
  now: () => number;
  thresholds: HealthThresholds;
  /** Reconciles the Tasks on an agent that is gone or no longer Ready. */
  enqueueTasksOf: (agent: string) => void;
}

export class AgentReconciler {
  /**
   * When this replica saw each Agent's heartbeat change, by its own clock:
   * health is judged by that, never by the time the agent wrote. Kept by every
   * replica, leading or not, so a new leader knows which agents it saw alive.
   */
  private readonly heartbeats = new Map<string, HeartbeatSighting>();
  /** When each agent's status was last written, to pace currentTasks updates. */
  private readonly statusWrittenAt = new Map<string, number>();
  /** The slot each agent holds for its next count-only write, and the domain's slots. */
  private readonly countWriteAt = new Map<string, number>();
  private readonly countWrites = new WriteSlots(agentCountWritesPerSecond);

  constructor(private readonly o: AgentReconcilerOptions) {}

  /** Notes an Agent the informer added or updated: called on every replica, leading or not. */
  observe(a: Agent): void {
    const key = objectKey(a);
    this.heartbeats.set(key, observeHeartbeat(this.heartbeats.get(key), a, this.o.leases.getByKey(key), this.o.now()));
  }

  /**
   * Notes an agent's Lease the informer added or updated, as observe does its
   * Agent; `listed` when it came with the informer's first list (there before
   * this replica watched, so no renewal). True when the agent is worth a
   * reconcile: its health as judged now is not what its status says. A
   * renewal of a Ready agent is not (at 1,000 agents, 100 reconciles a second
   * that write nothing); the reconcile queued for when its heartbeat would go
   * stale finds the newer sighting. A Lease whose Agent is not cached yet is
   * noted with the Agent, whose arrival queues it.
   */
  observeLease(l: Lease, listed: boolean): boolean {
    const key = objectKey(l);
    const agent = this.o.agents.getByKey(key);
    if (!agent) return false;
    const now = this.o.now();
    const seen = observeHeartbeat(this.heartbeats.get(key), agent, l, now, { listed });
    this.heartbeats.set(key, seen);
    return healthChanged(agent, seen, now, this.o.thresholds);
  }

  /** Forgets a deleted Agent: one created again under its name is seen afresh. */
  forget(a: Agent): void {
    this.heartbeats.delete(objectKey(a));
    this.countWriteAt.delete(objectKey(a));
  }

  async reconcile(key: string, log: Logger): Promise<ReconcileResult | undefined> {
    const agent = this.o.agents.getByKey(key);
    const name = key.slice(key.indexOf("/") + 1);
    if (!agent) {
      this.o.enqueueTasksOf(name);
      return undefined;
    }
    const now = this.o.now();
    const seen = observeHeartbeat(this.heartbeats.get(key), agent, this.o.leases.getByKey(key), now);
    this.heartbeats.set(key, seen);
    const health = agentHealth(agent, seen, now, this.o.thresholds);
    const currentTasks = this.o.load.count(name);
    const gen = agent.metadata.generation;
    const ready = {
      type: readyCondition,
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
      // pace those writes so a burst of assignments costs one write per agent,
      // and many agents together no more than the domain's rate.
      let at = this.countWriteAt.get(key);
      if (at === undefined) {
        at = this.countWrites.reserve(Math.max(now, (this.statusWrittenAt.get(key) ?? 0) + agentCountWriteIntervalMs));
        this.countWriteAt.set(key, at);
      }
      const wait = at - now;
      if (wait > 0) return { requeueAfterMs: Math.min(wait, health.recheckInMs ?? wait) };
    }
    if (healthChanged || status.currentTasks !== currentTasks) {
      this.statusWrittenAt.set(key, now);
      this.countWriteAt.delete(key);
      const conditions = setCondition(status.conditions, ready, new Date(now), gen);
      await this.o.patchStatus(agent, { phase: health.phase, currentTasks, observedGeneration: gen, conditions });
      if (status.phase !== health.phase) {
        const { events } = this.o;
        if (health.phase === "Ready") events.record(agent, "Normal", agentEventReasons.ready, health.message);
        else events.record(agent, "Warning", agentEventReasons.notReady, `${health.phase}: ${health.message}`);
        log.child({ agent: name }).info({ from: status.phase ?? "(none)", to: health.phase }, "Agent phase changed");
        if (health.phase !== "Ready") this.o.enqueueTasksOf(name);
      }
    }
    // Look again when the heartbeat would go stale.
    return { requeueAfterMs: health.recheckInMs };
  }
}
