// The soak and chaos run, short: a few hundred calls through two gateways
// while the leader controller, the scheduler, a gateway, an agent, the
// kube-apiserver and etcd are each killed with SIGKILL once and restarted.
// No task may be lost and no completion recorded twice (bench/soak.ts is the
// full-size run; docs/reliability.md states the guarantee).
import { expect, test } from "bun:test";
import { formatReport, runSoak } from "../../bench/chaos/soak.ts";

test("no task lost and no completion recorded twice under kill -9 of every component", async () => {
  const report = await runSoak({
    calls: Number(process.env.SOAK_CALLS ?? 300),
    clients: 12,
    agentProcesses: 3,
    totalAgents: 50,
    holdSeconds: 5,
    gapSeconds: 4,
    settleSeconds: 60,
    seed: Number(process.env.SEED ?? 1),
    say: process.env.TEST_LOG ? undefined : () => {},
  });
  console.log(formatReport(report));
  expect(report.faults.map((f) => f.kind)).toEqual([
    "controller",
    "scheduler",
    "gateway",
    "agents",
    "apiserver",
    "etcd",
  ]);
  expect(report.calls.made).toBeGreaterThanOrEqual(Number(process.env.SOAK_CALLS ?? 300));
  expect(report.tasks.lostDetail).toEqual([]);
  expect(report.tasks.recordedTwiceDetail).toEqual([]);
  expect(report.tasks.completionsWithoutExecution).toBe(0);
  expect(report.executions.sameKeyTwice).toBe(0);
  // A call whose Task finished got its answer, unless its gateway was killed while it waited.
  expect(report.calls.answersLostGatewayUp).toBe(0);
  // No process exited by itself: a controller cut off from the apiserver steps down and stays up.
  expect(Object.entries(report.restarts).filter(([, r]) => r.unplanned > 0)).toEqual([]);
}, 300_000);
