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
