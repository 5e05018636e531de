/**
 * Agent objects no process serves, kept Ready by heartbeats from the bench:
 * the number of agents a bench wants without an agent process for each. They
 * heartbeat as agents do, renewing a Lease each (lib/agent/lease.ts, the
 * runtime's own code), or, for a comparison, as agents of the previous
 * release did, writing status.lastHeartbeat (the controller accepts both).
 */
import pLimit from "p-limit";
import { AgentLease, leaseDurationSeconds } from "../lib/agent/lease.ts";
import type { AgentSpec, McpClients } from "../lib/api/resources.ts";
import { leaseClient } from "../lib/kube/leases.ts";

/** How the bench's agents heartbeat: a Lease each (as agents do), or their Agent's status (the previous release). */
export type HeartbeatMode = "lease" | "status";

export interface FakeAgent {
  name: string;
  uid: string;
}

/** Creates the Agent objects, `concurrency` at a time. */
export async function createAgents(
  mcp: McpClients,
  namespace: string,
  o: { names: string[]; spec: (i: number) => AgentSpec; concurrency: number },
): Promise<FakeAgent[]> {
  const limit = pLimit(o.concurrency);
  return Promise.all(
    o.names.map((name, i) =>
      limit(async () => {
        const a = await mcp.agents.create(namespace, { metadata: { name }, spec: o.spec(i) });
        return { name, uid: a.metadata.uid ?? "" };
      }),
    ),
  );
}

/** A bench's heartbeats: the timer, and what they came to. */
export interface Heartbeats {
  /** Undefined when each agent heartbeats once only. */
  timer: ReturnType<typeof setInterval> | undefined;
  /**
   * Heartbeats written and failed, and skipped (the agent's last one still
   * under way, or `maxInFlight` under way in all), with each written one's
   * time (ms): what the apiserver kept up with, not only what was asked.
   */
  stats: { done: number; failed: number; skipped: number; durationsMs: number[] };
}

/**
 * Heartbeats each agent once, `concurrency` at a time, then each in turn
 * every `spacingMs`: spread evenly over the period instead of in bursts.
 * Without `spacingMs` there is no timer: the one heartbeat does, for a
 * controller whose heartbeat timeout outlasts the bench.
 */
export async function heartbeatAgents(
  mcp: McpClients,
  namespace: string,
  agents: FakeAgent[],
  o: { mode: HeartbeatMode; concurrency: number; spacingMs?: number; maxInFlight?: number },
): Promise<Heartbeats> {
  // What each lease says it holds: 4 of its renewals (an hour when it is renewed once).
  const periodMs = o.spacingMs === undefined ? 900_000 : o.spacingMs * agents.length;
  const writer = leaseClient(mcp.agents.connection);
  const leases = new Map(
    agents.map((a) => [
      a.name,
      new AgentLease({
        leases: writer,
        namespace,
        name: a.name,
        agentUid: a.uid,
        durationSeconds: leaseDurationSeconds(periodMs),
        now: Date.now,
      }),
    ]),
  );
  const heartbeat = (a: FakeAgent): Promise<unknown> =>
    o.mode === "lease"
      ? (leases.get(a.name) as AgentLease).renew()
      : mcp.agents.patch(namespace, a.name, { status: { lastHeartbeat: new Date().toISOString() } }, "merge", {
          subresource: "status",
        });
  const limit = pLimit(o.concurrency);
  await Promise.all(agents.map((a) => limit(() => heartbeat(a))));
  const stats: Heartbeats["stats"] = { done: 0, failed: 0, skipped: 0, durationsMs: [] };
  if (agents.length === 0 || o.spacingMs === undefined) return { timer: undefined, stats };
  const spacingMs = o.spacingMs;
  const maxInFlight = o.maxInFlight ?? 64;
  const inFlight = new Set<string>();
  const beat = async (a: FakeAgent) => {
    // An apiserver that cannot keep up gets no pile of requests: it shows as skipped heartbeats.
    if (inFlight.has(a.name) || inFlight.size >= maxInFlight) {
      stats.skipped++;
      return;
    }
    inFlight.add(a.name);
    const t0 = performance.now();
    try {
      await heartbeat(a);
      stats.done++;
      stats.durationsMs.push(performance.now() - t0);
    } catch {
      stats.failed++;
    } finally {
      inFlight.delete(a.name);
    }
  };
  const start = Date.now();
  let sent = 0;
  const timer = setInterval(() => {
    // A timer fires late on a busy machine: what is due is sent, so the rate is the one asked for.
    const due = Math.min(Math.floor((Date.now() - start) / spacingMs), sent + agents.length);
    for (; sent < due; sent++) void beat(agents[sent % agents.length] as FakeAgent);
  }, spacingMs);
  return { timer, stats };
}

/** Creates the agents and heartbeats them (by their Leases unless `mode` says otherwise): createAgents, then heartbeatAgents. */
export async function startHeartbeatedAgents(
  mcp: McpClients,
  namespace: string,
  o: { names: string[]; spec: (i: number) => AgentSpec; concurrency: number; spacingMs?: number; mode?: HeartbeatMode },
): Promise<ReturnType<typeof setInterval> | undefined> {
  const agents = await createAgents(mcp, namespace, o);
  return (await heartbeatAgents(mcp, namespace, agents, { ...o, mode: o.mode ?? "lease" })).timer;
}
