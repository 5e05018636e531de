/**
 * Turns Agent and Task objects into the scheduler's view: candidates with
 * their current load, and task specs. Shared by the controller (which places)
 * and the scheduler's what-if (which only looks).
 */

import type { Candidate, TaskSpec } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import type { Agent, Task } from "../api/resources.ts";
import { isBoundUnstarted, taskAgent } from "../api/task-state.ts";
import { defaultPriority } from "./policy.ts";

/** A task occupies its agent while Assigned or Running, or created bound to it and not yet started. */
export const occupiesAgent = (t: Task): boolean =>
  isBoundUnstarted(t) || (!!t.status?.assignedAgent && (t.status.phase === "Assigned" || t.status.phase === "Running"));

/** Tasks Assigned or Running per agent, counted from the tasks themselves. */
export function loadByAgent(tasks: Iterable<Task>): Map<string, number> {
  const load = new Map<string, number>();
  for (const t of tasks) {
    if (!occupiesAgent(t)) continue;
    const a = taskAgent(t) as string;
    load.set(a, (load.get(a) ?? 0) + 1);
  }
  return load;
}

export function toCandidate(agent: Agent, currentTasks: number): Candidate {
  return {
    name: agent.metadata.name ?? "",
    domain: agent.metadata.namespace ?? "",
    capabilities: agent.spec.capabilities ?? [],
    tags: agent.spec.tags ?? [],
    phase: agent.status?.phase ?? "",
    currentTasks,
    maxConcurrentTasks: agent.spec.maxConcurrentTasks ?? 5,
  };
}

export function toTaskSpec(task: Task): TaskSpec {
  return {
    name: task.metadata.name ?? "",
    requiredCapabilities: task.spec.requiredCapabilities ?? [],
    priority: task.spec.priority ?? defaultPriority,
    affinity: {
      required: task.spec.affinity?.required ?? [],
      preferred: task.spec.affinity?.preferred ?? [],
      avoided: task.spec.affinity?.avoided ?? [],
    },
    domain: task.metadata.namespace ?? "",
  };
}
