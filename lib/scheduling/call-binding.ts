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

/**
 * Each Agent object's candidate, made once. An informer replaces an object
 * when it changes, so a kept candidate is never stale, and a binding over
 * 1,000 agents makes no new one: only their loads are set, just before the
 * policy reads them. Null for an agent whose name can be no label value
 * (the label names the agent: such an agent is placed by the controller).
 */
const candidateOf = new WeakMap<Agent, Candidate | null>();

function candidateFor(agent: Agent): Candidate | null {
  let c = candidateOf.get(agent);
  if (c === undefined) {
    c = isLabelValue(agent.metadata.name ?? "") ? toCandidate(agent, 0) : null;
    candidateOf.set(agent, c);
  }
  return c;
}

/** The agent to bind the call's Task to, or none (the controller places it then). */
export function chooseBoundAgent(
  call: CallToBind,
  agents: Iterable<Agent>,
  loads: ReadonlyMap<string, number>,
): string | undefined {
  const candidates: Candidate[] = [];
  for (const agent of agents) {
    const c = candidateFor(agent);
    if (!c) continue;
    c.currentTasks = loads.get(c.name) ?? 0;
    candidates.push(c);
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
