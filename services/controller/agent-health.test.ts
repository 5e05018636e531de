import { describe, expect, test } from "bun:test";
import type { Agent } from "../../lib/api/resources.ts";
import { agentHealth } from "./agent-health.ts";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const agent = (heartbeatAgoMs?: number): Agent => ({
  metadata: { name: "a" },
  spec: { capabilities: ["x"] },
  status: heartbeatAgoMs === undefined ? {} : { lastHeartbeat: new Date(NOW - heartbeatAgoMs).toISOString() },
});
const t = { notReadyAfterMs: 30_000, unknownAfterMs: 120_000 };

describe("agentHealth", () => {
  test.each([
    { name: "no heartbeat yet", ago: undefined, phase: "Unknown", reason: "NoHeartbeat", recheck: undefined },
    { name: "fresh", ago: 1_000, phase: "Ready", reason: "HeartbeatFresh", recheck: 29_000 },
    { name: "stale", ago: 40_000, phase: "NotReady", reason: "HeartbeatStale", recheck: 80_000 },
    { name: "lost", ago: 200_000, phase: "Unknown", reason: "HeartbeatLost", recheck: undefined },
  ])("$name → $phase", ({ ago, phase, reason, recheck }) => {
    const h = agentHealth(agent(ago), NOW, t);
    expect(h).toMatchObject({ phase, reason });
    expect(h.recheckInMs).toBe(recheck);
  });
  test("a draining agent with a fresh heartbeat is NotReady for new work", () => {
    const a = agent(1_000);
    a.metadata.annotations = { "mcp.io/draining": "true" };
    expect(agentHealth(a, NOW, t)).toMatchObject({ phase: "NotReady", reason: "Draining" });
    a.status = { lastHeartbeat: new Date(NOW - 40_000).toISOString() };
    expect(agentHealth(a, NOW, t)).toMatchObject({ phase: "NotReady", reason: "HeartbeatStale" });
  });
  test("messages do not change with the heartbeat's age, only with the phase", () => {
    expect(agentHealth(agent(1_000), NOW, t).message).toBe(agentHealth(agent(20_000), NOW, t).message);
  });
});

describe("agentHealth: each phase in full, and its edges", () => {
  test("an agent without any status has sent no heartbeat", () => {
    const a: Agent = { metadata: { name: "a" }, spec: { capabilities: ["x"] } };
    expect(agentHealth(a, NOW, t)).toEqual({
      phase: "Unknown",
      reason: "NoHeartbeat",
      message: "the agent has not sent a heartbeat",
    });
  });

  test.each([
    {
      ago: 1_000,
      want: { phase: "Ready", reason: "HeartbeatFresh", message: "heartbeat within 30s", recheckInMs: 29_000 },
    },
    // On the threshold the heartbeat is already stale.
    {
      ago: 30_000,
      want: { phase: "NotReady", reason: "HeartbeatStale", message: "no heartbeat for over 30s", recheckInMs: 90_000 },
    },
    {
      ago: 40_000,
      want: { phase: "NotReady", reason: "HeartbeatStale", message: "no heartbeat for over 30s", recheckInMs: 80_000 },
    },
    { ago: 120_000, want: { phase: "Unknown", reason: "HeartbeatLost", message: "no heartbeat for over 120s" } },
  ])("a heartbeat $ago ms ago", ({ ago, want }) => {
    expect(agentHealth(agent(ago), NOW, t)).toEqual(want as ReturnType<typeof agentHealth>);
  });

  test("a draining agent: NotReady until its heartbeat goes stale, then as any other", () => {
    const draining = (ago: number) => {
      const a = agent(ago);
      a.metadata.annotations = { "mcp.io/draining": "true" };
      return agentHealth(a, NOW, t);
    };
    expect(draining(1_000)).toEqual({
      phase: "NotReady",
      reason: "Draining",
      message: "the agent is shutting down",
      recheckInMs: 29_000,
    });
    expect(draining(30_000)).toMatchObject({ reason: "HeartbeatStale", recheckInMs: 90_000 });
    const other = agent(1_000);
    other.metadata.annotations = { "mcp.io/draining": "false" };
    expect(agentHealth(other, NOW, t).reason).toBe("HeartbeatFresh");
  });
});
