/**
 * Placement: one pass for the whole domain (one queue key), so Pending Tasks
 * are placed highest priority first, and first in, first out within a
 * priority. A pass sends the Tasks to the scheduler in batches with every
 * agent as a candidate, loaded as the load index counts it, and starts the
 * status writes without waiting for them: an assignment is assumed in the
 * index at once, so the next pass neither places that Task again nor sees its
 * agent as free.
 */
import pLimit from "p-limit";
import type { Agent, Task } from "../../lib/api/resources.ts";
import { isBoundUnstarted } from "../../lib/api/task-state.ts";
import { conditionDiffers, findCondition } from "../../lib/controller/conditions.ts";
import type { EventRecorder } from "../../lib/controller/events.ts";
import type { ReconcileResult } from "../../lib/controller/reconcile.ts";
import { isConflict, isNotFound } from "../../lib/kube/errors.ts";
import { type Informer, objectKey } from "../../lib/kube/informer.ts";
import type { Logger } from "../../lib/log.ts";
import { toCandidate, toTaskSpec } from "../../lib/scheduling/candidates.ts";
import type { LoadIndex } from "../../lib/scheduling/load-index.ts";
import { defaultPriority, describeNoFit } from "../../lib/scheduling/policy.ts";
import { traceparentAnnotation } from "../../lib/trace-context.ts";
import { inSpan, linkTo, tracedServices } from "../../lib/tracing.ts";
import type { Candidate, Placement } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { conditionTypes, eventReasons, reasons } from "./task-lifecycle.ts";
import { type TaskStatusWriter, taskStatusAfter, unschedulableCondition } from "./task-status.ts";

/** What the controller needs of the scheduler; the gRPC client in production. */
export interface Placer {
  placeBatch(
    tasks: ReturnType<typeof toTaskSpec>[],
    candidates: Candidate[],
    candidateLimit?: number,
  ): Promise<Placement[]>;
}

/** Tasks per PlaceBatch call: big enough to amortise sending the candidates, small enough to stream writes. */
const placementBatchSize = 200;

/**
 * Ranked candidates listed per placement (0 would list every agent, each with
 * its explanation): an assignment needs only the chosen agent's score, and
 * the no-fit message comes from topReasons, which count every agent anyway.
 */
const candidateLimit = 3;

/** The wait before a pass after a placement write failed. */
const retryAfterFailedWriteMs = 100;

export interface PlacementOptions {
  tasks: Informer<Task>;
  agents: Informer<Agent>;
  load: LoadIndex;
  scheduler: Placer;
  writeStatus: TaskStatusWriter;
  /** Placement writes in flight at once, at most. */
  writeConcurrency: number;
  events: EventRecorder;
  metrics: ControllerMetrics;
  now: () => number;
  /** Asks for another pass, now or after a delay, on the current term's queue. */
  enqueue: (afterMs?: number) => void;
  isLeading: () => boolean;
}

/** Whether a Task waits for this controller to place it: Pending or new, not created bound to an agent, not being deleted. */
export function awaitsPlacement(t: Task): boolean {
  return (
    (t.status?.phase === "Pending" || t.status?.phase === undefined) &&
    !isBoundUnstarted(t) &&
    !t.metadata.deletionTimestamp
  );
}

interface LastPass {
  endedAt: number;
  tookMs: number;
}

/** The longest rest between passes: a pass slowed by a struggling scheduler does not hold the next one long. */
const maxPassRestMs = 250;

/**
 * How long the next pass waits: a pass starts no sooner after the last one
 * ended than that one took (up to maxPassRestMs). Idle, passes take a few
 * milliseconds and a Task is placed at once; when Tasks arrive faster than
 * passes end, each pass takes the Tasks of a longer span (a pass costs about
 * the same for one Task as for many: it reads every agent and sends each
 * one's load), so placement keeps at most half of the controller's time
 * instead of a pass per Task.
 */
export function nextPassAfterMs(last: LastPass, now: number): number {
  return last.endedAt + Math.min(last.tookMs, maxPassRestMs) - now;
}

/**
 * Whether an assignment is news to a person reading the Task's Events: one
 * that ends a wait (the Task said NoAgentAvailable) or starts a later attempt.
 * A first assignment without a wait is in the Task's Scheduled condition and
 * assignedTime already; an Event for each would double the apiserver writes
 * of placement (a POST per Task) when Tasks arrive fastest.
 */
export function assignmentWorthAnEvent(before: Task): boolean {
  return (
    (before.status?.attempts ?? 0) > 0 ||
    findCondition(before.status?.conditions, conditionTypes.scheduled)?.reason === reasons.noAgentAvailable
  );
}

export class PlacementReconciler {
  /**
   * The keys of the Tasks that await placement, kept from informer events: a
   * pass runs after every completion (capacity freed), and walking every Task
   * the cache keeps until its TTL made each pass cost O(all Tasks).
   */
  private readonly pending = new Set<string>();
  /** When the controller first saw each unassigned task, for the assignment latency histogram. */
  private readonly firstSeen = new Map<string, number>();
  /** Placement writes in flight, and the tasks they are for (kept out of the next pass). */
  private readonly writes = new Set<Promise<void>>();
  private readonly writing = new Set<string>();
  private readonly writeLimit: ReturnType<typeof pLimit>;
  private lastPass: LastPass = { endedAt: Number.NEGATIVE_INFINITY, tookMs: 0 };
  /**
   * The agents as candidates, built again only after an agent joined, left
   * or changed what placement reads of it (agentsChanged); each pass sets
   * their loads. Building them from 1,000 Agents for every pass, and the
   * placer comparing that list with the one the scheduler keeps, was most of
   * a pass when Tasks arrive one at a time. The same array, pass after pass,
   * tells the placer the list is unchanged without a walk.
   */
  private candidateList: { candidates: Candidate[]; byName: Map<string, Candidate> } | undefined;

  constructor(private readonly o: PlacementOptions) {
    this.writeLimit = pLimit(o.writeConcurrency);
  }

  /** Notes a Task the informer added or updated: a new one starts its assignment latency. */
  observe(t: Task): void {
    const key = objectKey(t);
    if (awaitsPlacement(t)) this.pending.add(key);
    else this.pending.delete(key);
    // A Task created bound to its agent (ADR 0013) is never placed here.
    if (!this.firstSeen.has(key) && !t.status?.assignedAgent && (t.status?.attempts ?? 0) === 0 && !isBoundUnstarted(t))
      this.firstSeen.set(key, this.o.now());
  }

  /** An agent joined, left, or changed its phase, capabilities, tags or capacity: the next pass builds the candidates again. */
  agentsChanged(): void {
    this.candidateList = undefined;
  }

  /** This pass's candidates: the kept list (or a new one), each with its load now. */
  private candidatesWithLoads(): { candidates: Candidate[]; byName: Map<string, Candidate> } {
    let list = this.candidateList;
    if (!list) {
      const candidates = this.o.agents.list().map((a) => toCandidate(a, 0));
      list = { candidates, byName: new Map(candidates.map((c) => [c.name, c])) };
      this.candidateList = list;
    }
    this.o.load.setLoads(list.byName);
    return list;
  }

  /** Forgets a deleted Task. */
  forget(t: Task): void {
    this.firstSeen.delete(objectKey(t));
    this.pending.delete(objectKey(t));
  }

  /** Resolves once the writes in flight now are done (whether they succeeded or not). */
  settled(): Promise<unknown> {
    return Promise.all([...this.writes]);
  }

  async reconcile(log: Logger): Promise<ReconcileResult | undefined> {
    const startedAt = performance.now();
    const rest = nextPassAfterMs(this.lastPass, startedAt);
    if (rest > 0) return { requeueAfterMs: rest };
    const pending = this.pendingInOrder();
    if (pending.length === 0) return undefined;
    try {
      await this.place(pending, log);
    } finally {
      const endedAt = performance.now();
      this.lastPass = { endedAt, tookMs: endedAt - startedAt };
    }
    return undefined;
  }

  private async place(pending: Task[], log: Logger): Promise<void> {
    const { candidates, byName } = this.candidatesWithLoads();
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
        // One placement serves many calls: a trace of its own, linked to each call's.
        placements = await inSpan(
          tracedServices.controller,
          "place tasks",
          {
            attributes: { "mcp.tasks": batch.length, "mcp.candidates": candidates.length },
            links: batch.map((t) =>
              linkTo(t.metadata.annotations?.[traceparentAnnotation], { "mcp.task": t.metadata.name ?? "" }),
            ),
          },
          () => this.o.scheduler.placeBatch(batch.map(toTaskSpec), candidates, candidateLimit),
        );
      } finally {
        this.o.metrics.placementLatency.observe((performance.now() - start) / 1000);
      }
      batch.forEach((task, i) => {
        const placement = placements[i];
        const write = placement && this.placementWrite(task, placement, byName, log);
        if (write) this.startWrite(objectKey(task), write, log);
      });
    }
  }

  /** Tasks to place, highest priority first; first in, first out within a priority. */
  private pendingInOrder(): Task[] {
    const pending: Task[] = [];
    for (const key of this.pending) {
      const t = this.o.tasks.getByKey(key);
      // The set follows the informer's events: a key in it is a Task that awaits placement.
      if (t && !this.o.load.isAssumed(key) && !this.writing.has(key)) pending.push(t);
    }
    return pending.sort(
      (a, b) =>
        (b.spec.priority ?? defaultPriority) - (a.spec.priority ?? defaultPriority) ||
        (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
        (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
    );
  }

  /**
   * Sends a placement write without waiting for it, so the next pass can
   * start at once; the load index keeps those tasks out of it. At most
   * writeConcurrency writes are in flight. A write that loses a race (409)
   * or fails is forgotten and its task placed again.
   */
  private startWrite(key: string, write: () => Promise<void>, log: Logger): void {
    this.writing.add(key);
    const p: Promise<void> = this.writeLimit(write)
      .catch((err: Error) => {
        // A conflict means the task changed; its update event brings it back.
        if (!isConflict(err) && !isNotFound(err)) log.warn({ err, task: key }, "Placement write failed");
        this.o.enqueue(retryAfterFailedWriteMs);
      })
      .finally(() => {
        this.writing.delete(key);
        this.writes.delete(p);
        // The task's watch event may have come before this point, while the
        // task was still kept out of passes: look once more.
        if (this.o.isLeading()) this.o.enqueue();
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
      // Counted at once, in this pass's candidates and in the index, before the write is sent.
      const cand = byName.get(chosen);
      if (cand) cand.currentTasks++;
      this.o.load.assume(key, chosen);
      return async () => {
        try {
          await this.assign(task, chosen, placement, log);
        } catch (err) {
          this.o.load.forget(key);
          throw err;
        }
      };
    }
    this.o.metrics.placementDecisions.inc({ outcome: "unschedulable" });
    const message = describeNoFit(placement);
    // A new task gets its Pending phase in the same write.
    if (
      task.status?.phase !== undefined &&
      !conditionDiffers(task.status?.conditions, unschedulableCondition(message), task.metadata.generation)
    ) {
      return undefined;
    }
    return async () => {
      await this.o.writeStatus(task, taskStatusAfter(task, { kind: "unschedulable", message }, this.o.now()));
      this.o.events.record(task, "Warning", reasons.noAgentAvailable, message);
      log.child({ task: task.metadata.name }).info({ why: message }, "No agent fits Task");
    };
  }

  private async assign(task: Task, agent: string, placement: Placement, log: Logger): Promise<void> {
    const now = this.o.now();
    const score = placement.candidates.find((c) => c.agent === agent)?.score;
    const status = taskStatusAfter(task, { kind: "assign", agent, score }, now);
    await this.o.writeStatus(task, status);
    this.o.metrics.placementDecisions.inc({ outcome: "placed" });
    const key = objectKey(task);
    const seen = this.firstSeen.get(key);
    if (seen !== undefined) {
      this.o.metrics.assignmentLatency.observe((now - seen) / 1000);
      this.firstSeen.delete(key);
    }
    if (assignmentWorthAnEvent(task)) {
      this.o.events.record(
        task,
        "Normal",
        eventReasons.assigned,
        `Assigned to agent ${agent}, attempt ${status.attempts}`,
      );
    }
    log.child({ task: task.metadata.name, agent }).info({ attempt: status.attempts }, "Assigned Task");
  }
}
