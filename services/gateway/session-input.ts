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
import { pendingInput } from "./calls/outcome.ts";

export const inputNotSupportedReason = "InputNotSupported";
export const inputFailedReason = "InputRequestFailed";

/** The client capability each request a tool may make needs. */
const capabilityOf: Record<string, keyof ClientCapabilities> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

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
  private failed = false;

  constructor(private readonly deps: SessionInputDeps) {}

  /** Every update of the call's Task: asks for what it newly requests. */
  onTask(t: Task): void {
    const pending = pendingInput(t);
    if (!pending || this.failed) return;
    for (const [key, raw] of Object.entries(pending)) {
      if (this.asked.has(key)) continue;
      this.asked.add(key);
      const req = (raw ?? {}) as { method?: string; params?: Record<string, unknown> };
      const method = req.method ?? "";
      const capability = capabilityOf[method];
      if (!capability) {
        this.stop(
          t,
          `the tool asked the client for ${method || "something"}, which is not a request MCP knows`,
          inputFailedReason,
        );
        return;
      }
      if (!this.deps.capabilities()?.[capability]) {
        this.stop(
          t,
          `the tool asked for ${method}, but this client did not declare the ${capability} capability`,
          inputNotSupportedReason,
        );
        return;
      }
      this.deps.log.info({ task: t.metadata.name, method }, "Asking the client for a tool's input");
      void this.deps
        .ask(method, req.params ?? {})
        .then((result) => this.deps.answer(t, { [key]: result }))
        .catch((err: Error) => this.stop(t, `the client did not answer ${method}: ${err.message}`, inputFailedReason));
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
