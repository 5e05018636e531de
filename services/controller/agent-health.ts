/**
 * An agent's health, judged from its heartbeat. Agents write
 * status.lastHeartbeat on the status subresource rather than renewing a Lease
 * per agent: the controller already watches Agents, so heartbeats arrive on a
 * watch it has anyway, there is one object per agent instead of two, and
 * `kubectl get agents` shows the heartbeat. The cost, a status write per
 * interval (about 100 writes/s at 1,000 agents every 10 s), is well within
 * an apiserver's means; Leases would pay off only far beyond that.
 *
 * The time an agent writes into lastHeartbeat is its own clock's, so it is
 * never compared with the controller's: an agent whose clock runs behind would
 * look dead while it works, and one whose clock runs ahead (or that writes a
 * time far ahead) would look alive long after it died. As the node lifecycle
 * controller does with Leases, the controller notes when, by its own clock, it
 * saw the heartbeat change, and judges by that alone. A controller that starts
 * (or takes over) counts from when it first sees each agent.
 */
import type { Agent } from "../../lib/api/resources.ts";

/** The Agent condition that carries its health; its reason is AgentHealth's. */
export const readyCondition = "Ready";

/** Reasons of the Events the controller records when an Agent's phase changes. */
export const agentEventReasons = { ready: "AgentReady", notReady: "AgentNotReady" } as const;

export interface HealthThresholds {
  /** Ready → NotReady after this long without a heartbeat. */
  notReadyAfterMs: number;
  /** NotReady → Unknown after this long without a heartbeat. */
  unknownAfterMs: number;
}

export interface AgentHealth {
  phase: "Ready" | "NotReady" | "Unknown";
  reason: "HeartbeatFresh" | "HeartbeatStale" | "HeartbeatLost" | "HeartbeatUnconfirmed" | "NoHeartbeat" | "Draining";
  message: string;
  /** When the phase will change if no heartbeat arrives, from now. */
  recheckInMs?: number;
}

/** What the controller saw of one Agent's heartbeat, by the controller's clock. */
export interface HeartbeatSighting {
  /** The Agent it is of: an Agent deleted and created again is another one. */
  uid: string | undefined;
  /** status.lastHeartbeat as last seen: compared for change only, never read as a time. */
  heartbeat: string | undefined;
  /** When the controller first saw this value (or the Agent), by its own clock. */
  observedAt: number;
  /** Whether the controller saw the value change: only then does it know the agent was alive. */
  changed: boolean;
}

/** The sighting after the controller sees `agent` at `now`: new only when its heartbeat changed. */
export function observeHeartbeat(prev: HeartbeatSighting | undefined, agent: Agent, now: number): HeartbeatSighting {
  const uid = agent.metadata.uid;
  const heartbeat = agent.status?.lastHeartbeat || undefined;
  if (!prev || prev.uid !== uid) return { uid, heartbeat, observedAt: now, changed: false };
  if (prev.heartbeat === heartbeat) return prev;
  return { uid, heartbeat, observedAt: now, changed: heartbeat !== undefined };
}

const severity = { Ready: 0, NotReady: 1, Unknown: 2 } as const;

export function agentHealth(agent: Agent, seen: HeartbeatSighting, now: number, t: HealthThresholds): AgentHealth {
  if (!seen.heartbeat)
    return { phase: "Unknown", reason: "NoHeartbeat", message: "the agent has not sent a heartbeat" };
  const byAge = healthByAge(agent, now - seen.observedAt, t);
  // A controller that has not yet seen a heartbeat arrive knows nothing new of
  // the agent: it does not make it healthier than its phase says (a dead agent
  // that was Unknown stays so, and gets no work meanwhile), only sicker with time.
  const stored = agent.status?.phase;
  if (!seen.changed && stored && severity[stored] > severity[byAge.phase]) {
    return {
      phase: stored,
      reason: "HeartbeatUnconfirmed",
      message: "no heartbeat seen since the controller started watching",
      recheckInMs: byAge.recheckInMs,
    };
  }
  return byAge;
}

/** The health of an agent whose heartbeat the controller last saw change `age` ago. */
function healthByAge(agent: Agent, age: number, t: HealthThresholds): AgentHealth {
  // Messages name the threshold, not the age, so they change only with the phase.
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
