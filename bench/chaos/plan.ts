/**
 * What a soak run will do, decided from its options before anything starts:
 * the calls (their kinds, tools, arguments and what each should end as), how
 * the load is spread over the faults, and the harness's heartbeated agents.
 * Everything drawn comes from the seed, so a seed replays the same plan.
 */
import type { Prng } from "./prng.ts";

export type FaultKind = "controller" | "scheduler" | "gateway" | "agents" | "apiserver" | "etcd";
export const allFaults: FaultKind[] = ["controller", "scheduler", "gateway", "agents", "apiserver", "etcd"];

export interface SoakOptions {
  /** Calls to make in all (MCP calls through the gateways and direct Tasks). */
  calls: number;
  /** Concurrent MCP clients. */
  clients: number;
  /** Real agent processes. */
  agentProcesses: number;
  /** Agents in all; those beyond the processes are objects heartbeated by the harness. */
  totalAgents: number;
  /** How long each fault is held before the component is restarted. */
  holdSeconds: number;
  /** Quiet time before the first fault, between faults and after the last. */
  gapSeconds: number;
  faults: FaultKind[];
  /** How long to wait, after the load, for every task to finish. */
  settleSeconds: number;
  seed: number;
  /** Where logs, execution logs and the JSON report go. */
  outDir?: string;
  /** Controller heartbeat timeout (s); the harness heartbeats its agents at a third of it. */
  heartbeatTimeoutSeconds: number;
  say?: (msg: string) => void;
}

export const defaultSoakOptions = (): SoakOptions => ({
  calls: 2000,
  clients: 24,
  agentProcesses: 10,
  totalAgents: 1000,
  holdSeconds: 12,
  gapSeconds: 10,
  faults: allFaults,
  settleSeconds: 180,
  seed: 1,
  heartbeatTimeoutSeconds: 60,
});

export type Kind =
  | "mcp_ok"
  | "mcp_slow"
  | "mcp_retry"
  | "mcp_fail"
  | "mcp_cancel"
  | "task_ok"
  | "task_fail"
  | "task_cancel"
  | "direct_priority"
  | "direct_retry"
  | "direct_deadline"
  | "probe";

const mix: Record<Kind, number> = {
  mcp_ok: 33,
  mcp_slow: 5,
  mcp_retry: 8,
  mcp_fail: 5,
  mcp_cancel: 5,
  task_ok: 16,
  task_fail: 3,
  task_cancel: 4,
  direct_priority: 12,
  direct_retry: 5,
  direct_deadline: 4,
  // Made by the fault schedule, not drawn: tasks running when the apiserver or etcd goes down.
  probe: 0,
};

export type Outcome = "completed" | "error" | "cancelled";

/** What each kind of call should end as, by design. */
export const expected: Record<Kind, Outcome> = {
  mcp_ok: "completed",
  mcp_slow: "completed",
  mcp_retry: "completed",
  mcp_fail: "error",
  mcp_cancel: "cancelled",
  task_ok: "completed",
  task_fail: "error",
  task_cancel: "cancelled",
  direct_priority: "completed",
  direct_retry: "completed",
  direct_deadline: "error",
  probe: "completed",
};

export interface PlannedCall {
  i: number;
  callId: string;
  kind: Kind;
  tool: string;
  args: Record<string, unknown>;
  /** Executions by design: 1, or the failing attempts plus the one that succeeds. */
  designedExecutions: number;
  priority?: number;
  cancelAfterMs?: number;
}

export interface SoakPlan {
  calls: PlannedCall[];
  /** How long the load lasts: a gap before each fault and after the last, and each fault held. */
  loadSeconds: number;
  /** Between the starts of two consecutive calls, so the calls spread over the whole load. */
  spacingMs: number;
  /** The Agent objects the harness heartbeats, beyond the agent processes. */
  idleAgents: string[];
  /** Between two of the harness's heartbeats: each agent once per a third of the timeout. */
  heartbeatSpacingMs: number;
}

/** The run's plan; draws the calls from `rng` (a Prng of the run's seed), and nothing else. */
export function planSoak(o: SoakOptions, rng: Prng): SoakPlan {
  const loadSeconds = o.faults.length * (o.holdSeconds + o.gapSeconds) + o.gapSeconds;
  const idle = Math.max(0, o.totalAgents - o.agentProcesses);
  return {
    calls: planCalls(o.calls, rng),
    loadSeconds,
    spacingMs: (loadSeconds * 1000) / Math.max(1, o.calls),
    idleAgents: Array.from({ length: idle }, (_, i) => `idle-${i}`),
    heartbeatSpacingMs: Math.max(5, ((o.heartbeatTimeoutSeconds / 3) * 1000) / idle),
  };
}

/** Picks a call's kind, tool and arguments. */
function planCalls(n: number, rng: Prng): PlannedCall[] {
  return Array.from({ length: n }, (_, i) => {
    const kind = rng.weighted(mix);
    const callId = `c${i}-${rng.int(0, 1e9).toString(36)}`;
    const base = { i, callId, kind, designedExecutions: 1 };
    switch (kind) {
      case "mcp_ok":
      case "task_ok":
        return { ...base, tool: "soak_ok", args: { callId, ms: rng.int(0, 200) } };
      case "mcp_slow":
        return { ...base, tool: "soak_sleep", args: { callId, ms: rng.int(1000, 4000) } };
      case "mcp_retry":
        // Fails once (retryable), then succeeds on the default retry policy.
        return {
          ...base,
          tool: "soak_fail",
          args: { callId, retryable: true, failAttempts: 1 },
          designedExecutions: 2,
        };
      case "mcp_fail":
      case "task_fail":
        return { ...base, tool: "soak_fail", args: { callId, retryable: false } };
      case "mcp_cancel":
      case "task_cancel":
        return {
          ...base,
          tool: "soak_sleep",
          args: { callId, ms: 20_000 },
          cancelAfterMs: rng.int(300, 2500),
          designedExecutions: 0,
        };
      case "direct_priority":
        return { ...base, tool: "soak_ok", args: { callId, ms: rng.int(0, 100) }, priority: rng.int(1, 10) };
      case "direct_retry":
        return {
          ...base,
          tool: "soak_fail",
          args: { callId, retryable: true, failAttempts: 2 },
          designedExecutions: 3,
          priority: rng.int(1, 10),
        };
      default:
        // direct_deadline: sleeps past its deadline, so the controller fails it.
        return { ...base, tool: "soak_sleep", args: { callId, ms: 60_000 }, priority: rng.int(1, 10) };
    }
  });
}

/**
 * Five Tasks made as the apiserver or etcd is taken down (the `batch`th
 * fault so far): each sleeps half the hold, so it is running when the fault
 * starts and finishes during it, and its agent must write the result after.
 */
export function probeCalls(batch: number, holdSeconds: number, rng: Prng): PlannedCall[] {
  return Array.from({ length: 5 }, (_, k) => {
    const callId = `probe-${batch}-${k}-${rng.int(0, 1e9).toString(36)}`;
    return {
      i: -1,
      callId,
      kind: "probe",
      tool: "soak_sleep",
      args: { callId, ms: Math.round((holdSeconds * 1000) / 2) },
      designedExecutions: 1,
      priority: 10,
    };
  });
}
