/**
 * Agent objects no process serves, kept Ready by heartbeats from the bench:
 * the number of agents a bench wants without an agent process for each.
 */
import pLimit from "p-limit";
import type { AgentSpec, McpClients } from "../lib/api/resources.ts";

/**
 * Creates the agents and heartbeats each once, `concurrency` at a time, then
 * heartbeats them in turn every `spacingMs`: spread evenly over the period
 * instead of in bursts. Returns the heartbeat timer, for the caller to clear.
 * Without `spacingMs` there is no timer: the one heartbeat does, for a
 * controller whose heartbeat timeout outlasts the bench.
 */
export async function startHeartbeatedAgents(
  mcp: McpClients,
  namespace: string,
  o: { names: string[]; spec: (i: number) => AgentSpec; concurrency: number; spacingMs?: number },
): Promise<ReturnType<typeof setInterval> | undefined> {
  const heartbeat = (name: string) =>
    mcp.agents.patch(namespace, name, { status: { lastHeartbeat: new Date().toISOString() } }, "merge", {
      subresource: "status",
    });
  const limit = pLimit(o.concurrency);
  await Promise.all(
    o.names.map((name, i) =>
      limit(async () => {
        await mcp.agents.create(namespace, { metadata: { name }, spec: o.spec(i) });
        await heartbeat(name);
      }),
    ),
  );
  if (o.names.length === 0 || o.spacingMs === undefined) return undefined;
  let cursor = 0;
  return setInterval(() => void heartbeat(o.names[cursor++ % o.names.length] as string).catch(() => {}), o.spacingMs);
}
