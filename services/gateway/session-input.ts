/**
 * A 2025 session's waited-for call whose tool asks the client for input
 * (ctx.requestInput): the gateway, the session's server, asks the client
 * itself over the call's own stream (elicitation/create,
 * sampling/createMessage, roots/list) and writes each answer onto the Task,
 * where the agent takes it. A client that did not declare the capability a
 * request needs, or that fails to answer, fails the call with a reason that
 * says so: never a call that hangs until the client gives up.
 */
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import type { Task } from "../../lib/api/resources.ts";
import type { Logger } from "../../lib/log.ts";
import { inputFailedReason, inputNotSupportedReason, questionsOf, unanswerable } from "./calls/input.ts";
import { pendingInput } from "./calls/outcome.ts";

export { inputFailedReason, inputNotSupportedReason };

export interface SessionInputDeps {
  /** The client's capabilities, as it declared them at initialize. */
  capabilities: () => ClientCapabilities | undefined;
  /** Sends one request to the client, related to the call; resolves with its result. */
  ask: (method: string, params: Record<string, unknown>) => Promise<unknown>;
  /** Writes answers onto the Task (the task view's answer). */
  answer: (t: Task, answers: Record<string, unknown>) => Promise<unknown>;
  /** Fails the Task for good. */
  fail: (t: Task, message: string, reason: string) => Promise<unknown>;
  log: Logger;
}

export class SessionInput {
  /** Input keys already asked for (each update of the Task shows them again until answered). */
  private readonly asked = new Set<string>();
  /** The attempt those keys belong to: a retried Task asks afresh, under the same names. */
  private attempt = -1;
  private failed = false;

  constructor(private readonly deps: SessionInputDeps) {}

  /** Every update of the call's Task: asks for what it newly requests. */
  onTask(t: Task): void {
    const attempt = t.status?.attempts ?? 0;
    if (attempt !== this.attempt) {
      this.attempt = attempt;
      this.asked.clear();
    }
    const pending = pendingInput(t);
    if (!pending || this.failed) return;
    for (const q of questionsOf(pending)) {
      if (this.asked.has(q.key)) continue;
      this.asked.add(q.key);
      const why = unanswerable(q, this.deps.capabilities() as Record<string, unknown> | undefined);
      if (why) {
        this.stop(t, why.message, why.reason);
        return;
      }
      this.deps.log.info({ task: t.metadata.name, method: q.method }, "Asking the client for a tool's input");
      void this.deps
        .ask(q.method, q.params)
        .then((result) => this.deps.answer(t, { [q.key]: result }))
        .catch((err: Error) =>
          this.stop(t, `the client did not answer ${q.method}: ${err.message}`, inputFailedReason),
        );
    }
  }

  private stop(t: Task, message: string, reason: string): void {
    if (this.failed) return;
    this.failed = true;
    this.deps.log.info({ task: t.metadata.name, reason }, "Failing a call whose input the client cannot give");
    void this.deps
      .fail(t, message, reason)
      .catch((err: Error) =>
        this.deps.log.warn({ err, task: t.metadata.name }, "Could not fail a call whose input the client cannot give"),
      );
  }
}
