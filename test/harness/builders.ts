/**
 * Fixture builders: makeTask("t", "ns").priority(7).assignedTo("a").obj()
 */
import type { Agent, Task } from "../../lib/api/resources.ts";
import { boundAgentLabel } from "../../lib/api/task-state.ts";
import type { Candidate } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";

type TaskStatus = NonNullable<Task["status"]>;

export class TaskBuilder {
  private readonly t: Task;
  constructor(name: string, namespace: string) {
    this.t = { metadata: { name, namespace, generation: 1 }, spec: { requiredCapabilities: ["x"] }, status: {} };
  }
  private set(s: Partial<TaskStatus>): this {
    this.t.status = { ...this.t.status, ...s };
    return this;
  }
  capabilities(...caps: string[]): this {
    this.t.spec.requiredCapabilities = caps;
    return this;
  }
  priority(p: number): this {
    this.t.spec.priority = p;
    return this;
  }
  phase(phase: TaskStatus["phase"]): this {
    return this.set({ phase });
  }
  attempts(attempts: number): this {
    return this.set({ attempts });
  }
  assignedTo(assignedAgent: string): this {
    return this.set({ assignedAgent });
  }
  /** Created bound to `agent` (the label the gateway sets, ADR 0013). */
  boundTo(agent: string): this {
    this.t.metadata.labels = { ...this.t.metadata.labels, [boundAgentLabel]: agent };
    return this;
  }
  error(retryable: boolean, reason = "Boom", message = "it broke"): this {
    return this.set({ error: { reason, message, retryable } });
  }
  condition(type: string, status: "True" | "False", at: Date, reason = "R"): this {
    return this.set({
      conditions: [
        ...(this.t.status?.conditions ?? []),
        { type, status, reason, lastTransitionTime: at.toISOString() },
      ],
    });
  }
  completedAt(at: Date): this {
    return this.set({ completionTime: at.toISOString() });
  }
  retryPolicy(r: NonNullable<Task["spec"]["retryPolicy"]>): this {
    this.t.spec.retryPolicy = r;
    return this;
  }
  deadline(at: Date): this {
    this.t.spec.deadline = at.toISOString();
    return this;
  }
  ttl(seconds: number): this {
    this.t.spec.ttlSecondsAfterFinished = seconds;
    return this;
  }
  noStatus(): this {
    this.t.status = undefined;
    return this;
  }
  obj(): Task {
    return structuredClone(this.t);
  }
}

export const makeTask = (name = "t", namespace = "ns") => new TaskBuilder(name, namespace);

export const makeAgent = (name: string, spec: Partial<Agent["spec"]> = {}): Agent => ({
  metadata: { name },
  spec: { capabilities: ["x"], ...spec },
});

/** A scheduler candidate: Ready, capability x, no tags, idle, room for 4. */
export const makeCandidate = (name: string, over: Partial<Candidate> = {}): Candidate => ({
  name,
  domain: "d",
  capabilities: ["x"],
  tags: [],
  phase: "Ready",
  currentTasks: 0,
  maxConcurrentTasks: 4,
  ...over,
});
