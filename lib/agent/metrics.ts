/** The agent runtime's Prometheus metrics. */
import { Counter, Gauge, Histogram, Registry } from "../metrics.ts";

export class AgentMetrics {
  readonly registry = new Registry();
  readonly executed: Counter<"tool" | "outcome">;
  readonly duration: Histogram<"tool">;
  readonly inFlight: Gauge;

  constructor(agent: string, domain: string) {
    this.registry.setDefaultLabels({ agent, domain });
    const registers = [this.registry];
    this.executed = new Counter({
      name: "mcp_agent_tasks_total",
      help: "Tasks executed, by tool and outcome (completed, failed, invalid_input, timeout, cancelled, too_large)",
      labelNames: ["tool", "outcome"],
      registers,
    });
    this.duration = new Histogram({
      name: "mcp_agent_task_duration_seconds",
      help: "Time spent executing tasks, by tool",
      labelNames: ["tool"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 120, 600],
      registers,
    });
    this.inFlight = new Gauge({ name: "mcp_agent_tasks_in_flight", help: "Tasks executing now", registers });
  }
}
