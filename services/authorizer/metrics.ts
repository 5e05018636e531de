/**
 * The authorizer's Prometheus metrics: reviews by decision (allowed,
 * no_opinion, malformed) and how long each took to answer.
 */
import { Counter, Histogram, Registry } from "../../lib/metrics.ts";

export type DecisionLabel = "allowed" | "no_opinion" | "malformed";

export class AuthorizerMetrics {
  readonly registry = new Registry();
  readonly reviews: Counter<"decision">;
  readonly duration: Histogram;

  constructor() {
    const registers = [this.registry];
    this.reviews = new Counter({
      name: "mcp_authorizer_reviews_total",
      help: "SubjectAccessReviews answered, by decision (allowed, no_opinion, malformed: answered 400)",
      labelNames: ["decision"],
      registers,
    });
    for (const decision of ["allowed", "no_opinion", "malformed"] as const) this.reviews.inc({ decision }, 0);
    this.duration = new Histogram({
      name: "mcp_authorizer_review_duration_seconds",
      help: "Time from a review's request to its answer",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers,
    });
  }
}
