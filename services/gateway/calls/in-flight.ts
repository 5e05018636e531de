/**
 * A cap on each caller's Tasks in flight (made, not yet finished), so that
 * one token holder cannot fill the domain with work. The count comes from the
 * gateway's watch of its Tasks, so it covers the caller's Tasks made through
 * every replica (a few hundred milliseconds late for the others'); places
 * taken by calls whose Task is being created on this replica count too, so
 * concurrent calls cannot all slip under the cap.
 */
import type { Task } from "../../../lib/api/resources.ts";
import { isFinished } from "../../../lib/api/task-state.ts";
import { CallError, errorCodes } from "./errors.ts";
import { callerKey, callerKeyOfTask } from "./marks.ts";
import { type Caller, subjectOfCaller } from "./tools.ts";

/** Unfinished Tasks per caller, from Task objects as they are seen. */
export class InFlightByCaller {
  /** Unfinished Task name → its caller's key, and when it was first counted. */
  private readonly owner = new Map<string, { key: string; at: number }>();
  private readonly counts = new Map<string, number>();

  /** A Task as created or watched: counted while unfinished. */
  observe(t: Task, now = Date.now()): void {
    const name = t.metadata.name ?? "";
    if (isFinished(t)) this.forget(name);
    else if (!this.owner.has(name)) {
      const key = callerKeyOfTask(t);
      this.owner.set(name, { key, at: now });
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
  }

  /**
   * Forgets the Tasks counted more than `graceMs` ago that the watch no
   * longer holds: deleted while it was relisting, whose delete it never saw
   * (without this, each would hold its caller's place for good).
   */
  sweep(held: (name: string) => boolean, now = Date.now(), graceMs = 60_000): void {
    for (const [name, { at }] of [...this.owner]) if (now - at > graceMs && !held(name)) this.forget(name);
  }

  /** A Task finished or deleted. */
  forget(name: string): void {
    const key = this.owner.get(name)?.key;
    if (key === undefined) return;
    this.owner.delete(name);
    const n = (this.counts.get(key) ?? 1) - 1;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
  }

  count(caller: Caller): number {
    return this.counts.get(callerKey(caller)) ?? 0;
  }
}

export class CallerLimit {
  private readonly reserved = new Map<string, number>();

  constructor(
    readonly max: number,
    private readonly inFlight: (caller: Caller) => number,
  ) {}

  /**
   * Takes a place for one more Task of this caller, or throws -32004 (HTTP
   * 429 on the 2026 side). Call the returned function once the Task exists
   * (it is counted by then) or its creation failed.
   */
  reserve(caller: Caller): () => void {
    const key = callerKey(caller);
    const taken = this.inFlight(caller) + (this.reserved.get(key) ?? 0);
    if (taken >= this.max)
      throw new CallError(
        errorCodes.limitExceeded,
        `Too many calls in flight: ${subjectOfCaller(caller).user} has ${taken} Tasks unfinished, at most ${this.max}; try again when some finish`,
        { reason: "CallerInFlightLimit", limit: this.max, inFlight: taken },
        429,
      );
    this.reserved.set(key, (this.reserved.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.reserved.get(key) ?? 1) - 1;
      if (n > 0) this.reserved.set(key, n);
      else this.reserved.delete(key);
    };
  }
}
