import { heapSize } from "bun:jsc";
import { describe, expect, test } from "bun:test";
import pino from "pino";
import { FakeClock } from "./clock.ts";
import { shouldCollectWhenIdle, startIdleCollection } from "./idle-collection.ts";
import { Registry } from "./metrics.ts";

const MiB = 2 ** 20;
const log = pino({ level: "silent" });

describe("shouldCollectWhenIdle", () => {
  const policy = { growthBytes: 4 * MiB, quietBytes: MiB, quietCpu: 0.2, minIntervalMs: 30_000 };
  const base = { heapAfterCollectionBytes: 20 * MiB, msSinceCollection: 60_000, cpu: 0.02 };
  test.each([
    ["grown and quiet", { heapBytes: 30 * MiB, previousHeapBytes: 30 * MiB }, true],
    ["grown, the heap moving a little (under 1 MiB)", { heapBytes: 30 * MiB, previousHeapBytes: 29.5 * MiB }, true],
    ["grown, the heap still growing", { heapBytes: 30 * MiB, previousHeapBytes: 27 * MiB }, false],
    [
      "grown, the heap falling fast (a collection of its own under way)",
      { heapBytes: 30 * MiB, previousHeapBytes: 33 * MiB },
      false,
    ],
    [
      "grown, the heap the same size as before but the CPU busy (a sawtooth sampled twice at one height)",
      { heapBytes: 30 * MiB, previousHeapBytes: 30 * MiB, cpu: 0.6 },
      false,
    ],
    ["grown, the CPU just under quiet", { heapBytes: 30 * MiB, previousHeapBytes: 30 * MiB, cpu: 0.19 }, true],
    ["grown, the CPU at the threshold", { heapBytes: 30 * MiB, previousHeapBytes: 30 * MiB, cpu: 0.2 }, false],
    ["quiet but not grown enough", { heapBytes: 23.9 * MiB, previousHeapBytes: 23.9 * MiB }, false],
    ["grown exactly the threshold", { heapBytes: 24 * MiB, previousHeapBytes: 24 * MiB }, true],
    ["below the last collection's size", { heapBytes: 15 * MiB, previousHeapBytes: 15 * MiB }, false],
  ])("%s", (_name, s, want) => {
    expect(shouldCollectWhenIdle({ ...base, ...s }, policy)).toBe(want);
  });

  test("never sooner than minIntervalMs after the last collection", () => {
    const s = { heapBytes: 60 * MiB, previousHeapBytes: 60 * MiB, heapAfterCollectionBytes: 20 * MiB, cpu: 0 };
    expect(shouldCollectWhenIdle({ ...s, msSinceCollection: 29_999 }, policy)).toBe(false);
    expect(shouldCollectWhenIdle({ ...s, msSinceCollection: 30_000 }, policy)).toBe(true);
  });
});

describe("startIdleCollection", () => {
  /**
   * A process the test runs by hand: a heap that a collection takes down to
   * `live`, and CPU time that advances by `busy` cores of each period the
   * clock moves.
   */
  function fakeProcess(clock: FakeClock, start: number) {
    const p = { size: start, live: start, collected: 0, busy: 0, cpuMs: 0, at: clock.now() };
    return {
      p,
      heapBytes: () => p.size,
      cpuMs: () => {
        p.cpuMs += (clock.now() - p.at) * p.busy;
        p.at = clock.now();
        return p.cpuMs;
      },
      collect: () => {
        p.collected++;
        p.size = p.live;
      },
    };
  }

  test("collects once after a burst, when the process is quiet, and not again while idle", async () => {
    const clock = new FakeClock();
    const { p, heapBytes, cpuMs, collect } = fakeProcess(clock, 10 * MiB);
    const registry = new Registry();
    const idle = startIdleCollection({ log, clock, heapBytes, cpuMs, collect, sampleMs: 2000, registry });
    clock.advance(60_000); // idle from the start: the heap does not grow
    expect(p.collected).toBe(0);
    // A burst, one core busy: 5 MiB per sample for 10 samples, then the heap the same size at
    // two samples (the runtime's own collections saw it up and down), 12 MiB of it live at the end.
    p.busy = 1;
    for (let i = 0; i < 10; i++) {
      p.size += 5 * MiB;
      clock.advance(2000);
    }
    clock.advance(2000);
    clock.advance(2000);
    expect(p.collected).toBe(0); // still busy
    p.live = 22 * MiB;
    p.busy = 0.03; // heartbeats
    clock.advance(2000); // one quiet period
    expect(p.collected).toBe(1);
    expect(idle.collections).toBe(1);
    expect(p.size).toBe(22 * MiB);
    clock.advance(10 * 60_000); // quiet for ten minutes: nothing more to collect
    expect(p.collected).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain(`mcp_process_heap_bytes ${22 * MiB}\n`);
    expect(text).toContain("mcp_process_idle_collections_total 1\n");
    idle.stop();
  });

  test("a collection of the runtime's own lowers the baseline, so that later growth is measured from it", () => {
    const clock = new FakeClock();
    const { p, heapBytes, cpuMs, collect } = fakeProcess(clock, 10 * MiB);
    const idle = startIdleCollection({ log, clock, heapBytes, cpuMs, collect, sampleMs: 2000 });
    clock.advance(40_000);
    p.size = 8 * MiB; // the runtime collected below the start
    clock.advance(2000);
    p.size = 11 * MiB; // 3 MiB above the new low: not worth a pause
    clock.advance(2000);
    clock.advance(2000);
    expect(p.collected).toBe(0);
    p.size = 12.5 * MiB; // 4.5 MiB above it, then quiet
    clock.advance(2000);
    clock.advance(2000);
    expect(p.collected).toBe(1);
    idle.stop();
  });

  test("rate-limited under a slowly growing heap, and stop() ends the sampling", () => {
    const clock = new FakeClock();
    const { p, heapBytes, cpuMs, collect } = fakeProcess(clock, 10 * MiB);
    p.busy = 0.05;
    const idle = startIdleCollection({
      log,
      clock,
      heapBytes,
      cpuMs,
      collect,
      sampleMs: 2000,
      policy: { minIntervalMs: 30_000 },
    });
    // Grows 0.5 MiB per sample (quiet by the threshold) for two minutes.
    for (let i = 0; i < 60; i++) {
      p.size += 0.5 * MiB;
      clock.advance(2000);
    }
    // Worth a pause after 8 samples (4 MiB), but at most every 30 s, counted from the start: at 30, 60, 90 and 120 s.
    expect(p.collected).toBe(4);
    idle.stop();
    expect(clock.pending).toEqual([]);
    p.size += 50 * MiB;
    clock.advance(60_000);
    expect(p.collected).toBe(4);
  });

  test("on the real heap and CPU clock: the garbage of a burst is collected once the process is quiet", async () => {
    const idle = startIdleCollection({ log, sampleMs: 100, policy: { minIntervalMs: 0 } });
    const start = heapSize();
    // A burst of 16 MiB or more of objects, kept until the burst ends and then dropped.
    let burst: { id: number; text: string }[] | undefined = [];
    for (let i = 0; burst.length < 200_000; i++) burst.push({ id: i, text: `object ${i} of a burst of work` });
    const held = heapSize();
    burst = undefined;
    const by = Date.now() + 10_000;
    while (idle.collections === 0 && Date.now() < by) await Bun.sleep(20);
    expect(burst).toBeUndefined();
    expect(idle.collections).toBeGreaterThanOrEqual(1);
    expect(held).toBeGreaterThan(start + 8 * MiB);
    idle.stop();
    // What the burst held is gone.
    expect(heapSize()).toBeLessThan(held - 8 * MiB);
  });
});
