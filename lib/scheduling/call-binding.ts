/**
 * The agent a tool call's Task is bound to when it is created (ADR 0013), as
 * a Pod created with `spec.nodeName` skips the scheduler: the scheduler's
 * policy over the tool's agents with their loads, the best one listed. Pure,
 * so the gateway calls it with its caches and the assignment bench with its
 * own, and both measure the same decision.
 */

import type { Candidate } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import type { Agent } from "../api/resources.ts";
import { isLabelValue } from "../kube/labels.ts";
import { toCandidate } from "./candidates.ts";
import { defaultPriority, place } from "./policy.ts";

export interface CallToBind {
  /** The Task's name: the policy's tie-break spreads equal agents by it. */
  name: string;
  capability: string;
  namespace: string;
}

/** The agent to bind the call's Task to, or none (the controller places it then). */
export function chooseBoundAgent(
  call: CallToBind,
  agents: Iterable<Agent>,
  loads: ReadonlyMap<string, number>,
): string | undefined {
  const candidates: Candidate[] = [];
  for (const agent of agents) {
    const name = agent.metadata.name ?? "";
    // The label names the agent: one whose name can be no label value is placed by the controller.
    if (isLabelValue(name)) candidates.push(toCandidate(agent, loads.get(name) ?? 0));
  }
  if (candidates.length === 0) return undefined;
  const spec = {
    name: call.name,
    requiredCapabilities: [call.capability],
    priority: defaultPriority,
    affinity: { required: [], preferred: [], avoided: [] },
    domain: call.namespace,
  };
  return place(spec, candidates, 1).chosenAgent || undefined;
}
