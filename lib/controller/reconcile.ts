/**
 * Runs reconcile functions over a work queue. A reconcile reads the current
 * state for its key and converges; it returns when to look again, or throws
 * to be retried with backoff. Optimistic-lock conflicts are expected when
 * several writers race and are retried quietly.
 */
import { isConflict } from "../kube/errors.ts";
import type { Logger } from "../log.ts";
import type { WorkQueue } from "./workqueue.ts";

export interface ReconcileResult {
  /** Look at this key again after this long (timed work: heartbeats, backoffs, deadlines). */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string, log: Logger) => Promise<ReconcileResult | undefined>;

/** An error that retrying cannot fix: logged once, not requeued. */
export class TerminalError extends Error {
  override readonly name = "TerminalError";
}

export interface ReconcileObserver {
  observe(controller: string, seconds: number, outcome: "success" | "error" | "conflict"): void;
}

let reconcileCounter = 0;

/** Starts `concurrency` workers; resolves when the queue shuts down and they finish. */
export async function runWorkers(opts: {
  name: string;
  queue: WorkQueue;
  reconcile: Reconciler;
  concurrency: number;
  log: Logger;
  observer?: ReconcileObserver;
}): Promise<void> {
  const { name, queue, reconcile, log, observer } = opts;
  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const reconcileID = (++reconcileCounter).toString(36);
      const klog = log.child({ controller: name, key, reconcileID });
      const start = performance.now();
      try {
        const res = await reconcile(key, klog);
        queue.forget(key);
        if (res?.requeueAfterMs !== undefined) queue.addAfter(key, res.requeueAfterMs);
        observer?.observe(name, (performance.now() - start) / 1000, "success");
      } catch (err) {
        const seconds = (performance.now() - start) / 1000;
        if (isConflict(err)) {
          observer?.observe(name, seconds, "conflict");
          queue.addRateLimited(key);
        } else if (err instanceof TerminalError) {
          observer?.observe(name, seconds, "error");
          klog.error({ err: err.message }, "Reconcile failed permanently");
          queue.forget(key);
        } else {
          observer?.observe(name, seconds, "error");
          const delay = queue.addRateLimited(key);
          klog.warn({ err: (err as Error).message, retryInMs: delay }, "Reconcile failed");
        }
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
}
