/**
 * A 2025 session's waited-for call whose tool asks the client for input
 * (ctx.requestInput): the gateway, the session's server, asks the client
 * itself over the call's own stream (elicitation/create,
 * sampling/createMessage, roots/list) and writes each answer onto the Task,
 * where the agent takes it, in the attempt that asked (a Task retried
 * meanwhile takes nothing; its new attempt's questions are asked anew). A
 * client that did not declare the capability a request needs, or that fails
 * to answer, fails the call with a reason that says so: never a call that
 * hangs until the client gives up. The request to the client lasts until the
 * question's answer-by time; past it the agent fails the Task (InputTimeout).
 * One SessionInput serves every Task of a call: a plan run by
 * conductor__run_plan relays each of its steps' Tasks (plans.ts), and a step
 * failed for its client leaves the others' questions asked.
 */
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import type { Task } from "../../lib/api/resources.ts";
import type { Logger } from "../../lib/log.ts";
import {
  AttemptMovedOn,
  attemptOf,
  inputAnswerTimeMs,
  inputFailedReason,
  inputNotSupportedReason,
  questionsOf,
  unanswerable,
} from "./calls/input.ts";
import { pendingInput } from "./calls/outcome.ts";

export { inputFailedReason, inputNotSupportedReason };

export interface SessionInputDeps {
  /** The client's capabilities, as it declared them at initialize. */
  capabilities: () => ClientCapabilities | undefined;
  /** Sends one request to the client, related to the call, for at most timeoutMs; resolves with its result. */
  ask: (method: string, params: Record<string, unknown>, timeoutMs: number) => Promise<unknown>;
  /** Writes answers onto the Task in this attempt (the task view's answer). */
  answer: (t: Task, answers: Record<string, unknown>, attempt: number) => Promise<unknown>;
  /** Fails the Task for good. */
  fail: (t: Task, message: string, reason: string) => Promise<unknown>;
  log: Logger;
  /** The time now, ms since the epoch. */
  now?: () => number;
}

/** How long past a question's answer-by time the request to the client lasts: the agent's InputTimeout comes first. */
const askGraceMs = 5_000;

export class SessionInput {
  /**
   * By Task name: the input keys already asked for (each update of the Task
   * shows them again until answered), and the attempt they belong to (a
   * retried Task asks afresh, under the same names).
   */
  private readonly asked = new Map<string, { attempt: number; keys: Set<string> }>();
  /** The Tasks this failed. */
  private readonly failed = new Set<string>();

  constructor(private readonly deps: SessionInputDeps) {}

  /** Every update of the call's Task (or of each step's, for a plan): asks for what it newly requests. */
  onTask(t: Task): void {
    const attempt = t.status?.attempts ?? 0;
    const name = t.metadata.name ?? "";
    let asked = this.asked.get(name);
    if (asked?.attempt !== attempt) {
      asked = { attempt, keys: new Set() };
      this.asked.set(name, asked);
    }
    const pending = pendingInput(t);
    if (!pending || this.failed.has(name)) return;
    for (const q of questionsOf(pending)) {
      if (asked.keys.has(q.key)) continue;
      asked.keys.add(q.key);
      const why = unanswerable(q, this.deps.capabilities() as Record<string, unknown> | undefined);
      if (why) {
        this.stop(t, why.message, why.reason);
        return;
      }
      this.deps.log.info({ task: t.metadata.name, method: q.method }, "Asking the client for a tool's input");
      const now = this.deps.now ?? Date.now;
      const answerBy = q.answerBy ?? now() + inputAnswerTimeMs;
      void this.deps
        .ask(q.method, q.params, Math.max(1_000, answerBy - now() + askGraceMs))
        .then((result) => this.deps.answer(t, { [q.key]: result }, attemptOf(t)))
        .catch((err: Error) => {
          // a new attempt asks its own questions: this one is asked again, not failed
          if (err instanceof AttemptMovedOn) return;
          // past its answer-by time the agent fails the Task itself, saying so (InputTimeout)
          if (now() >= answerBy) return;
          this.stop(t, `the client did not answer ${q.method}: ${err.message}`, inputFailedReason);
        });
    }
  }

  private stop(t: Task, message: string, reason: string): void {
    if (this.failed.has(t.metadata.name ?? "")) return;
    this.failed.add(t.metadata.name ?? "");
    this.deps.log.info({ task: t.metadata.name, reason }, "Failing a call whose input the client cannot give");
    void this.deps
      .fail(t, message, reason)
      .catch((err: Error) =>
        this.deps.log.warn({ err, task: t.metadata.name }, "Could not fail a call whose input the client cannot give"),
      );
  }
}
