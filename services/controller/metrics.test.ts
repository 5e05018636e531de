// The domain's state gauges come from the leader alone: a standby holds the
// same caches, and summing both replicas would count everything twice.
import { expect, test } from "bun:test";
import { ControllerMetrics } from "./metrics.ts";

test("a standby exports no task, agent or capability gauges; the leader does", async () => {
  let leading = false;
  const metrics = new ControllerMetrics("d", {
    isLeader: () => leading,
    taskPhases: () => new Map([["Pending", 3]]),
    agentPhases: () => new Map([["Ready", 2]]),
    queueDepths: () => new Map([["tasks", 0]]),
    readyByCapability: () => new Map([["ocr", 2]]),
    oldestPendingSeconds: () => 7,
  });
  const text = () => metrics.registry.metrics();
  const standby = await text();
  expect(standby).not.toMatch(/^mcp_tasks\{/m);
  expect(standby).not.toMatch(/^mcp_agents\{/m);
  expect(standby).not.toMatch(/^mcp_capability_ready_agents\{/m);
  expect(standby).not.toMatch(/^mcp_tasks_oldest_pending_seconds\{/m);
  // the queue depths and the leader gauge are each replica's own
  expect(standby).toMatch(/^mcp_controller_queue_depth\{queue="tasks",domain="d"\} 0$/m);
  leading = true;
  const leader = await text();
  expect(leader).toMatch(/^mcp_tasks\{phase="Pending",domain="d"\} 3$/m);
  expect(leader).toMatch(/^mcp_agents\{phase="Ready",domain="d"\} 2$/m);
  expect(leader).toMatch(/^mcp_capability_ready_agents\{capability="ocr",domain="d"\} 2$/m);
  expect(leader).toMatch(/^mcp_tasks_oldest_pending_seconds\{domain="d"\} 7$/m);
  // and it stops when leadership does
  leading = false;
  expect(await text()).not.toMatch(/^mcp_tasks\{/m);
  expect(await text()).not.toMatch(/^mcp_tasks_oldest_pending_seconds\{/m);
});
