/**
 * A keyed work queue with client-go's semantics: a key is never processed by
 * two workers at once; adding a key that is already waiting does nothing;
 * adding a key while it is being processed runs it once more afterwards;
 * failures come back after a per-key exponential backoff, and success forgets
 * the backoff.
 */
import { type Clock, systemClock } from "../clock.ts";

export interface WorkQueueOptions {
  /** First retry delay after a failure; doubles per consecutive failure. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** The time delays are measured in (a FakeClock in tests). */
  clock?: Clock;
}

/** The longest wait a timer takes: setTimeout's 32-bit signed limit. */
const maxTimerMs = 2 ** 31 - 1;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; cancel: () => void }>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: Clock;

  constructor(opts: WorkQueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.clock = opts.clock ?? systemClock;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() will put it back
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    // setTimeout fires at once when asked to wait longer than 2^31-1 ms (24.8 days), over and
    // over: wait that long at most; the key is looked at early and requeues itself.
    delayMs = Math.min(delayMs, maxTimerMs);
    const at = this.clock.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const cancel = this.clock.schedule(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { at, cancel });
  }

  /** Adds the key after its backoff, which doubles with each consecutive call. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.baseDelayMs * 2 ** n, this.maxDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure count, after it was processed successfully. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys waiting to be processed (not counting delayed ones). */
  get length(): number {
    return this.queue.length;
  }

  get delayedCount(): number {
    return this.delayed.size;
  }

  /**
   * Stops handing out keys: a worker finishes the key in hand and then gets
   * undefined. Waiting and delayed keys are dropped, not drained: the queue
   * shuts down when its controller stops leading, and a controller that no
   * longer leads must not reconcile (whoever leads next looks at everything).
   */
  shutdown(): void {
    this.shuttingDown = true;
    for (const { cancel } of this.delayed.values()) cancel();
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
