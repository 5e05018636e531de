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

const fnvOffset = 0x811c9dc5;

/** FNV-1a over `s`, from state `h`: a string's hash can go on from its prefix's. */
function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** murmur3's final mix: spreads names that differ only in a last character. */
function finalMix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The tie-break hash is FNV-1a of "task\0agent" with murmur3's final mix, 32
 * bits: cheap and stable across processes and platforms. A placement hashes
 * the task's part once and goes on from it for each agent.
 */
const taskHashPrefix = (task: string): number => fnv1a(fnvOffset, `${task}\u0000`);
const tieBreakFrom = (taskPrefix: number, agent: string): number => finalMix(fnv1a(taskPrefix, agent));

export const tieBreak = (task: string, agent: string): number => tieBreakFrom(taskHashPrefix(task), agent);

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The texts of one kind of explanation, kept once made. A what-if over 1,000
 * agents lists a few thousand reasons drawn from few distinct texts (loads,
 * capability names, score parts): kept, they are not garbage for the
 * collector to find, whose pauses were the in-process p99. Looked up by what
 * a text is made of (two counts, or a name the request already holds), so a
 * lookup makes nothing; cleared when full, so texts not asked for again do
 * not pile up.
 */
const keptTexts = 1024;

class KeptTexts<K> {
  private readonly kept = new Map<K, string>();
  constructor(private readonly make: (key: K) => string) {}
  get(key: K): string {
    let text = this.kept.get(key);
    if (text === undefined) {
      if (this.kept.size >= keptTexts) this.kept.clear();
      text = this.make(key);
      this.kept.set(key, text);
    }
    return text;
  }
}

/** Texts made of two counts, kept under one number; counts too large to pack are made each time. */
class PairTexts {
  private readonly packed: KeptTexts<number>;
  constructor(private readonly make: (a: number, b: number) => string) {
    this.packed = new KeptTexts((key) => make(Math.floor(key / 2 ** 20), key % 2 ** 20));
  }
  get(a: number, b: number): string {
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= 0 && a < 2 ** 20 && b < 2 ** 20))
      return this.make(a, b);
    return this.packed.get(a * 2 ** 20 + b);
  }
}

const capacityScore = (current: number, max: number) => (weights.capacity * (max - current)) / max;
const preferredScore = (matched: number, preferred: number) =>
  preferred ? (weights.preferred * matched) / preferred : 0;
const specializationScore = (required: number, capabilities: number) =>
  (weights.specialization * required) / Math.max(capabilities, 1);

const texts = {
  load: new PairTexts((cur, max) => `load ${cur}/${max} (+${round(capacityScore(cur, max))})`),
  preferred: new PairTexts((n, of) => `preferred tags ${n}/${of} (+${round(preferredScore(n, of))})`),
  specialization: new PairTexts((req, caps) => `specialization (+${round(specializationScore(req, caps))})`),
  atCapacity: new PairTexts((cur, max) => `at capacity ${cur}/${max}`),
  otherDomain: new KeptTexts<string>((domain) => `other domain ${domain || "(none)"}`),
  missingCapability: new KeptTexts<string>((cap) => `missing capability ${cap}`),
  missingTag: new KeptTexts<string>((tag) => `missing required tag ${tag}`),
  avoidedTag: new KeptTexts<string>((tag) => `avoided tag ${tag}`),
};

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

/** Whether an agent can take the task: the filters, without building explanations. */
export function fits(task: TaskSpec, c: Candidate): boolean {
  if (c.domain !== task.domain || c.phase !== "Ready" || c.currentTasks >= c.maxConcurrentTasks) return false;
  for (const cap of task.requiredCapabilities) if (!c.capabilities.includes(cap)) return false;
  for (const t of task.affinity?.required ?? []) if (!c.tags.includes(t)) return false;
  for (const t of task.affinity?.avoided ?? []) if (c.tags.includes(t)) return false;
  return true;
}

/** Why an agent cannot take the task; an empty list means it can. */
export function filterReasons(task: TaskSpec, c: Candidate): string[] {
  const reasons: string[] = [];
  if (c.domain !== task.domain) reasons.push(texts.otherDomain.get(c.domain));
  if (c.phase !== "Ready") reasons.push(c.phase ? c.phase : "no heartbeat yet");
  for (const cap of task.requiredCapabilities)
    if (!c.capabilities.includes(cap)) reasons.push(texts.missingCapability.get(cap));
  for (const t of task.affinity?.required ?? []) if (!c.tags.includes(t)) reasons.push(texts.missingTag.get(t));
  for (const t of task.affinity?.avoided ?? []) if (c.tags.includes(t)) reasons.push(texts.avoidedTag.get(t));
  if (c.currentTasks >= c.maxConcurrentTasks) reasons.push(texts.atCapacity.get(c.currentTasks, c.maxConcurrentTasks));
  return reasons;
}

interface ScoreParts {
  capacity: number;
  preferred: number;
  matched: number;
  specialization: number;
}

/** How many of the task's preferred tags the agent has. */
function matchedPreferred(preferredTags: string[], c: Candidate): number {
  let matched = 0;
  for (const t of preferredTags) if (c.tags.includes(t)) matched++;
  return matched;
}

function scoreParts(task: TaskSpec, c: Candidate): ScoreParts {
  const capacity = capacityScore(c.currentTasks, c.maxConcurrentTasks);
  const preferredTags = task.affinity?.preferred ?? [];
  const matched = matchedPreferred(preferredTags, c);
  const preferred = preferredScore(matched, preferredTags.length);
  const specialization = specializationScore(task.requiredCapabilities.length, c.capabilities.length);
  return { capacity, preferred, matched, specialization };
}

/** scoreParts' sum, made without them: what ranks an agent that may not be listed. */
function scoreOf(task: TaskSpec, c: Candidate): number {
  const preferredTags = task.affinity?.preferred ?? [];
  return round(
    capacityScore(c.currentTasks, c.maxConcurrentTasks) +
      preferredScore(matchedPreferred(preferredTags, c), preferredTags.length) +
      specializationScore(task.requiredCapabilities.length, c.capabilities.length),
  );
}

/** The score of an agent that passed the filters, and how it was made. */
export function score(task: TaskSpec, c: Candidate): { score: number; reasons: string[] } {
  return scoreFromParts(task, c, scoreParts(task, c));
}

function scoreFromParts(task: TaskSpec, c: Candidate, p: ScoreParts): { score: number; reasons: string[] } {
  const preferredTags = task.affinity?.preferred ?? [];
  const reasons = [texts.load.get(c.currentTasks, c.maxConcurrentTasks)];
  if (preferredTags.length) reasons.push(texts.preferred.get(p.matched, preferredTags.length));
  reasons.push(texts.specialization.get(task.requiredCapabilities.length, c.capabilities.length));
  return { score: round(p.capacity + p.preferred + p.specialization), reasons };
}

/** Reason kinds, without the per-agent figures, for summaries ("at capacity 3/3" → "at capacity"). */
const reasonKind = (r: string) => r.replace(/ \d+\/\d+$/, "").replace(/^other domain .*/, "other domain");

const byAgentName = (a: { agent: string }, b: { agent: string }) =>
  a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0;

interface Ranked {
  c: Candidate;
  parts: ScoreParts;
  score: number;
  hash: number;
}

/** Best first: highest score, then highest tie-break hash, then first name (an exact tie). */
const byRank = (a: Ranked, b: Ranked) => b.score - a.score || b.hash - a.hash || (a.c.name < b.c.name ? -1 : 1);

/** Puts `r` in its place in `best` (kept in rank order), which keeps at most `k`. */
function insertRanked(best: Ranked[], r: Ranked, k: number): void {
  let i = best.length;
  while (i > 0 && byRank(r, best[i - 1] as Ranked) < 0) i--;
  best.splice(i, 0, r);
  if (best.length > k) best.pop();
}

/**
 * Chooses an agent for the task, or none, and ranks the candidates: all of
 * them, or the best `limit` (explanations are built only for those listed).
 */
export function place(task: TaskSpec, candidates: Candidate[], limit = 0): Placement {
  const infeasible: Candidate[] = [];
  const taskPrefix = taskHashPrefix(task.name);
  const max = limit > 0 ? limit : candidates.length;
  let feasibleCount = 0;
  let best: Ranked[];
  if (limit > 0 && limit * 8 < candidates.length) {
    // A few of many (the controller lists 3, a gateway binding 1, of 1,000):
    // each agent is ranked as it comes and kept only if it is among the best
    // so far, so the rest leave nothing behind for the collector.
    best = [];
    for (const c of candidates) {
      if (!fits(task, c)) {
        infeasible.push(c);
        continue;
      }
      feasibleCount++;
      const score = scoreOf(task, c);
      const hash = tieBreakFrom(taskPrefix, c.name);
      const worst = best[limit - 1];
      // Ranked after the worst kept (byRank's order, without making a Ranked to ask it).
      if (
        worst &&
        (worst.score > score ||
          (worst.score === score && (worst.hash > hash || (worst.hash === hash && c.name > worst.c.name))))
      )
        continue;
      insertRanked(best, { c, parts: scoreParts(task, c), score, hash }, limit);
    }
  } else {
    const feasible: Ranked[] = [];
    for (const c of candidates) {
      if (fits(task, c)) {
        const parts = scoreParts(task, c);
        feasible.push({
          c,
          parts,
          score: round(parts.capacity + parts.preferred + parts.specialization),
          hash: tieBreakFrom(taskPrefix, c.name),
        });
      } else {
        infeasible.push(c);
      }
    }
    feasibleCount = feasible.length;
    best = feasible.sort(byRank).slice(0, max);
  }

  const listed: CandidateResult[] = best.map((f) => ({
    agent: f.c.name,
    feasible: true,
    score: f.score,
    reasons: scoreFromParts(task, f.c, f.parts).reasons,
  }));
  // Every infeasible agent's reasons are needed for the summary when none fits.
  const explainAll = feasibleCount === 0;
  const explained: CandidateResult[] = [];
  if (explainAll || listed.length < max) {
    for (const c of infeasible)
      explained.push({ agent: c.name, feasible: false, score: 0, reasons: filterReasons(task, c) });
    explained.sort(byAgentName);
  }
  listed.push(...explained.slice(0, max - listed.length));

  let topReasons: string[] = [];
  if (explainAll) {
    const counts = new Map<string, number>();
    for (const r of explained)
      for (const kind of new Set(r.reasons.map(reasonKind))) counts.set(kind, (counts.get(kind) ?? 0) + 1);
    topReasons = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 5)
      .map(([kind, n]) => `${n} ${kind}`);
  }
  return { chosenAgent: best[0]?.c.name ?? "", candidates: listed, topReasons, candidateCount: candidates.length };
}

/**
 * Places tasks in the order given; each decision adds one task to the chosen
 * agent's load before the next. The input candidates are not modified.
 */
export function placeBatch(tasks: TaskSpec[], candidates: Candidate[], candidateLimit = 0): Placement[] {
  // Copied only as far as decisions change it: a pass of one task (Tasks
  // arriving one at a time) copies nothing, and a decision replaces only the
  // chosen candidate.
  let working = candidates;
  let indexOf: Map<string, number> | undefined;
  return tasks.map((t, n) => {
    const p = place(t, working, candidateLimit);
    if (p.chosenAgent && n < tasks.length - 1) {
      if (working === candidates) working = [...candidates];
      indexOf ??= new Map(working.map((c, i) => [c.name, i]));
      const i = indexOf.get(p.chosenAgent) ?? -1;
      const chosen = working[i];
      if (chosen) working[i] = { ...chosen, currentTasks: chosen.currentTasks + 1 };
    }
    return p;
  });
}

/** "0/3 agents fit: 2 missing capability gpu, 1 at capacity" */
export function describeNoFit(p: Placement): string {
  const total = p.candidateCount;
  if (total === 0) return "no agents in this domain";
  return `0/${total} agents fit: ${p.topReasons.join(", ")}`;
}
