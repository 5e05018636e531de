/**
 * The placement policy: which agents can run a task, and which of them
 * should. A pure function of its input, so the same request always gets the
 * same answer, the scheduler can stay stateless, and the rules are tested
 * without a cluster.
 *
 * Filters: same domain, phase Ready, every required capability, every
 * required tag, no avoided tag, free capacity. Score (0-100): free capacity
 * (60), preferred tags (30), specialization (10: an agent whose capabilities
 * the task uses more fully is kept free of work others could do). Exact ties
 * go to the agent with the highest rendezvous hash of (task, agent), which is
 * deterministic per task yet spreads equal agents evenly across tasks.
 */
import type {
  Candidate,
  CandidateResult,
  Placement,
  TaskSpec,
} from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";

export const defaultPriority = 5;

const weights = { capacity: 60, preferred: 30, specialization: 10 } as const;

/** A request field that is missing or out of range. */
export class InvalidArgumentError extends Error {
  override readonly name = "InvalidArgumentError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * FNV-1a with murmur3's final mix, 32 bits: cheap and stable across processes
 * and platforms; the mix spreads names that differ only in a last character.
 */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export const tieBreak = (task: string, agent: string): number => hash32(`${task}\u0000${agent}`);

const round = (x: number) => Math.round(x * 1000) / 1000;

export function validateTask(task: TaskSpec | undefined, field = "task"): TaskSpec {
  if (!task) throw new InvalidArgumentError(field, "is required");
  if (task.requiredCapabilities.length === 0) {
    throw new InvalidArgumentError(`${field}.required_capabilities`, "must name at least one capability");
  }
  task.requiredCapabilities.forEach((c, i) => {
    if (!c) throw new InvalidArgumentError(`${field}.required_capabilities[${i}]`, "must not be empty");
  });
  if (task.priority !== 0 && (task.priority < 1 || task.priority > 10)) {
    throw new InvalidArgumentError(`${field}.priority`, `must be between 1 and 10, got ${task.priority}`);
  }
  return task;
}

export function validateCandidates(candidates: Candidate[]): void {
  const seen = new Set<string>();
  candidates.forEach((c, i) => {
    if (!c.name) throw new InvalidArgumentError(`candidates[${i}].name`, "is required");
    if (seen.has(c.name)) throw new InvalidArgumentError(`candidates[${i}].name`, `duplicate agent ${c.name}`);
    seen.add(c.name);
    if (c.maxConcurrentTasks < 1)
      throw new InvalidArgumentError(`candidates[${i}].max_concurrent_tasks`, "must be at least 1");
    if (c.currentTasks < 0) throw new InvalidArgumentError(`candidates[${i}].current_tasks`, "must not be negative");
  });
}

/** Why an agent cannot take the task; an empty list means it can. */
export function filterReasons(task: TaskSpec, c: Candidate): string[] {
  const reasons: string[] = [];
  if (c.domain !== task.domain) reasons.push(`other domain ${c.domain || "(none)"}`);
  if (c.phase !== "Ready") reasons.push(c.phase ? c.phase : "no heartbeat yet");
  const caps = new Set(c.capabilities);
  for (const cap of task.requiredCapabilities) if (!caps.has(cap)) reasons.push(`missing capability ${cap}`);
  const tags = new Set(c.tags);
  for (const t of task.affinity?.required ?? []) if (!tags.has(t)) reasons.push(`missing required tag ${t}`);
  for (const t of task.affinity?.avoided ?? []) if (tags.has(t)) reasons.push(`avoided tag ${t}`);
  if (c.currentTasks >= c.maxConcurrentTasks) reasons.push(`at capacity ${c.currentTasks}/${c.maxConcurrentTasks}`);
  return reasons;
}

/** The score of an agent that passed the filters, and how it was made. */
export function score(task: TaskSpec, c: Candidate): { score: number; reasons: string[] } {
  const free = (c.maxConcurrentTasks - c.currentTasks) / c.maxConcurrentTasks;
  const capacity = weights.capacity * free;
  const preferredTags = task.affinity?.preferred ?? [];
  const tags = new Set(c.tags);
  const matched = preferredTags.filter((t) => tags.has(t)).length;
  const preferred = preferredTags.length ? (weights.preferred * matched) / preferredTags.length : 0;
  const specialization =
    (weights.specialization * task.requiredCapabilities.length) / Math.max(c.capabilities.length, 1);
  const reasons = [`load ${c.currentTasks}/${c.maxConcurrentTasks} (+${round(capacity)})`];
  if (preferredTags.length) reasons.push(`preferred tags ${matched}/${preferredTags.length} (+${round(preferred)})`);
  reasons.push(`specialization (+${round(specialization)})`);
  return { score: round(capacity + preferred + specialization), reasons };
}

/** Reason kinds, without the per-agent figures, for summaries ("at capacity 3/3" → "at capacity"). */
const reasonKind = (r: string) => r.replace(/ \d+\/\d+$/, "").replace(/^other domain .*/, "other domain");

/** Chooses an agent for the task, or none, and ranks every candidate. */
export function place(task: TaskSpec, candidates: Candidate[]): Placement {
  const feasible: (CandidateResult & { hash: number })[] = [];
  const infeasible: CandidateResult[] = [];
  for (const c of candidates) {
    const reasons = filterReasons(task, c);
    if (reasons.length) {
      infeasible.push({ agent: c.name, feasible: false, score: 0, reasons });
    } else {
      const s = score(task, c);
      feasible.push({
        agent: c.name,
        feasible: true,
        score: s.score,
        reasons: s.reasons,
        hash: tieBreak(task.name, c.name),
      });
    }
  }
  feasible.sort((a, b) => b.score - a.score || b.hash - a.hash || (a.agent < b.agent ? -1 : 1));
  infeasible.sort((a, b) => (a.agent < b.agent ? -1 : 1));

  const counts = new Map<string, number>();
  for (const r of infeasible)
    for (const kind of new Set(r.reasons.map(reasonKind))) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  const topReasons = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, 5)
    .map(([kind, n]) => `${n} ${kind}`);

  return {
    chosenAgent: feasible[0]?.agent ?? "",
    candidates: [...feasible.map(({ hash: _, ...r }) => r), ...infeasible],
    topReasons: feasible.length ? [] : topReasons,
  };
}

/** "0/3 agents fit: 2 missing capability gpu, 1 at capacity" */
export function describeNoFit(p: Placement): string {
  const total = p.candidates.length;
  if (total === 0) return "no agents in this domain";
  return `0/${total} agents fit: ${p.topReasons.join(", ")}`;
}
