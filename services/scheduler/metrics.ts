/**
 * The scheduler's Prometheus metrics: requests by method and gRPC code, their
 * latency, and how many candidates each request weighed (placement time grows
 * with them). Every series carries the domain label when one is given.
 */
import { Counter, Histogram, Registry } from "../../lib/metrics.ts";

export class SchedulerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"method" | "code">;
  readonly duration: Histogram<"method">;
  readonly candidates: Histogram<"method">;

  constructor(domain?: string) {
    if (domain) this.registry.setDefaultLabels({ domain });
    const registers = [this.registry];
    this.requests = new Counter({
      name: "mcp_scheduler_requests_total",
      help: "Scheduler requests by method (Place, PlaceBatch, WhatIf) and gRPC code (OK, INVALID_ARGUMENT, INTERNAL…)",
      labelNames: ["method", "code"],
      registers,
    });
    this.duration = new Histogram({
      name: "mcp_scheduler_request_duration_seconds",
      help: "Scheduler request latency by method, from the request to the answer",
      labelNames: ["method"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers,
    });
    this.candidates = new Histogram({
      name: "mcp_scheduler_candidates",
      help: "Candidate agents weighed per request, by method",
      labelNames: ["method"],
      buckets: [1, 5, 10, 50, 100, 500, 1000, 5000],
      registers,
    });
  }
}
