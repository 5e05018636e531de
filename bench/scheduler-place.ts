/**
 * Scheduler Place at 10, 100 and 1,000 candidates: p50/p99 latency and
 * decisions/s over gRPC on loopback, one call per task (Place, every
 * candidate listed with its reasons, as what-if shows them) and 200 tasks per
 * call (PlaceBatch, what the controller uses), against the same policy called
 * in process (the baseline, measured in the same run); and a PlaceBatch of
 * one task with the best 3 listed, a controller's pass when Tasks arrive one
 * at a time, sending the candidates or, as the controller does, only their
 * loads on a candidate set the scheduler keeps (ADR 0014). Then the CPU
 * time of that kept-set call with the scheduler as its own process, as the
 * controller meets it: the scheduler's and the caller's, back to back and
 * with 10 ms between calls (Tasks arriving one at a time), against the
 * policy's own in process. Prints figures, then one JSON line of them;
 * asserts nothing.
 *   bun bench/scheduler-place.ts
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../lib/control-plane/local.ts";
import { silentLogger } from "../lib/log.ts";
import { SchedulerClient } from "../lib/scheduling/client.ts";
import { place, placeBatch } from "../lib/scheduling/policy.ts";
import type { Candidate, TaskSpec } from "../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { startSchedulerServer } from "../services/scheduler/server.ts";
import { conductorProcesses, ManagedProcess, procCpuMs } from "./chaos/processes.ts";
import { ownCpuMs } from "./control-plane.ts";
import { benchLog } from "./harness.ts";
import { type Figures, fmt, printFigures, summarize, table } from "./stats.ts";

const capabilities = ["data-processing", "filesystem", "http", "code", "inference"];
const tags = ["ssd", "gpu", "spot", "eu", "us"];

/** A deterministic pseudo-random sequence, so runs compare like with like. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function candidates(n: number): Candidate[] {
  const r = rng(n);
  return Array.from({ length: n }, (_, i) => ({
    name: `agent-${i}`,
    domain: "bench",
    capabilities: capabilities.filter(() => r() < 0.5).concat(capabilities[i % capabilities.length] as string),
    tags: tags.filter(() => r() < 0.3),
    phase: r() < 0.95 ? "Ready" : "NotReady",
    currentTasks: Math.floor(r() * 10),
    maxConcurrentTasks: 10,
  }));
}

const task = (i: number): TaskSpec => ({
  name: `task-${i}`,
  requiredCapabilities: [capabilities[i % capabilities.length] as string],
  priority: 5,
  domain: "bench",
  affinity: { required: [], preferred: ["ssd"], avoided: ["spot"] },
});

const server = await startSchedulerServer({ log: silentLogger });
const client = new SchedulerClient(`127.0.0.1:${server.port}`);
const rows: (string | number)[][] = [
  ["candidates", "mode", "p50 ms", "p99 ms", "decisions/s", "rate vs Place in-process"],
];
const figures: Figures = {};

for (const n of [10, 100, 1000]) {
  const cands = candidates(n);
  const iterations = n >= 1000 ? 1000 : 3000;
  // warm-up
  for (let i = 0; i < 200; i++) {
    place(task(i), cands);
    await client.place(task(i), cands);
  }

  const local: number[] = [];
  let t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const s = performance.now();
    place(task(i), cands);
    local.push(performance.now() - s);
  }
  const localRate = iterations / ((performance.now() - t0) / 1000);

  const remote: number[] = [];
  t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const s = performance.now();
    await client.place(task(i), cands);
    remote.push(performance.now() - s);
  }
  const remoteRate = iterations / ((performance.now() - t0) / 1000);

  // What the controller does: 200 tasks per call, one candidate list for all.
  const batchSize = 200;
  const batches: number[] = [];
  t0 = performance.now();
  for (let from = 0; from < iterations; from += batchSize) {
    const tasks = Array.from({ length: Math.min(batchSize, iterations - from) }, (_, k) => task(from + k));
    const s = performance.now();
    await client.placeBatch(tasks, cands, 3);
    batches.push((performance.now() - s) / tasks.length);
  }
  const batchRate = iterations / ((performance.now() - t0) / 1000);
  const localBatchStart = performance.now();
  for (let from = 0; from < iterations; from += batchSize) {
    placeBatch(
      Array.from({ length: Math.min(batchSize, iterations - from) }, (_, k) => task(from + k)),
      cands,
      3,
    );
  }
  const localBatchRate = iterations / ((performance.now() - localBatchStart) / 1000);

  // What a placement pass of the controller costs when Tasks arrive one at a
  // time: one task, every agent a candidate, the best 3 listed.
  // And the same over gRPC as the controller sends it (ADR 0014): the
  // candidates once, kept by the scheduler, then only their loads.
  const localOne: number[] = [];
  const remoteOne: number[] = [];
  const keptOne: number[] = [];
  const loads = cands.map((c) => c.currentTasks);
  await client.placeBatch([task(0)], cands, 3, `bench-${n}`);
  for (let i = 0; i < iterations; i++) {
    let s = performance.now();
    placeBatch([task(i)], cands, 3);
    localOne.push(performance.now() - s);
    s = performance.now();
    await client.placeBatch([task(i)], cands, 3);
    remoteOne.push(performance.now() - s);
    s = performance.now();
    await client.placeBatchOnKeptSet([task(i)], `bench-${n}`, loads, 3);
    keptOne.push(performance.now() - s);
  }

  const l = summarize(local);
  const g = summarize(remote);
  const b = summarize(batches);
  rows.push([n, "Place in-process", fmt(l.p50), fmt(l.p99), Math.round(localRate), "1.00x"]);
  rows.push([n, "Place gRPC", fmt(g.p50), fmt(g.p99), Math.round(remoteRate), `${fmt(remoteRate / localRate, 2)}x`]);
  rows.push([n, "PlaceBatch in-process", "", "", Math.round(localBatchRate), `${fmt(localBatchRate / localRate, 2)}x`]);
  rows.push([
    n,
    "PlaceBatch gRPC (per task)",
    fmt(b.p50),
    fmt(b.p99),
    Math.round(batchRate),
    `${fmt(batchRate / localRate, 2)}x`,
  ]);
  const lo = summarize(localOne);
  const ro = summarize(remoteOne);
  rows.push([n, "PlaceBatch 1 task, 3 listed, in-process", fmt(lo.p50), fmt(lo.p99), "", ""]);
  const ko = summarize(keptOne);
  rows.push([n, "PlaceBatch 1 task, 3 listed, gRPC", fmt(ro.p50), fmt(ro.p99), "", ""]);
  rows.push([n, "PlaceBatch 1 task, 3 listed, gRPC, kept set", fmt(ko.p50), fmt(ko.p99), "", ""]);
  figures[`c${n}`] = {
    place_batch_one_task_limit3: {
      in_process: { p50_ms: lo.p50, p99_ms: lo.p99 },
      grpc: { p50_ms: ro.p50, p99_ms: ro.p99 },
      grpc_kept_set: { p50_ms: ko.p50, p99_ms: ko.p99 },
    },
    place_in_process: { p50_ms: l.p50, p99_ms: l.p99, decisions_per_s: Math.round(localRate) },
    place_grpc: {
      p50_ms: g.p50,
      p99_ms: g.p99,
      decisions_per_s: Math.round(remoteRate),
      rate_vs_place_in_process: remoteRate / localRate,
    },
    place_batch_in_process: {
      decisions_per_s: Math.round(localBatchRate),
      rate_vs_place_in_process: localBatchRate / localRate,
    },
    place_batch_grpc: {
      p50_ms_per_task: b.p50,
      p99_ms_per_task: b.p99,
      decisions_per_s: Math.round(batchRate),
      rate_vs_place_in_process: batchRate / localRate,
    },
  };
}

console.log(table(rows));
client.close();
await server.stop();

// ---- the CPU of one kept-set call, the scheduler as its own process ----
const port = await freePort();
const schedulerProcess = new ManagedProcess(
  // No kubeconfig: what-if is off, PlaceBatch is all it serves.
  conductorProcesses.scheduler({ port, env: { KUBECONFIG: "/nonexistent", LOG_LEVEL: "warn" } }),
  mkdtempSync(join(tmpdir(), "bench-scheduler-place-")),
  benchLog,
);
await schedulerProcess.start();
const processClient = new SchedulerClient(`127.0.0.1:${port}`);
const cpuRows: (string | number)[][] = [
  [
    "candidates",
    "calls",
    "scheduler CPU ms/call",
    "caller CPU ms/call",
    "policy in-process CPU ms/call",
    "wall ms/call",
  ],
];
for (const n of [10, 1000]) {
  const cands = candidates(n);
  const loads = cands.map((c) => c.currentTasks);
  const setName = `bench-process-${n}`;
  await processClient.placeBatch([task(0)], cands, 3, setName);
  for (let i = 0; i < 200; i++) await processClient.placeBatchOnKeptSet([task(i)], setName, loads, 3);
  const calls = 500;
  const policyFrom = ownCpuMs();
  for (let i = 0; i < calls; i++) placeBatch([task(i)], cands, 3);
  const policy = (ownCpuMs() - policyFrom) / calls;
  const byGap: Record<string, unknown> = {};
  for (const gapMs of [0, 10]) {
    const pid = schedulerProcess.pid as number;
    const schedulerFrom = procCpuMs(pid) ?? Number.NaN;
    const callerFrom = ownCpuMs();
    const wallFrom = performance.now();
    for (let i = 0; i < calls; i++) {
      await processClient.placeBatchOnKeptSet([task(i)], setName, loads, 3);
      if (gapMs > 0) await Bun.sleep(gapMs);
    }
    const wall = (performance.now() - wallFrom) / calls - gapMs;
    const scheduler = ((procCpuMs(pid) ?? Number.NaN) - schedulerFrom) / calls;
    // The caller's figure includes its timer's wake-ups between calls (gapMs > 0).
    const caller = (ownCpuMs() - callerFrom) / calls;
    cpuRows.push([
      n,
      gapMs === 0 ? `${calls} back to back` : `${calls}, ${gapMs} ms apart`,
      fmt(scheduler, 3),
      fmt(caller, 3),
      fmt(policy, 3),
      fmt(wall, 2),
    ]);
    byGap[gapMs === 0 ? "back_to_back" : `gap_${gapMs}ms`] = {
      scheduler_cpu_ms: scheduler,
      caller_cpu_ms: caller,
      wall_ms: wall,
      cpu_vs_policy: (scheduler + caller) / policy,
    };
  }
  (figures[`c${n}`] as Record<string, unknown>).kept_set_call_scheduler_process = { policy_cpu_ms: policy, ...byGap };
}
processClient.close();
await schedulerProcess.stop();
console.log(`\nOne task, 3 listed, on a kept set: the scheduler as its own process\n\n${table(cpuRows)}`);
printFigures("scheduler-place", figures);
