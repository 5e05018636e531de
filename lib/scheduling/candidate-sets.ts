/**
 * Candidate lists kept by name, so that a controller placing Tasks one or two
 * at a time need not send every agent with every call (ADR 0014). The
 * scheduler stays stateless in what matters: a kept list is a cache of what
 * a caller sent, the loads come with each call, and a list the scheduler does
 * not keep (another replica, a restart, evicted) is asked for again.
 */
import type { Candidate } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { InvalidArgumentError } from "./policy.ts";

/** A candidate set this scheduler does not keep: the caller sends its candidates again. */
export class UnknownCandidateSetError extends Error {
  override readonly name = "UnknownCandidateSetError";
  constructor(readonly candidateSet: string) {
    super(`candidate set ${candidateSet} is not kept here: send the candidates again`);
  }
}

/** The longest candidate set name taken. */
const maxNameLength = 128;

/** The candidate lists kept, the least recently used dropped first. */
export class CandidateSets {
  private readonly sets = new Map<string, Candidate[]>();

  /** `max` lists at most: one per controller that places through this scheduler, and a few to spare. */
  constructor(private readonly max = 8) {}

  get size(): number {
    return this.sets.size;
  }

  /** Keeps `candidates` (already validated) under `name`, in place of a list kept under it before. */
  keep(name: string, candidates: Candidate[]): void {
    checkName(name);
    this.sets.delete(name);
    this.sets.set(name, candidates);
    for (const oldest of this.sets.keys()) {
      if (this.sets.size <= this.max) break;
      this.sets.delete(oldest);
    }
  }

  /** The list kept under `name`, each candidate with its current tasks from `currentTasks` (in the list's order). */
  withLoads(name: string, currentTasks: number[]): Candidate[] {
    checkName(name);
    const kept = this.sets.get(name);
    if (!kept) throw new UnknownCandidateSetError(name);
    this.sets.delete(name); // the most recently used goes last
    this.sets.set(name, kept);
    if (currentTasks.length !== kept.length) {
      throw new InvalidArgumentError(
        "current_tasks",
        `has ${currentTasks.length} entries; candidate set ${name} has ${kept.length} candidates`,
      );
    }
    return kept.map((c, i) => {
      const n = currentTasks[i] as number;
      if (n < 0) throw new InvalidArgumentError(`current_tasks[${i}]`, "must not be negative");
      return n === c.currentTasks ? c : { ...c, currentTasks: n };
    });
  }
}

function checkName(name: string): void {
  if (name.length > maxNameLength)
    throw new InvalidArgumentError("candidate_set", `must be at most ${maxNameLength} characters`);
}
