/**
 * A tool's questions to its client (ctx.requestInput: elicitation, sampling,
 * roots), as both eras handle them: which client capability each request
 * needs, whether an answer has the shape its request calls for, and writing
 * answers onto the Task, where the agent takes them. The questions and the
 * answers live on the Task only (status.inputRequests, inputResponses), so
 * any replica can carry a call's next round and a restart loses nothing.
 */
import type { Task } from "../../../lib/api/resources.ts";
import { isConflict } from "../../../lib/kube/errors.ts";
import type { Logger } from "../../../lib/log.ts";
import { CallError, errorCodes, toCallError } from "./errors.ts";
import { pendingInput, taskStatusOf } from "./outcome.ts";
import type { CallStore } from "./store.ts";

/** A Task failed because its tool asked what the client did not declare it could answer. */
export const inputNotSupportedReason = "InputNotSupported";
/** A Task failed because the client could not answer its tool's question. */
export const inputFailedReason = "InputRequestFailed";

/** How long a client has to answer a tool's question (an elicitation is a person filling in a form). */
export const inputAnswerTimeMs = 10 * 60_000;

export type InputCapability = "elicitation" | "sampling" | "roots";

/** The client capability each request a tool may make needs. */
export const capabilityOf: Record<string, InputCapability> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

/** One pending question: its key on the Task and its request. */
export interface Question {
  key: string;
  method: string;
  params: Record<string, unknown>;
}

export function questionsOf(pending: Record<string, unknown>): Question[] {
  return Object.entries(pending).map(([key, raw]) => {
    const r = (raw ?? {}) as { method?: unknown; params?: unknown };
    return {
      key,
      method: typeof r.method === "string" ? r.method : "",
      params: r.params && typeof r.params === "object" ? (r.params as Record<string, unknown>) : {},
    };
  });
}

/**
 * Why a question cannot be put to this client, if it cannot: a method MCP
 * does not know (the tool's mistake) or a capability the client did not
 * declare.
 */
export function unanswerable(
  q: Question,
  capabilities: Record<string, unknown> | undefined,
): { reason: string; message: string; capability?: InputCapability } | undefined {
  const capability = capabilityOf[q.method];
  if (!capability)
    return {
      reason: inputFailedReason,
      message: `the tool asked the client for ${q.method || "something"}, which is not a request MCP knows`,
    };
  if (!capabilities?.[capability])
    return {
      reason: inputNotSupportedReason,
      message: `the tool asked for ${q.method}, but this client did not declare the ${capability} capability`,
      capability,
    };
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/**
 * Why an answer does not fit its request, if it does not: an elicitation's
 * action, a sampling answer's role and content, a roots list's roots. Deeper
 * checks are the tool's, which knows what it asked.
 */
export function badAnswer(method: string, answer: unknown): string | undefined {
  if (!isObject(answer)) return "must be an object (the client's result of the request)";
  if (method === "elicitation/create") {
    if (!["accept", "decline", "cancel"].includes(answer.action as string))
      return 'must have an action of "accept", "decline" or "cancel"';
    if (answer.content !== undefined && !isObject(answer.content)) return "must have an object content";
  } else if (method === "sampling/createMessage") {
    if (answer.role !== "assistant" && answer.role !== "user") return 'must have a role of "assistant" or "user"';
    if (!isObject(answer.content) && !Array.isArray(answer.content)) return "must have a content block";
  } else if (method === "roots/list") {
    if (!Array.isArray(answer.roots) || !answer.roots.every((r) => isObject(r) && typeof r.uri === "string"))
      return "must have roots, each with a uri";
  }
  return undefined;
}

/** The client's answers as a request carries them: an object of objects, or a -32602 naming what is wrong. */
export function answersOf(raw: unknown): Record<string, unknown> {
  if (!isObject(raw))
    throw new CallError(errorCodes.invalidParams, "inputResponses must be an object keyed by the input requests");
  for (const [key, answer] of Object.entries(raw))
    if (!isObject(answer))
      throw new CallError(
        errorCodes.invalidParams,
        `inputResponses.${key} must be an object (the client's result of the request)`,
      );
  return raw;
}

/**
 * Writes the client's answers to a running Task's pending questions (anything
 * not asked is ignored) and takes the answered ones off the questions. An
 * answer that does not fit its request is -32602, and nothing is written.
 * The agent writes the same status: a conflict reads the Task again and
 * redoes it. Returns the keys answered and the Task as written.
 */
export async function writeAnswers(
  store: CallStore,
  t: Task,
  responses: Record<string, unknown>,
  log: Logger,
): Promise<{ answered: string[]; task: Task }> {
  for (let attempt = 0; ; attempt++) {
    const pending = pendingInput(t);
    if (!pending)
      throw new CallError(
        errorCodes.invalidParams,
        `task ${t.metadata.name} is ${taskStatusOf(t)}, not input_required: it takes no answers`,
      );
    const answers: Record<string, unknown> = {};
    for (const q of questionsOf(pending)) {
      if (!(q.key in responses)) continue;
      const bad = badAnswer(q.method, responses[q.key]);
      if (bad) throw new CallError(errorCodes.invalidParams, `inputResponses.${q.key} (${q.method}) ${bad}`);
      answers[q.key] = responses[q.key];
    }
    if (Object.keys(answers).length === 0) return { answered: [], task: t };
    const left = Object.fromEntries(Object.entries(pending).filter(([k]) => !(k in answers)));
    try {
      return { answered: Object.keys(answers), task: await store.writeInput(t, left, answers) };
    } catch (err) {
      if (!isConflict(err) || attempt >= 5)
        throw toCallError(err, log.child({ task: t.metadata.name }), "Could not deliver input to a task");
      try {
        t = await store.get(t.metadata.name ?? "");
      } catch (e) {
        throw toCallError(e, log.child({ task: t.metadata.name }), "Could not read a task");
      }
    }
  }
}
