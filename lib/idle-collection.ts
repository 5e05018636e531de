/**
 * One full garbage collection when a service falls quiet after a burst of
 * work, so that the burst's garbage goes back to the system instead of staying
 * in the process until the next burst.
 *
 * JavaScriptCore collects when allocation crosses its trigger. A service that
 * goes quiet after a burst allocates next to nothing, so nothing triggers a
 * collection and the burst's garbage stays: the leading controller, after
 * placing 10,000 Tasks among 1,000 agents, held a 38.6 MiB heap of which
 * 20.8 MiB was live until heartbeats had allocated enough, which took from
 * seconds to minutes (bench/scale.ts). V8's embedders collect in idle time for
 * the same reason.
 *
 * Every `sampleMs` this reads the heap's size (bun:jsc's heapSize(), about
 * 10 µs) and the process's CPU time. Once the heap has grown by `growthBytes`
 * since the last collection and the process is quiet (under `quietCpu` of a
 * core since the sample before, and the heap moved less than `quietBytes`),
 * one synchronous full collection runs (Bun.gc(true), which also has mimalloc
 * return the pages it freed), at most once per `minIntervalMs`. It stops the
 * process for 40-60 ms at the controller's 38 MiB heap, which is why it waits
 * for quiet. The concurrent one (Bun.gc(false)) does not stop it but leaves
 * garbage that has reached the old generation where it is (a probe with
 * 84 MiB of it: the heap was over 100 MiB a second after the concurrent one;
 * the synchronous one left 16 MiB). The CPU time is what tells a quiet process
 * from a busy one: a busy heap's size can match between two samples while
 * JavaScriptCore's own collections move it up and down; the leading controller
 * uses 0.22-0.28 of a core while it places 10,000 Tasks and 0.03 after, with
 * 1,000 agents renewing their Leases. Under load, JavaScriptCore's trigger does
 * the work; at idle with no burst before, the heap does not grow and nothing
 * runs.
 */
import { heapSize } from "bun:jsc";
import { type Clock, systemClock } from "./clock.ts";
import type { Logger } from "./log.ts";
import { Counter, Gauge, type Registry } from "./metrics.ts";

export interface IdleCollectionPolicy {
  /** Heap growth since the last collection that makes one worth its pause. */
  growthBytes: number;
  /** Less movement of the heap than this between two samples is quiet... */
  quietBytes: number;
  /** ...with less CPU than this, in cores, used between them. */
  quietCpu: number;
  /** Collections are at least this far apart. */
  minIntervalMs: number;
}

export const defaultIdleCollectionPolicy: IdleCollectionPolicy = {
  growthBytes: 4 * 2 ** 20,
  quietBytes: 2 ** 20,
  quietCpu: 0.1,
  minIntervalMs: 20_000,
};

export interface HeapSample {
  /** The heap's size now. */
  heapBytes: number;
  /** Its size at the sample before. */
  previousHeapBytes: number;
  /** Its size right after the last collection run here (at start: the first sample). */
  heapAfterCollectionBytes: number;
  /** CPU time used since the sample before, over the time between them: 1 is one core busy. */
  cpu: number;
  msSinceCollection: number;
}

/** Whether to collect now: the heap grew since the last collection and the process has gone quiet. */
export function shouldCollectWhenIdle(s: HeapSample, policy: IdleCollectionPolicy): boolean {
  if (s.msSinceCollection < policy.minIntervalMs) return false;
  if (s.heapBytes - s.heapAfterCollectionBytes < policy.growthBytes) return false;
  if (s.cpu >= policy.quietCpu) return false;
  return Math.abs(s.heapBytes - s.previousHeapBytes) < policy.quietBytes;
}

export interface IdleCollectionOptions {
  log: Logger;
  policy?: Partial<IdleCollectionPolicy>;
  sampleMs?: number;
  clock?: Clock;
  /** The heap's size in bytes (tests give their own). */
  heapBytes?: () => number;
  /** The process's CPU time so far, in ms (tests give their own). */
  cpuMs?: () => number;
  /** Runs a full, synchronous collection (tests give their own). */
  collect?: () => void;
  /**
   * Where to export the heap's size (mcp_process_heap_bytes) and the collections run here
   * (mcp_process_idle_collections_total): with the container's memory, they tell a heap that
   * grows (a leak) from memory the process holds but does not use.
   */
  registry?: Registry;
}

export interface IdleCollection {
  /** Collections run so far. */
  readonly collections: number;
  stop(): void;
}

/** Samples the heap every `sampleMs` (2 s) and collects when shouldCollectWhenIdle says so. */
export function startIdleCollection(o: IdleCollectionOptions): IdleCollection {
  const policy = { ...defaultIdleCollectionPolicy, ...o.policy };
  const clock = o.clock ?? systemClock;
  const sampleMs = o.sampleMs ?? 2000;
  const heapBytes = o.heapBytes ?? heapSize;
  const collect = o.collect ?? (() => Bun.gc(true));
  const cpuMs = o.cpuMs ?? processCpuMs;
  let previous = heapBytes();
  let previousCpuMs = cpuMs();
  let previousAt = clock.now();
  let afterCollection = previous;
  let collectedAt = clock.now();
  let collections = 0;
  let cancel: (() => void) | undefined;
  let stopped = false;
  const registers = o.registry ? [o.registry] : [];
  new Gauge({
    name: "mcp_process_heap_bytes",
    help: "Size of the JavaScript heap's objects, garbage not yet collected included",
    registers,
    collect() {
      this.set(heapBytes());
    },
  });
  const collectionsRun = new Counter({
    name: "mcp_process_idle_collections_total",
    help: "Full garbage collections run when the process fell quiet after a burst of work",
    registers,
  });

  const sample = () => {
    if (stopped) return;
    const now = clock.now();
    const heap = heapBytes();
    const cpuNow = cpuMs();
    const decide = {
      heapBytes: heap,
      previousHeapBytes: previous,
      heapAfterCollectionBytes: afterCollection,
      cpu: now > previousAt ? (cpuNow - previousCpuMs) / (now - previousAt) : 1,
      msSinceCollection: now - collectedAt,
    };
    previousCpuMs = cpuNow;
    previousAt = now;
    if (shouldCollectWhenIdle(decide, policy)) {
      const started = performance.now();
      collect();
      const pauseMs = performance.now() - started;
      afterCollection = heapBytes();
      collectedAt = clock.now();
      // The collection's own CPU is not the service's work.
      previousCpuMs = cpuMs();
      previousAt = collectedAt;
      collections++;
      collectionsRun.inc();
      o.log.debug(
        { heapBeforeMiB: mib(heap), heapAfterMiB: mib(afterCollection), pauseMs: Math.round(pauseMs * 10) / 10 },
        "Collected garbage after a burst of work",
      );
    } else {
      // A collection of JavaScriptCore's own moves the baseline down with it.
      afterCollection = Math.min(afterCollection, heap);
    }
    previous = heap;
    cancel = clock.schedule(sample, sampleMs);
  };
  cancel = clock.schedule(sample, sampleMs);

  return {
    get collections() {
      return collections;
    },
    stop() {
      stopped = true;
      cancel?.();
    },
  };
}

function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
