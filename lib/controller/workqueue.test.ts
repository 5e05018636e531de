import { describe, expect, test } from "bun:test";
import { WorkQueue } from "./workqueue.ts";

describe("WorkQueue", () => {
  test("collapses repeated adds of a waiting key", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("a");
    q.add("b");
    expect(q.length).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
  });

  test("never hands out a key being processed; re-adds it once after done", async () => {
    const q = new WorkQueue();
    q.add("a");
    const key = await q.get();
    q.add("a");
    q.add("a");
    expect(q.length).toBe(0); // held back while processing
    q.done(key as string);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe("a");
  });

  test("backs off per key and forgets on success", async () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 25 });
    expect(q.addRateLimited("a")).toBe(10);
    expect(q.addRateLimited("a")).toBe(20);
    expect(q.addRateLimited("a")).toBe(25);
    expect(q.numRequeues("a")).toBe(3);
    q.forget("a");
    expect(q.addRateLimited("a")).toBe(10);
    expect(await q.get()).toBe("a"); // arrives after the (earliest) delay
  });

  test("addAfter keeps the earliest pending time", async () => {
    const q = new WorkQueue();
    q.addAfter("a", 20);
    q.addAfter("a", 5_000);
    const start = Date.now();
    expect(await q.get()).toBe("a");
    expect(Date.now() - start).toBeLessThan(2_000);
    q.shutdown();
  });

  test("shutdown releases waiting workers", async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).toBeUndefined();
  });

  test("shutdown drops the waiting keys: a worker finishes the key in hand and gets no more", async () => {
    // A controller that stopped leading shuts its queues: it must not go on reconciling what was queued.
    const q = new WorkQueue();
    q.add("a");
    q.add("b");
    q.add("c");
    expect(await q.get()).toBe("a");
    q.add("a"); // changed while in hand: would run again after done()
    q.shutdown();
    q.done("a");
    expect(await q.get()).toBeUndefined();
    expect(q.length).toBe(0);
  });
});
