/**
 * An agent's health, judged from its heartbeat. An agent renews a
 * coordination.k8s.io Lease named like its Agent (lib/agent/lease.ts), as a
 * kubelet renews its node's (KEP-589), instead of writing
 * status.lastHeartbeat on its Agent: a write to the Agent woke every Agent
 * watcher (this controller's agent cache, every gateway's tool registry) each
 * interval, for nothing but the time, and at 1,000 agents those updates were
 * half of all the apiserver's writes. A Lease renewal is a small object only
 * the controller watches (by its label), so heartbeats cost no Agent event, no
 * task reconcile and no registry rebuild; the Agent changes only when what it
 * offers or its phase does. Agents of earlier releases still write
 * status.lastHeartbeat, and a change of it still counts, so an upgrade that
 * replaces the controller first loses no agent.
 *
 * The times an agent writes (renewTime, lastHeartbeat) are its own clock's,
 * so they are never compared with the controller's: an agent whose clock runs
 * behind would look dead while it works, and one whose clock runs ahead (or
 * that writes a time far ahead) would look alive long after it died. As the
 * node lifecycle controller does with Leases, the controller notes when, by
 * its own clock, it saw a heartbeat change, and judges by that alone. A
 * controller that starts (or takes over) counts from when it first sees each
 * agent.
 */
import type { Agent } from "../../lib/api/resources.ts";
import type { Lease } from "../../lib/kube/leases.ts";

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

/** What the controller saw of one agent's heartbeats, by the controller's clock. */
export interface HeartbeatSighting {
  /** The Agent it is of: an Agent deleted and created again is another one. */
  uid: string | undefined;
  /** The renewTime of the agent's Lease as last seen: compared for change only, never read as a time. */
  renewTime: string | undefined;
  /** status.lastHeartbeat as last seen (agents of earlier releases write it): compared for change only. */
  lastHeartbeat: string | undefined;
  /** When the controller first saw these values (or the Agent), by its own clock. */
  observedAt: number;
  /** Whether the controller saw a value change: only then does it know the agent was alive. */
  changed: boolean;
}

/**
 * The renewTime of the agent's Lease, if it has one: a Lease of its name
 * counts only when owned by this Agent, so a Lease left by an earlier Agent of
 * the name (its garbage collection pending) says nothing about this one.
 */
function renewTimeOf(agent: Agent, lease: Lease | undefined): string | undefined {
  const uid = agent.metadata.uid;
  const owned = uid !== undefined && (lease?.metadata.ownerReferences ?? []).some((o) => o.uid === uid);
  return (owned && lease?.spec.renewTime) || undefined;
}

/**
 * The sighting after the controller sees `agent` and its `lease` at `now`:
 * new only when a heartbeat changed. Either counts: the Lease's renewTime, or
 * status.lastHeartbeat (an agent of an earlier release, or one rolled back
 * that left its newer Lease behind). A value that goes away (a Lease deleted,
 * which its agent creates again at its next renewal) is no news: the last one
 * seen is kept, so it coming back the same is no news either. `listed` is for
 * a Lease the controller's first list of them brings: it was there before the
 * controller watched, so it is noted, not taken for a renewal.
 */
export function observeHeartbeat(
  prev: HeartbeatSighting | undefined,
  agent: Agent,
  lease: Lease | undefined,
  now: number,
  { listed = false }: { listed?: boolean } = {},
): HeartbeatSighting {
  const uid = agent.metadata.uid;
  const renewTime = renewTimeOf(agent, lease);
  const lastHeartbeat = agent.status?.lastHeartbeat || undefined;
  if (!prev || prev.uid !== uid) return { uid, renewTime, lastHeartbeat, observedAt: now, changed: false };
  const renewed = renewTime !== undefined && renewTime !== prev.renewTime;
  const beat = lastHeartbeat !== undefined && lastHeartbeat !== prev.lastHeartbeat;
  if (!renewed && !beat) return prev;
  const seen = { uid, renewTime: renewTime ?? prev.renewTime, lastHeartbeat: lastHeartbeat ?? prev.lastHeartbeat };
  if (listed && !beat) return { ...prev, ...seen };
  return { ...seen, observedAt: now, changed: true };
}

const severity = { Ready: 0, NotReady: 1, Unknown: 2 } as const;

export function agentHealth(agent: Agent, seen: HeartbeatSighting, now: number, t: HealthThresholds): AgentHealth {
  if (seen.renewTime === undefined && seen.lastHeartbeat === undefined)
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

/**
 * Whether the agent's health as judged now differs from what its status
 * says (phase, or the reason of its Ready condition): only then is a
 * heartbeat worth a reconcile. A renewal that keeps a Ready agent Ready
 * changes nothing the controller writes; the reconcile already queued for
 * when the heartbeat would go stale then sees the newer sighting.
 */
export function healthChanged(agent: Agent, seen: HeartbeatSighting, now: number, t: HealthThresholds): boolean {
  const health = agentHealth(agent, seen, now, t);
  const reason = agent.status?.conditions?.find((c) => c.type === readyCondition)?.reason;
  return agent.status?.phase !== health.phase || reason !== health.reason;
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
