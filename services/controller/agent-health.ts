/**
 * An agent's health, judged from its heartbeat. Agents write
 * status.lastHeartbeat on the status subresource rather than renewing a Lease
 * per agent: the controller already watches Agents, so heartbeats arrive on a
 * watch it has anyway, there is one object per agent instead of two, and
 * `kubectl get agents` shows the heartbeat. The cost, a status write per
 * interval (about 100 writes/s at 1,000 agents every 10 s), is well within
 * an apiserver's means; Leases would pay off only far beyond that.
 */
import type { Agent } from "../../lib/api/resources.ts";

export interface HealthThresholds {
  /** Ready → NotReady after this long without a heartbeat. */
  notReadyAfterMs: number;
  /** NotReady → Unknown after this long without a heartbeat. */
  unknownAfterMs: number;
}

export interface AgentHealth {
  phase: "Ready" | "NotReady" | "Unknown";
  reason: "HeartbeatFresh" | "HeartbeatStale" | "HeartbeatLost" | "NoHeartbeat" | "Draining";
  message: string;
  /** When the phase will change if no heartbeat arrives, from now. */
  recheckInMs?: number;
}

export function agentHealth(agent: Agent, now: number, t: HealthThresholds): AgentHealth {
  const hb = agent.status?.lastHeartbeat ? Date.parse(agent.status.lastHeartbeat) : Number.NaN;
  if (Number.isNaN(hb))
    return { phase: "Unknown", reason: "NoHeartbeat", message: "the agent has not sent a heartbeat" };
  // Messages name the threshold, not the age, so they change only with the phase.
  const age = now - hb;
  const secs = (x: number) => `${x / 1000}s`;
  // A draining agent (shutting down) takes no new work but still finishes
  // what it has; its tasks stay with it while its heartbeat is fresh.
  const draining = agent.metadata.annotations?.["mcp.io/draining"] === "true";
  if (age < t.notReadyAfterMs && draining) {
    return {
      phase: "NotReady",
      reason: "Draining",
      message: "the agent is shutting down",
      recheckInMs: t.notReadyAfterMs - age,
    };
  }
  if (age < t.notReadyAfterMs) {
    return {
      phase: "Ready",
      reason: "HeartbeatFresh",
      message: `heartbeat within ${secs(t.notReadyAfterMs)}`,
      recheckInMs: t.notReadyAfterMs - age,
    };
  }
  if (age < t.unknownAfterMs) {
    return {
      phase: "NotReady",
      reason: "HeartbeatStale",
      message: `no heartbeat for over ${secs(t.notReadyAfterMs)}`,
      recheckInMs: t.unknownAfterMs - age,
    };
  }
  return { phase: "Unknown", reason: "HeartbeatLost", message: `no heartbeat for over ${secs(t.unknownAfterMs)}` };
}
