/**
 * Runs reconcile functions over a work queue. A reconcile reads the current
 * state for its key and converges; it returns when to look again, or throws
 * to be retried with backoff. Optimistic-lock conflicts are expected when
 * several writers race and are retried quietly. An error that retrying
 * cannot fix (a TerminalError, or the apiserver refusing a write as invalid,
 * malformed or forbidden) ends the reconcile of that key until the key
 * changes again, and is reported through onPermanentFailure (an Event).
 */
import { isConflict, KubeApiError } from "../kube/errors.ts";
import type { KubeObject } from "../kube/resource-client.ts";
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

const writeMethods = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Whether retrying the same reconcile can only fail the same way: a
 * TerminalError, or a write the apiserver refused as malformed (400), invalid
 * (422) or forbidden (403). A forbidden read is left to retry: RBAC may be
 * being applied beside the controller.
 */
export function isPermanent(err: unknown): boolean {
  if (err instanceof TerminalError) return true;
  if (!(err instanceof KubeApiError)) return false;
  if (err.statusCode === 400 || err.statusCode === 422) return true;
  return err.statusCode === 403 && writeMethods.has(err.method.toUpperCase());
}

/** The reason of the Warning Event that says a reconcile failed permanently (onPermanentFailure). */
export const reconcileFailedReason = "ReconcileFailed";

/**
 * An onPermanentFailure that says the failure once on the object, as a
 * Warning ReconcileFailed Event in the apiserver's words; nothing when the
 * object is gone. Every reconciler of the controller reports so.
 */
export function reportOnObject(
  objectOf: (key: string) => KubeObject | undefined,
  events: { record(obj: KubeObject, type: "Warning", reason: string, message: string): void },
): (key: string, err: Error) => void {
  return (key, err) => {
    const obj = objectOf(key);
    if (obj) events.record(obj, "Warning", reconcileFailedReason, err.message);
  };
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
  /** Told of a key whose reconcile failed permanently (isPermanent), e.g. to record a Warning Event. */
  onPermanentFailure?: (key: string, err: Error) => void;
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
        } else if (isPermanent(err)) {
          observer?.observe(name, seconds, "error");
          klog.error({ err }, "Reconcile failed permanently; waiting for the object to change");
          queue.forget(key);
          try {
            opts.onPermanentFailure?.(key, err as Error);
          } catch (hookErr) {
            klog.debug({ err: hookErr }, "Reporting a permanent failure failed");
          }
        } else {
          observer?.observe(name, seconds, "error");
          const delay = queue.addRateLimited(key);
          klog.warn({ err, retryInMs: delay }, "Reconcile failed");
        }
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
}
