/**
 * The controller's placer: PlaceBatch through the scheduler, sending the
 * candidate list only when it changed (ADR 0014). The first call, and any
 * after an agent joined, left or changed what placement reads of it, sends
 * every candidate under a new name; the calls after send the name and each
 * candidate's load, a few bytes an agent instead of its name, capabilities
 * and tags. A scheduler that does not keep the list (FAILED_PRECONDITION) is
 * sent it again.
 */
import { randomBytes } from "node:crypto";
import type { Candidate, Placement, TaskSpec } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import type { SchedulerClient } from "./client.ts";

type Client = Pick<SchedulerClient, "placeBatch" | "placeBatchOnKeptSet">;

/** gRPC's FAILED_PRECONDITION, by number: grpc-js is loaded only with the client's first call. */
const failedPrecondition = 9;

export class KeptCandidatesPlacer {
  private kept: { name: string; candidates: Candidate[] } | undefined;
  /** Names are this process's prefix and a counter: never the same name for another list. */
  private readonly prefix = randomBytes(6).toString("hex");
  private sent = 0;
  /** Calls that sent every candidate, and calls that sent only loads: for tests and benches. */
  readonly stats = { full: 0, loadsOnly: 0, resent: 0 };

  constructor(private readonly client: Client) {}

  async placeBatch(tasks: TaskSpec[], candidates: Candidate[], candidateLimit = 0): Promise<Placement[]> {
    // No agents: nothing to keep (a name without candidates asks for a kept list).
    if (candidates.length === 0) return this.client.placeBatch(tasks, candidates, candidateLimit);
    const kept = this.kept;
    const same = kept !== undefined && sameCandidates(kept.candidates, candidates);
    if (same) {
      try {
        const loads = candidates.map((c) => c.currentTasks);
        const placements = await this.client.placeBatchOnKeptSet(tasks, kept.name, loads, candidateLimit);
        this.stats.loadsOnly++;
        return placements;
      } catch (err) {
        if ((err as { code?: number }).code !== failedPrecondition) throw err;
        this.stats.resent++;
      }
    }
    const name = same ? kept.name : `${this.prefix}-${++this.sent}`;
    const placements = await this.client.placeBatch(tasks, candidates, candidateLimit, name);
    this.kept = { name, candidates };
    this.stats.full++;
    return placements;
  }
}

/** Whether two lists hold the same agents with the same fields placement reads, loads aside. */
export function sameCandidates(a: Candidate[], b: Candidate[]): boolean {
  // A controller passes the list it kept, its loads set anew, until an agent changes: no walk.
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Candidate;
    const y = b[i] as Candidate;
    if (
      x.name !== y.name ||
      x.domain !== y.domain ||
      x.phase !== y.phase ||
      x.maxConcurrentTasks !== y.maxConcurrentTasks ||
      !sameStrings(x.capabilities, y.capabilities) ||
      !sameStrings(x.tags, y.tags)
    )
      return false;
  }
  return true;
}

function sameStrings(a: string[], b: string[]): boolean {
  // The controller builds candidates from its cached Agents: an unchanged Agent gives the same arrays.
  if (a === b) return true;
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
