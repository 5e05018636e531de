/**
 * The benches that measure the goals, run small: each must finish and
 * end with its JSON line, every path and phase measured. A bench is not run
 * by CI at full size (minutes each, and its figures are for people), so a
 * bench broken by a change went unnoticed: bench/assignment.ts waited for
 * ever for tasks it never created. No figure is asserted beyond being there.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { runBun } from "../harness/run-bun.ts";

/** Runs a bench to its end (killed after `timeoutMs`) and returns its last stdout line, parsed. */
async function runBench(
  name: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await runBun([join(repoRoot, "bench", `${name}.ts`)], timeoutMs, env);
  expect({ code, stderr: code === 0 ? "" : stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as Record<string, unknown>;
}

const finite = (x: unknown) => typeof x === "number" && Number.isFinite(x);

describe("benches, run small", () => {
  test("assignment: every phase measured for the controller (as processes), the bare client and Tasks bound at creation, with CPU per task and the controller's scheduler calls", async () => {
    const figures = await runBench(
      "assignment",
      { AGENTS: "5", TASKS: "40", IDLE_TASKS: "3", STEADY_SECONDS: "1", CONCURRENCY: "4" },
      90_000,
    );
    expect([figures.bench, figures.conductor]).toEqual(["assignment", "processes"]);
    for (const phase of ["idle", "steady", "burst"]) {
      const p = figures[phase] as Record<string, Record<string, unknown>>;
      for (const path of ["conductor", "bare", "bound_at_creation"]) {
        const run = p[path] as Record<string, unknown>;
        expect([phase, path, finite(run.p50_ms), finite(run.tasks_per_s)]).toEqual([phase, path, true, true]);
        const cpu = run.cpu_ms_per_task as Record<string, unknown>;
        expect([phase, path, finite(cpu.apiserver), finite(cpu.bench)]).toEqual([phase, path, true, true]);
        // The creates' own latency: every create in the phase answered, none missing (NaN).
        const create = run.create_answered as Record<string, unknown>;
        expect([phase, path, finite(create.p50_ms), finite(create.p99_ms)]).toEqual([phase, path, true, true]);
      }
      // The conductor's own processes used CPU, and the controller asked the scheduler at least once.
      const conductor = p.conductor as {
        cpu_ms_per_task: { conductor: number };
        scheduler_calls?: { count: number; mean_ms: number };
        controller_idle_collections?: number;
      };
      expect([phase, conductor.cpu_ms_per_task.conductor > 0]).toEqual([phase, true]);
      // The controller process exports its idle collections (lib/idle-collection.ts), read around each phase.
      expect([phase, Number.isInteger(conductor.controller_idle_collections)]).toEqual([phase, true]);
      const calls = conductor.scheduler_calls;
      expect([phase, (calls?.count ?? 0) >= 1, finite(calls?.mean_ms)]).toEqual([phase, true, true]);
      expect([phase, finite(p.p50_vs_bare), finite(p.bound_p50_vs_bare)]).toEqual([phase, true, true]);
    }
    // Room on every agent: each Task of the bound phases was bound by the gateway's decision, none left to the controller.
    const bound = figures.bound_at_creation_tasks as { bound: number; of: number };
    expect(bound.of).toBeGreaterThan(0);
    expect(bound.bound).toBe(bound.of);
  }, 100_000);

  test("gateway-call: one client through the shipped gateway, against both bare clients, in two rounds", async () => {
    const figures = await runBench(
      "gateway-call",
      { CLIENTS: "1", PATHS: "bare,bare-same,after", ROUNDS: "2", CALLS_TIMES: "0.25" },
      90_000,
    );
    expect([figures.bench, figures.rounds]).toEqual(["gateway-call", 2]);
    const after = figures.c1_after as Record<string, unknown>;
    expect(finite(after.rate_vs_bare)).toBe(true);
    expect(finite(after.rate_vs_bare_same)).toBe(true);
    // A bound call's two writes (ADR 0013), as the bare clients make them.
    for (const path of ["c1_bare", "c1_bare-same", "c1_after"]) {
      const run = figures[path] as Record<string, unknown>;
      const w = run.writes_per_call as number;
      expect([path, w >= 2 && w < 2.5]).toEqual([path, true]);
      // each round measured on its own, then pooled
      const byRound = run.calls_per_s_by_round as unknown[];
      expect([path, byRound.length, byRound.every(finite)]).toEqual([path, 2, true]);
    }
  }, 100_000);

  test("watch-fanout: a bare client's calls with no agent watching, with both of each agent's Task watches and with each alone, in two rounds", async () => {
    const figures = await runBench("watch-fanout", { AGENTS: "5", CALLS: "30", ROUNDS: "2" }, 90_000);
    expect([figures.bench, figures.agents, figures.rounds]).toEqual(["watch-fanout", 5, 2]);
    // each way ran with the watches it names open (the bench waits for the apiserver to count them)
    for (const [way, watches] of [
      ["none", 0],
      ["both", 10],
      ["assigned", 5],
      ["bound", 5],
    ] as const) {
      const run = figures[way] as Record<string, unknown>;
      const byRound = run.calls_per_s_by_round as unknown[];
      expect([way, run.watches, finite(run.apiserver_cpu_ms_per_call), byRound.length, byRound.every(finite)]).toEqual([
        way,
        watches,
        true,
        2,
        true,
      ]);
    }
    expect(finite((figures.both as Record<string, unknown>).apiserver_us_per_event_per_watch)).toBe(true);
  }, 100_000);
});
