import { describe, expect, test } from "bun:test";
import type { Agent } from "../../lib/api/resources.ts";
import type { Lease } from "../../lib/kube/leases.ts";
import {
  type AgentHealth,
  agentHealth,
  type HeartbeatSighting,
  healthChanged,
  observeHeartbeat,
} from "./agent-health.ts";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const t = { notReadyAfterMs: 30_000, unknownAfterMs: 120_000 };

/** An Agent as the informer has it: its heartbeat as the agent wrote it, its phase as the controller did. */
const agent = (
  o: {
    heartbeat?: string;
    phase?: "Ready" | "NotReady" | "Unknown";
    /** The reason of its Ready condition, as the controller wrote it. */
    reason?: string;
    draining?: string;
    uid?: string;
  } = {},
): Agent => ({
  metadata: {
    name: "a",
    uid: o.uid ?? "uid-1",
    ...(o.draining !== undefined ? { annotations: { "mcp.io/draining": o.draining } } : {}),
  },
  spec: { capabilities: ["x"] },
  status: {
    ...(o.heartbeat !== undefined ? { lastHeartbeat: o.heartbeat } : {}),
    ...(o.phase ? { phase: o.phase } : {}),
    ...(o.reason
      ? {
          conditions: [{ type: "Ready", status: "True", reason: o.reason, lastTransitionTime: "2026-01-01T00:00:00Z" }],
        }
      : {}),
  },
});

/** The agent's Lease as the informer has it: renewed at `renewTime` (the agent's clock), owned by its Agent. */
const lease = (renewTime?: string, ownerUid = "uid-1"): Lease => ({
  metadata: {
    name: "a",
    ownerReferences: [{ apiVersion: "mcp.io/v1", kind: "Agent", name: "a", uid: ownerUid }],
  },
  spec: { holderIdentity: "a", ...(renewTime !== undefined ? { renewTime } : {}) },
});

type Seen = { renewTime?: string; lastHeartbeat?: string };
const sighting = (agoMs: number, changed: boolean, seen: Seen, uid = "uid-1"): HeartbeatSighting => ({
  uid,
  renewTime: seen.renewTime,
  lastHeartbeat: seen.lastHeartbeat,
  observedAt: NOW - agoMs,
  changed,
});
/** A heartbeat the controller saw change `agoMs` before NOW (its value is the agent's business). */
const sawChange = (agoMs: number, seen: Seen = { renewTime: "2026-01-01T00:00:00.000000Z" }) =>
  sighting(agoMs, true, seen);
/** An Agent the controller first saw `agoMs` ago and has not seen heartbeat since (it started then). */
const firstSaw = (agoMs: number, seen: Seen = { renewTime: "2026-01-01T00:00:00.000000Z" }) =>
  sighting(agoMs, false, seen);
/** An Agent the controller first saw `agoMs` ago, with no heartbeat then or since. */
const noneSince = (agoMs: number) => sighting(agoMs, false, {});

describe("observeHeartbeat", () => {
  const cases: {
    name: string;
    given: { prev: HeartbeatSighting | undefined; agent: Agent; lease?: Lease; listed?: boolean };
    want: HeartbeatSighting;
  }[] = [
    {
      name: "the first sight of an agent and its Lease counts from now, not as a renewal",
      given: { prev: undefined, agent: agent(), lease: lease("r1") },
      want: sighting(0, false, { renewTime: "r1" }),
    },
    {
      name: "the same renewTime again keeps the time it was first seen",
      given: { prev: sawChange(20_000, { renewTime: "r1" }), agent: agent(), lease: lease("r1") },
      want: sawChange(20_000, { renewTime: "r1" }),
    },
    {
      name: "a renewal is seen now, whatever time it names",
      given: {
        prev: firstSaw(20_000, { renewTime: "r1" }),
        agent: agent(),
        lease: lease("1999-01-01T00:00:00.000000Z"),
      },
      want: sighting(0, true, { renewTime: "1999-01-01T00:00:00.000000Z" }),
    },
    {
      name: "a Lease made after none is a renewal (a new agent's first)",
      given: { prev: noneSince(5_000), agent: agent(), lease: lease("r1") },
      want: sighting(0, true, { renewTime: "r1" }),
    },
    {
      name: "a Lease the first list brings is noted, not taken for a renewal",
      given: { prev: noneSince(5_000), agent: agent(), lease: lease("r1"), listed: true },
      want: sighting(5_000, false, { renewTime: "r1" }),
    },
    {
      name: "a listed Lease keeps what the controller knew: a heartbeat it saw stays seen",
      given: {
        prev: sawChange(5_000, { lastHeartbeat: "h1" }),
        agent: agent({ heartbeat: "h1" }),
        lease: lease("r1"),
        listed: true,
      },
      want: sighting(5_000, true, { renewTime: "r1", lastHeartbeat: "h1" }),
    },
    {
      name: "a status heartbeat that changed counts even beside a listed Lease",
      given: { prev: noneSince(5_000), agent: agent({ heartbeat: "h1" }), lease: lease("r1"), listed: true },
      want: sighting(0, true, { renewTime: "r1", lastHeartbeat: "h1" }),
    },
    {
      name: "a Lease an earlier Agent of the name owned is not this one's",
      given: { prev: noneSince(5_000), agent: agent(), lease: lease("r1", "uid-0") },
      want: noneSince(5_000),
    },
    {
      name: "a Lease with no renewTime is no heartbeat",
      given: { prev: noneSince(5_000), agent: agent(), lease: lease() },
      want: noneSince(5_000),
    },
    {
      name: "a Lease gone is no news: the last renewTime seen is kept",
      given: { prev: sawChange(20_000, { renewTime: "r1" }), agent: agent() },
      want: sawChange(20_000, { renewTime: "r1" }),
    },
    {
      name: "an agent of an earlier release: a new status.lastHeartbeat is seen now",
      given: { prev: firstSaw(20_000, { lastHeartbeat: "h1" }), agent: agent({ heartbeat: "h2" }) },
      want: sighting(0, true, { lastHeartbeat: "h2" }),
    },
    {
      name: "an old status.lastHeartbeat beside a renewing Lease is no news",
      given: {
        prev: sawChange(20_000, { renewTime: "r1", lastHeartbeat: "h0" }),
        agent: agent({ heartbeat: "h0" }),
        lease: lease("r1"),
      },
      want: sawChange(20_000, { renewTime: "r1", lastHeartbeat: "h0" }),
    },
    {
      name: "an agent rolled back to status heartbeats, its Lease left behind, is seen alive",
      given: {
        prev: sawChange(20_000, { renewTime: "r1", lastHeartbeat: "h0" }),
        agent: agent({ heartbeat: "h1" }),
        lease: lease("r1"),
      },
      want: sighting(0, true, { renewTime: "r1", lastHeartbeat: "h1" }),
    },
    {
      name: "still no heartbeat keeps the first sight",
      given: { prev: noneSince(5_000), agent: agent() },
      want: noneSince(5_000),
    },
    {
      name: "an Agent deleted and made again is seen anew",
      given: {
        prev: sawChange(1_000, { renewTime: "r1" }),
        agent: agent({ uid: "uid-2" }),
        lease: lease("r2", "uid-2"),
      },
      want: sighting(0, false, { renewTime: "r2" }, "uid-2"),
    },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(observeHeartbeat(given.prev, given.agent, given.lease, NOW, { listed: given.listed })).toEqual(want);
  });

  test("a Lease appearing after none is seen alive, unless the first list brought it", () => {
    const none = observeHeartbeat(undefined, agent(), undefined, NOW - 5_000);
    expect(observeHeartbeat(none, agent(), lease("r1"), NOW)).toMatchObject({ observedAt: NOW, changed: true });
    expect(observeHeartbeat(none, agent(), lease("r1"), NOW, { listed: true })).toMatchObject({
      observedAt: NOW - 5_000,
      changed: false,
    });
  });
});

describe("agentHealth", () => {
  const fresh = { phase: "Ready", reason: "HeartbeatFresh", message: "heartbeat within 30s" } as const;
  const stale = { phase: "NotReady", reason: "HeartbeatStale", message: "no heartbeat for over 30s" } as const;
  const lost = { phase: "Unknown", reason: "HeartbeatLost", message: "no heartbeat for over 120s" } as const;
  const unconfirmed = {
    reason: "HeartbeatUnconfirmed",
    message: "no heartbeat seen since the controller started watching",
  } as const;

  const cases: { name: string; given: { agent: Agent; seen: HeartbeatSighting }; want: AgentHealth }[] = [
    {
      name: "no heartbeat yet",
      given: { agent: agent(), seen: noneSince(0) },
      want: { phase: "Unknown", reason: "NoHeartbeat", message: "the agent has not sent a heartbeat" },
    },
    {
      name: "seen 1 s ago",
      given: { agent: agent(), seen: sawChange(1_000) },
      want: { ...fresh, recheckInMs: 29_000 },
    },
    // On the threshold the heartbeat is already stale.
    {
      name: "seen 30 s ago",
      given: { agent: agent(), seen: sawChange(30_000) },
      want: { ...stale, recheckInMs: 90_000 },
    },
    {
      name: "seen 40 s ago",
      given: { agent: agent(), seen: sawChange(40_000) },
      want: { ...stale, recheckInMs: 80_000 },
    },
    { name: "seen 120 s ago", given: { agent: agent(), seen: sawChange(120_000) }, want: lost },
    // An agent of an earlier release heartbeats in its status, and is judged the same way.
    {
      name: "a status heartbeat seen 1 s ago",
      given: { agent: agent({ heartbeat: "h1" }), seen: sawChange(1_000, { lastHeartbeat: "h1" }) },
      want: { ...fresh, recheckInMs: 29_000 },
    },
    {
      name: "a status heartbeat seen 40 s ago",
      given: { agent: agent({ heartbeat: "h1" }), seen: sawChange(40_000, { lastHeartbeat: "h1" }) },
      want: { ...stale, recheckInMs: 80_000 },
    },
    // The time the agent writes is its clock's; only when the controller saw it matters.
    {
      name: "a clock an hour behind, seen 1 s ago",
      given: { agent: agent(), seen: sawChange(1_000, { renewTime: "2025-12-31T23:00:00.000000Z" }) },
      want: { ...fresh, recheckInMs: 29_000 },
    },
    {
      name: "a clock a year ahead, seen 40 s ago",
      given: { agent: agent(), seen: sawChange(40_000, { renewTime: "2027-01-01T00:00:00.000000Z" }) },
      want: { ...stale, recheckInMs: 80_000 },
    },
    // A controller that just started counts from its first sight of the agent...
    {
      name: "first seen 1 s ago, Ready before",
      given: { agent: agent({ phase: "Ready" }), seen: firstSaw(1_000) },
      want: { ...fresh, recheckInMs: 29_000 },
    },
    {
      name: "first seen 1 s ago, never judged",
      given: { agent: agent(), seen: firstSaw(1_000) },
      want: { ...fresh, recheckInMs: 29_000 },
    },
    {
      name: "first seen 30 s ago, Ready before",
      given: { agent: agent({ phase: "Ready" }), seen: firstSaw(30_000) },
      want: { ...stale, recheckInMs: 90_000 },
    },
    // ...but does not revive an agent it has not seen alive.
    {
      name: "first seen 1 s ago, NotReady before",
      given: { agent: agent({ phase: "NotReady" }), seen: firstSaw(1_000) },
      want: { phase: "NotReady", ...unconfirmed, recheckInMs: 29_000 },
    },
    {
      name: "first seen 1 s ago, Unknown before",
      given: { agent: agent({ phase: "Unknown" }), seen: firstSaw(1_000) },
      want: { phase: "Unknown", ...unconfirmed, recheckInMs: 29_000 },
    },
    {
      name: "first seen 40 s ago, Unknown before",
      given: { agent: agent({ phase: "Unknown" }), seen: firstSaw(40_000) },
      want: { phase: "Unknown", ...unconfirmed, recheckInMs: 80_000 },
    },
    {
      name: "first seen 40 s ago, NotReady before",
      given: { agent: agent({ phase: "NotReady" }), seen: firstSaw(40_000) },
      want: { ...stale, recheckInMs: 80_000 },
    },
    {
      name: "first seen 120 s ago, Unknown before",
      given: { agent: agent({ phase: "Unknown" }), seen: firstSaw(120_000) },
      want: lost,
    },
    {
      name: "NotReady before, then seen heartbeating",
      given: { agent: agent({ phase: "NotReady" }), seen: sawChange(1_000) },
      want: { ...fresh, recheckInMs: 29_000 },
    },
    // A draining agent (shutting down) is NotReady for new work, its tasks staying with it.
    {
      name: "draining, seen 1 s ago",
      given: { agent: agent({ draining: "true" }), seen: sawChange(1_000) },
      want: { phase: "NotReady", reason: "Draining", message: "the agent is shutting down", recheckInMs: 29_000 },
    },
    {
      name: "draining, first seen 1 s ago, NotReady (draining) before",
      given: { agent: agent({ draining: "true", phase: "NotReady" }), seen: firstSaw(1_000) },
      want: { phase: "NotReady", reason: "Draining", message: "the agent is shutting down", recheckInMs: 29_000 },
    },
    {
      name: "draining, seen 30 s ago",
      given: { agent: agent({ draining: "true" }), seen: sawChange(30_000) },
      want: { ...stale, recheckInMs: 90_000 },
    },
    {
      name: "draining: false",
      given: { agent: agent({ draining: "false" }), seen: sawChange(1_000) },
      want: { ...fresh, recheckInMs: 29_000 },
    },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(agentHealth(given.agent, given.seen, NOW, t)).toEqual(want);
  });

  test("messages do not change with the heartbeat's age, only with the phase", () => {
    expect(agentHealth(agent(), sawChange(1_000), NOW, t).message).toBe(
      agentHealth(agent(), sawChange(20_000), NOW, t).message,
    );
  });

  test("an agent that stops renewing its Lease goes NotReady, then Unknown, by the controller's clock alone", () => {
    // The agent writes a renewTime a day ahead, once, and dies: it must not stay Ready for a day.
    const dead = agent({ phase: "Ready" });
    const last = lease("2026-01-02T00:00:00.000000Z");
    let seen = observeHeartbeat(firstSaw(5_000, { renewTime: "2026-01-01T00:00:00.000000Z" }), dead, last, NOW);
    const at = (ms: number) => {
      seen = observeHeartbeat(seen, dead, last, NOW + ms);
      return agentHealth(dead, seen, NOW + ms, t).phase;
    };
    expect([at(0), at(29_999), at(30_000), at(119_999), at(120_000)]).toEqual([
      "Ready",
      "Ready",
      "NotReady",
      "NotReady",
      "Unknown",
    ]);
  });
});

describe("healthChanged: whether a heartbeat is worth a reconcile", () => {
  const cases: { name: string; given: { agent: Agent; seen: HeartbeatSighting }; want: boolean }[] = [
    {
      name: "a Ready agent renewing stays Ready: nothing to write",
      given: { agent: agent({ phase: "Ready", reason: "HeartbeatFresh" }), seen: sawChange(0) },
      want: false,
    },
    {
      name: "a new agent's first renewal: Ready now",
      given: { agent: agent({ phase: "Unknown", reason: "NoHeartbeat" }), seen: sawChange(0) },
      want: true,
    },
    {
      name: "a NotReady agent renewing again: Ready now",
      given: { agent: agent({ phase: "NotReady", reason: "HeartbeatStale" }), seen: sawChange(0) },
      want: true,
    },
    {
      name: "Ready, but with no Ready condition written yet",
      given: { agent: agent({ phase: "Ready" }), seen: sawChange(0) },
      want: true,
    },
    {
      name: "a draining agent renewing stays NotReady for the same reason",
      given: { agent: agent({ phase: "NotReady", reason: "Draining", draining: "true" }), seen: sawChange(0) },
      want: false,
    },
    {
      name: "a listed Lease of an Unknown agent confirms nothing",
      given: { agent: agent({ phase: "Unknown", reason: "HeartbeatUnconfirmed" }), seen: firstSaw(1_000) },
      want: false,
    },
    {
      name: "a Ready agent whose last renewal is 40 s old is stale",
      given: { agent: agent({ phase: "Ready", reason: "HeartbeatFresh" }), seen: sawChange(40_000) },
      want: true,
    },
  ];
  test.each(cases)("$name", ({ given, want }) => {
    expect(healthChanged(given.agent, given.seen, NOW, t)).toBe(want);
  });
});
