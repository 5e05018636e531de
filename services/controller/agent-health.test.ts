import { describe, expect, test } from "bun:test";
import type { Agent } from "../../lib/api/resources.ts";
import { type AgentHealth, agentHealth, type HeartbeatSighting, observeHeartbeat } from "./agent-health.ts";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const t = { notReadyAfterMs: 30_000, unknownAfterMs: 120_000 };

/** An Agent as the informer has it: its heartbeat as the agent wrote it, its phase as the controller did. */
const agent = (
  o: { heartbeat?: string; phase?: "Ready" | "NotReady" | "Unknown"; draining?: string; uid?: string } = {},
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
  },
});

/** A heartbeat the controller saw change `agoMs` before NOW (its value is the agent's business). */
const sawChange = (agoMs: number, heartbeat = "2026-01-01T00:00:00Z"): HeartbeatSighting => ({
  uid: "uid-1",
  heartbeat,
  observedAt: NOW - agoMs,
  changed: true,
});
/** An Agent the controller first saw `agoMs` ago and has not seen heartbeat since (it started then). */
const firstSaw = (agoMs: number, heartbeat = "2026-01-01T00:00:00Z"): HeartbeatSighting => ({
  uid: "uid-1",
  heartbeat,
  observedAt: NOW - agoMs,
  changed: false,
});
/** An Agent the controller first saw `agoMs` ago, with no heartbeat then or since. */
const noneSince = (agoMs: number): HeartbeatSighting => ({
  uid: "uid-1",
  heartbeat: undefined,
  observedAt: NOW - agoMs,
  changed: false,
});

describe("observeHeartbeat", () => {
  const hb = (s: string) => agent({ heartbeat: s });
  test.each([
    {
      name: "the first sight of an agent counts from now, not as a change",
      prev: undefined,
      seen: hb("h1"),
      want: { uid: "uid-1", heartbeat: "h1", observedAt: NOW, changed: false },
    },
    {
      name: "the same heartbeat again keeps the time it was first seen",
      prev: sawChange(20_000, "h1"),
      seen: hb("h1"),
      want: sawChange(20_000, "h1"),
    },
    {
      name: "a new heartbeat is seen now, whatever time it names",
      prev: firstSaw(20_000, "h1"),
      seen: hb("1999-01-01T00:00:00Z"),
      want: { uid: "uid-1", heartbeat: "1999-01-01T00:00:00Z", observedAt: NOW, changed: true },
    },
    {
      name: "still no heartbeat keeps the first sight",
      prev: noneSince(5_000),
      seen: agent(),
      want: noneSince(5_000),
    },
    {
      name: "an Agent deleted and made again is seen anew",
      prev: sawChange(1_000, "h1"),
      seen: agent({ heartbeat: "h2", uid: "uid-2" }),
      want: { uid: "uid-2", heartbeat: "h2", observedAt: NOW, changed: false },
    },
  ])("$name", ({ prev, seen, want }) => {
    expect(observeHeartbeat(prev, seen, NOW)).toEqual(want);
  });

  test("a heartbeat appearing after none is seen alive", () => {
    const none = observeHeartbeat(undefined, agent(), NOW - 5_000);
    expect(observeHeartbeat(none, agent({ heartbeat: "h1" }), NOW)).toEqual({
      uid: "uid-1",
      heartbeat: "h1",
      observedAt: NOW,
      changed: true,
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
    // The time the agent writes is its clock's; only when the controller saw it matters.
    {
      name: "a clock an hour behind, seen 1 s ago",
      given: { agent: agent({ heartbeat: "2025-12-31T23:00:00Z" }), seen: sawChange(1_000, "2025-12-31T23:00:00Z") },
      want: { ...fresh, recheckInMs: 29_000 },
    },
    {
      name: "a clock a year ahead, seen 40 s ago",
      given: { agent: agent({ heartbeat: "2027-01-01T00:00:00Z" }), seen: sawChange(40_000, "2027-01-01T00:00:00Z") },
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

  test("an agent that stops heartbeating goes NotReady, then Unknown, by the controller's clock alone", () => {
    // The agent writes a time a day ahead, once, and dies: it must not stay Ready for a day.
    const dead = agent({ heartbeat: "2026-01-02T00:00:00Z", phase: "Ready" });
    let seen = observeHeartbeat(firstSaw(5_000, "2026-01-01T00:00:00Z"), dead, NOW);
    const at = (ms: number) => {
      seen = observeHeartbeat(seen, dead, NOW + ms);
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
