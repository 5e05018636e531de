/**
 * How many Tasks occupy each agent, as placement and the agent reconciler
 * count them: the Tasks the informer shows Assigned or Running, plus the
 * assignments this controller wrote but has not yet seen come back on the
 * watch (an assume cache, as kube-scheduler keeps one). Without the assumed
 * ones, a placement pass that starts while the last pass's writes are in
 * flight would see their agents as free and fill them past capacity.
 *
 * Kept incrementally from informer events rather than counted from the Task
 * cache on demand: every agent reconcile asks for its agent's count, and
 * walking 10,000 Tasks for each of 1,000 agents would cost more than the
 * reconciles themselves.
 */
import type { Task } from "../api/resources.ts";
import { taskAgent } from "../api/task-state.ts";
import { objectKey } from "../kube/informer.ts";
import { occupiesAgent } from "./candidates.ts";

/** The agents whose load a Task event changed: `released` one, `took` another (or both). */
export interface LoadChange {
  released?: string;
  took?: string;
}

export class LoadIndex {
  /** Tasks occupying each agent, from the informer: agent name → task keys. */
  private readonly byAgent = new Map<string, Set<string>>();
  /** Assignments written but not yet seen by the informer: task key → agent. */
  private readonly assumed = new Map<string, string>();

  /** `taskByKey` reads the informer's cache: an assumed Task it already shows occupying is not counted twice. */
  constructor(private readonly taskByKey: (key: string) => Task | undefined) {}

  /** Takes in a Task the informer added or updated; returns the agents whose load changed. */
  observe(t: Task, old: Task | undefined): LoadChange {
    const key = objectKey(t);
    // The watch caught up with this Task: the informer's view replaces the assumption.
    if (t.status?.assignedAgent || t.status?.phase !== "Pending") this.assumed.delete(key);
    const was = old && occupiesAgent(old) ? taskAgent(old) : undefined;
    const is = occupiesAgent(t) ? taskAgent(t) : undefined;
    if (was === is) return {};
    if (was) this.byAgent.get(was)?.delete(key);
    if (is) {
      const set = this.byAgent.get(is) ?? new Set<string>();
      this.byAgent.set(is, set);
      set.add(key);
    }
    return { released: was, took: is };
  }

  /** Forgets a deleted Task; returns the agent it occupied, if any. */
  remove(t: Task): string | undefined {
    const key = objectKey(t);
    this.assumed.delete(key);
    const agent = occupiesAgent(t) ? taskAgent(t) : undefined;
    if (agent) this.byAgent.get(agent)?.delete(key);
    return agent;
  }

  /** Counts `key` on `agent` from now on, before its assignment is written. */
  assume(key: string, agent: string): void {
    this.assumed.set(key, agent);
  }

  /** Drops an assumption whose write failed: the Task is placed again. */
  forget(key: string): void {
    this.assumed.delete(key);
  }

  isAssumed(key: string): boolean {
    return this.assumed.has(key);
  }

  /** The keys of the Tasks the informer shows on `agent` (assumed ones are not there yet). */
  tasksOn(agent: string): Iterable<string> {
    return this.byAgent.get(agent) ?? [];
  }

  /** Tasks on `agent`, assumed ones included: its status.currentTasks. */
  count(agent: string): number {
    // Asked on every reconcile of the agent: no copy of its set.
    const seen = this.byAgent.get(agent);
    let n = seen?.size ?? 0;
    for (const [k, a] of this.assumed) if (a === agent && !seen?.has(k)) n++;
    return n;
  }

  /** Tasks on every agent, assumed ones included, for a placement pass. */
  loads(): Map<string, number> {
    const load = new Map<string, number>();
    for (const [agent, keys] of this.byAgent) load.set(agent, keys.size);
    for (const agent of this.assumedNotSeen()) load.set(agent, (load.get(agent) ?? 0) + 1);
    return load;
  }

  /**
   * Sets each agent's `currentTasks` in `byAgentName` to its load, as
   * loads() counts it, without a new map: a controller's pass keeps its
   * candidates from one pass to the next and sets only their loads.
   */
  setLoads(byAgentName: Map<string, { currentTasks: number }>): void {
    for (const c of byAgentName.values()) c.currentTasks = 0;
    for (const [agent, keys] of this.byAgent) {
      const c = byAgentName.get(agent);
      if (c) c.currentTasks = keys.size;
    }
    for (const agent of this.assumedNotSeen()) {
      const c = byAgentName.get(agent);
      if (c) c.currentTasks++;
    }
  }

  /** The agent of each assumed Task the informer does not show occupying one yet. */
  private *assumedNotSeen(): Generator<string> {
    for (const [key, agent] of this.assumed) {
      const t = this.taskByKey(key);
      if (!t || !occupiesAgent(t)) yield agent;
    }
  }
}
