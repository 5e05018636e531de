/**
 * The harness's watch on every Task of the soak's domain: when each was first
 * seen in each phase, every distinct final record it had (two would mean a
 * completion recorded twice), and whether it was deleted. The load follows
 * its calls' Tasks here; the verdict judges these tracks.
 */
import type { McpClients, Task } from "../../lib/api/resources.ts";
import { isFinished } from "../../lib/api/task-state.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { silentLogger } from "../../lib/log.ts";
import type { Outcome } from "./plan.ts";

export interface TaskTrack {
  uid: string;
  name: string;
  callId: string;
  seenAt: Partial<Record<string, number>>;
  /** Distinct final records seen (Completed:exec:completionTime or Failed:reason). */
  finals: Set<string>;
  finishedAt?: number;
  deleted: boolean;
  deletedAt?: number;
  last?: Task;
}

/** A finished Task's final record: the execution and time of a completion, or the reason of a failure. */
export function finalRecord(t: Task): string {
  const r = t.status?.result as { exec?: string } | undefined;
  return t.status?.phase === "Completed"
    ? `Completed:${r?.exec ?? "?"}:${t.status?.completionTime ?? ""}`
    : `Failed:${t.status?.error?.reason ?? ""}`;
}

/** What a call ended as, told by its Task; "unexpected" when there is none or it has not finished. */
export function outcomeOfTask(tr: TaskTrack | undefined): Outcome | "unexpected" {
  if (!tr) return "unexpected";
  if (tr.deleted && tr.finishedAt === undefined) return "cancelled";
  const t = tr.last;
  if (t?.status?.phase === "Completed") return "completed";
  if (t?.status?.error?.reason === "Cancelled") return "cancelled";
  if (t && isFinished(t)) return "error";
  return "unexpected";
}

const isDone = (t: TaskTrack) => t.finishedAt !== undefined || t.deleted;

export class TaskWatch {
  /** By Task UID. */
  readonly tracks = new Map<string, TaskTrack>();
  /** By the callId in the Task's payload: a call sent again may have made more than one. */
  readonly byCall = new Map<string, TaskTrack[]>();
  private readonly waiters = new Map<string, () => void>();
  private readonly informer: Informer<Task>;

  constructor(mcp: McpClients, namespace: string) {
    this.informer = new Informer<Task>(mcp.tasks, { namespace, logger: silentLogger }).on({
      add: (t) => this.note(t),
      update: (t) => this.note(t),
      delete: (t) => this.noteDeleted(t),
    });
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  /** Records what a Task looks like now: from the watch, or from a list at the end. */
  note(t: Task): void {
    const uid = t.metadata.uid ?? "";
    let tr = this.tracks.get(uid);
    if (!tr) {
      const callId = String((t.spec.payload as { callId?: unknown } | undefined)?.callId ?? "");
      tr = {
        uid,
        name: t.metadata.name ?? "",
        callId,
        seenAt: { Created: Date.now() },
        finals: new Set(),
        deleted: false,
      };
      this.tracks.set(uid, tr);
      this.byCall.set(callId, [...(this.byCall.get(callId) ?? []), tr]);
    }
    tr.last = t;
    tr.seenAt[t.status?.phase ?? "New"] ??= Date.now();
    if (isFinished(t)) {
      tr.finals.add(finalRecord(t));
      tr.finishedAt ??= Date.now();
      this.waiters.get(tr.callId)?.();
    }
  }

  private noteDeleted(t: Task): void {
    const tr = this.tracks.get(t.metadata.uid ?? "");
    if (!tr) return;
    tr.deleted = true;
    tr.deletedAt = Date.now();
    this.waiters.get(tr.callId)?.();
  }

  /** The call's Task that finished or was deleted, if one has. */
  done(callId: string): TaskTrack | undefined {
    return this.byCall.get(callId)?.find(isDone);
  }

  /** Tasks neither finished nor deleted. */
  open(): TaskTrack[] {
    return [...this.tracks.values()].filter((t) => !isDone(t));
  }

  /** Waits until a Task for this call finished or was deleted, or time runs out (then its first Task, if any). */
  async follow(callId: string, timeoutMs: number): Promise<TaskTrack | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const done = this.done(callId);
      if (done) return done;
      if (Date.now() > deadline) return this.byCall.get(callId)?.[0];
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.waiters.set(callId, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.waiters.delete(callId);
    }
  }
}
