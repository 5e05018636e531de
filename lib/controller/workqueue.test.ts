import { describe, expect, test } from "bun:test";
import { FakeClock } from "../clock.ts";
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

  test("backs off per key and forgets on success", () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 25, clock });
    expect(q.addRateLimited("a")).toBe(10);
    expect(q.addRateLimited("a")).toBe(20);
    expect(q.addRateLimited("a")).toBe(25);
    expect(q.numRequeues("a")).toBe(3);
    q.forget("a");
    expect(q.addRateLimited("a")).toBe(10);
    // the earliest pending delay holds: the key arrives after 10 ms, not before
    clock.advance(9);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
  });

  test("addAfter keeps the earliest pending time, whichever came first", () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter("a", 20);
    q.addAfter("a", 5_000);
    expect(clock.pending).toEqual([20]);
    q.addAfter("b", 5_000);
    q.addAfter("b", 30);
    expect(clock.pending).toEqual([20, 30]); // b's later timer replaced
    clock.advance(20);
    expect(q.length).toBe(1);
    clock.advance(10);
    expect(q.length).toBe(2);
    expect(clock.pending).toEqual([]);
  });

  test("addAfter past a timer's limit (24.8 days) waits the limit, not zero", () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter("year", 365 * 24 * 3600 * 1000);
    expect(clock.pending).toEqual([2 ** 31 - 1]);
    clock.advance(2 ** 31 - 2);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
  });

  test("addAfter with no delay adds at once; shutdown cancels what is delayed", () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter("now", 0);
    expect(q.length).toBe(1);
    q.addAfter("later", 100);
    q.shutdown();
    expect(clock.pending).toEqual([]);
    clock.advance(1_000);
    expect(q.length).toBe(0);
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

describe("WorkQueue: the bookkeeping behind each rule", () => {
  test("a key handed straight to a waiting worker is in hand: held back when added again, not repeated after done", async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add("a");
    expect(await waiting).toBe("a");
    q.done("a");
    expect(q.length).toBe(0);
    const again = q.get();
    q.add("a");
    expect(await again).toBe("a");
    q.add("a");
    expect(q.length).toBe(0);
    q.done("a");
    expect(q.length).toBe(1);
  });

  test("a key processed and done without being added meanwhile does not come back", async () => {
    const q = new WorkQueue();
    q.add("a");
    expect(await q.get()).toBe("a");
    q.done("a");
    expect(q.length).toBe(0);
    q.add("a");
    expect(q.length).toBe(1);
  });

  test("a negative delay adds at once too", () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter("a", -5);
    expect(q.length).toBe(1);
    expect(q.delayedCount).toBe(0);
    expect(clock.pending).toEqual([]);
  });

  test("a delayed key: counted while it waits, added once when due, and can be delayed again", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter("a", 10);
    q.addAfter("a", 10); // the same time: the first stands
    q.addAfter("a", 20);
    expect(q.delayedCount).toBe(1);
    expect(clock.pending).toEqual([10]);
    clock.advance(10);
    expect(q.delayedCount).toBe(0);
    expect(await q.get()).toBe("a");
    q.done("a");
    clock.advance(100);
    expect(q.length).toBe(0); // the later delays were dropped, not fired too
    q.addAfter("a", 10);
    expect(q.delayedCount).toBe(1);
    clock.advance(10);
    expect(q.length).toBe(1);
  });

  test("after shutdown nothing is added, delayed or not, and nothing stays delayed", () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter("a", 10);
    expect(q.delayedCount).toBe(1);
    q.shutdown();
    expect(q.delayedCount).toBe(0);
    q.add("b");
    q.addAfter("c", 10);
    q.addAfter("d", 0);
    expect(q.length).toBe(0);
    expect(q.delayedCount).toBe(0);
    expect(clock.pending).toEqual([]);
  });

  test("the default backoff starts at 5 ms and stops at a minute", () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const delays = Array.from({ length: 16 }, () => q.addRateLimited("a"));
    expect(delays.slice(0, 3)).toEqual([5, 10, 20]);
    expect(delays.at(-1)).toBe(60_000);
  });
});
