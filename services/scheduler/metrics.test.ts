// The scheduler's requests counted by method and code, timed, and the candidates each weighed.
import { expect, test } from "bun:test";
import { silentLogger } from "../../lib/log.ts";
import type { Candidate, PlaceRequest } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { SchedulerMetrics } from "./metrics.ts";
import { schedulerImplementation } from "./server.ts";

const candidate = (name: string): Candidate => ({
  name,
  domain: "d",
  capabilities: ["ocr"],
  tags: [],
  phase: "Ready",
  currentTasks: 0,
  maxConcurrentTasks: 4,
});

async function place(impl: ReturnType<typeof schedulerImplementation>, request: PlaceRequest) {
  return new Promise<{ err: unknown; res: unknown }>((resolve) => {
    // biome-ignore lint/suspicious/noExplicitAny: a unary call is only its request here
    void impl.place({ request } as any, (err, res) => resolve({ err, res }));
  });
}

test("each request is counted by method and code, timed, and its candidates weighed", async () => {
  const metrics = new SchedulerMetrics("d");
  const impl = schedulerImplementation(silentLogger, undefined, metrics);
  const task = { name: "t", requiredCapabilities: ["ocr"], priority: 5, domain: "d" };
  const ok = await place(impl, { task, candidates: [candidate("a"), candidate("b"), candidate("c")] });
  expect(ok.err).toBeNull();
  const bad = await place(impl, { task: { ...task, priority: 11 }, candidates: [] });
  expect(bad.err).toMatchObject({ code: 3 });
  const text = await metrics.registry.metrics();
  expect(text).toMatch(/^mcp_scheduler_requests_total\{method="Place",code="OK",domain="d"\} 1$/m);
  expect(text).toMatch(/^mcp_scheduler_requests_total\{method="Place",code="INVALID_ARGUMENT",domain="d"\} 1$/m);
  expect(text).toMatch(/^mcp_scheduler_request_duration_seconds_count\{domain="d",method="Place"\} 2$/m);
  expect(text).toMatch(/^mcp_scheduler_candidates_sum\{domain="d",method="Place"\} 3$/m);
});
