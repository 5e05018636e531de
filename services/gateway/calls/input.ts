/**
 * A tool's questions to its client (ctx.requestInput: elicitation, sampling,
 * roots), as both eras handle them: which client capability each request
 * needs, whether an answer has the shape its request calls for, and writing
 * answers onto the Task, where the agent takes them. The questions and the
 * answers live on the Task only (status.inputRequests, inputResponses), so
 * any replica can carry a call's next round and a restart loses nothing.
 */
import { isDeepStrictEqual } from "node:util";
import type { Task } from "../../../lib/api/resources.ts";
import { answerByOf, inputAnswerTimeMs, inputTimeoutReason } from "../../../lib/api/task-state.ts";
import { isConflict } from "../../../lib/kube/errors.ts";
import type { Logger } from "../../../lib/log.ts";
import { CallError, errorCodes, toCallError } from "./errors.ts";
import { pendingInput, taskStatusOf } from "./outcome.ts";
import type { CallStore } from "./store.ts";

/** A Task failed because its tool asked what the client did not declare it could answer. */
export const inputNotSupportedReason = "InputNotSupported";
/** A Task failed because the client could not answer its tool's question. */
export const inputFailedReason = "InputRequestFailed";

/**
 * How long a client has to answer a tool's question by default (the agent
 * writes each question's own answer-by time on the Task; a Task failed with
 * InputTimeout when it passed unanswered).
 */
export { inputAnswerTimeMs, inputTimeoutReason };

export type InputCapability = "elicitation" | "sampling" | "roots";

/** The client capability each request a tool may make needs. */
export const capabilityOf: Record<string, InputCapability> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

/** One pending question: its key on the Task, its request, and when it must be answered by (ms since the epoch). */
export interface Question {
  key: string;
  method: string;
  params: Record<string, unknown>;
  answerBy?: number;
}

export function questionsOf(pending: Record<string, unknown>): Question[] {
  return Object.entries(pending).map(([key, raw]) => {
    const r = (raw ?? {}) as { method?: unknown; params?: unknown };
    const answerBy = answerByOf(raw);
    return {
      key,
      method: typeof r.method === "string" ? r.method : "",
      params: r.params && typeof r.params === "object" ? (r.params as Record<string, unknown>) : {},
      ...(answerBy !== undefined ? { answerBy } : {}),
    };
  });
}

/**
 * A question as the client sees it: the request the tool made (method and
 * params), without what the Task keeps beside it for the conductor (its
 * answer-by time).
 */
export function clientRequest(raw: unknown): unknown {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const { answerBy: _answerBy, ...request } = raw as Record<string, unknown>;
  return request;
}

/** The questions of a Task as the client sees them, by key. */
export function clientRequests(pending: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(pending).map(([k, raw]) => [k, clientRequest(raw)]));
}

/** The earliest answer-by time among these questions (ms since the epoch), if they have one. */
export function earliestAnswerBy(qs: Question[]): number | undefined {
  const times = qs.map((q) => q.answerBy).filter((t): t is number => t !== undefined);
  return times.length > 0 ? Math.min(...times) : undefined;
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

/** The attempt of a Task: its questions and answers belong to it. */
export const attemptOf = (t: Task): number => t.status?.attempts ?? 0;

/**
 * Answers for an attempt of the Task that is over: it was retried since its
 * questions were asked, and the new attempt asks its own (under other keys).
 * Nothing was written.
 */
export class AttemptMovedOn extends CallError {
  constructor(
    readonly task: Task,
    readonly answeredAttempt: number,
  ) {
    super(
      errorCodes.invalidParams,
      `task ${task.metadata.name} was retried since its questions were asked (attempt ${answeredAttempt}, now ${attemptOf(task)}): the answers were not taken; answer the questions it asks now`,
    );
  }
}

/**
 * A Task that is not asking anything (not running, or not asking now) and
 * had no question under the keys answered. Nothing was written.
 */
export class NotAsking extends CallError {
  constructor(task: Task) {
    super(
      errorCodes.invalidParams,
      `task ${task.metadata.name} is ${taskStatusOf(task)}, not input_required: it takes no answers`,
    );
  }
}

/**
 * Writes the client's answers to a running Task's pending questions (anything
 * never asked is ignored) and takes the answered ones off the questions. An
 * answer that does not fit its request is -32602, and nothing is written. An
 * answer to a question that was answered already (two replicas, or a client
 * sending two answers) is -32602 "already answered": one the Task still
 * holds another answer to, or one the client was asked (`asked`, or seen
 * asked here) that the Task no longer asks nor holds an answer to (the tool
 * took it); the same answer the Task holds is taken as given. With
 * `attempt` (the one whose questions the client answers), a Task retried
 * since is AttemptMovedOn, and nothing is written. The agent writes the same
 * status: a conflict reads the Task again and redoes it. Returns the keys
 * answered and the Task as written.
 */
export async function writeAnswers(
  store: CallStore,
  t: Task,
  responses: Record<string, unknown>,
  log: Logger,
  opts: { attempt?: number; asked?: string[] } = {},
): Promise<{ answered: string[]; task: Task }> {
  // keys the client was asked in this attempt: gone from the Task, another answer took them
  const asked = new Set<string>(opts.attempt !== undefined ? (opts.asked ?? []) : []);
  for (let tries = 0; ; tries++) {
    if (opts.attempt !== undefined && attemptOf(t) !== opts.attempt) throw new AttemptMovedOn(t, opts.attempt);
    const pending = pendingInput(t) ?? {};
    // what the Task still asks, running or not (a failed Task keeps the questions nobody answered)
    const open = (t.status?.inputRequests ?? {}) as Record<string, unknown>;
    const given = (t.status?.inputResponses ?? {}) as Record<string, unknown>;
    const answers: Record<string, unknown> = {};
    const already: string[] = [];
    for (const q of questionsOf(pending)) {
      if (!(q.key in responses)) continue;
      const bad = badAnswer(q.method, responses[q.key]);
      if (bad) throw new CallError(errorCodes.invalidParams, `inputResponses.${q.key} (${q.method}) ${bad}`);
      answers[q.key] = responses[q.key];
      asked.add(q.key);
    }
    for (const [key, answer] of Object.entries(responses)) {
      if (key in open || !(key in given || asked.has(key))) continue;
      if (key in given && isDeepStrictEqual(given[key], answer)) {
        already.push(key);
        continue;
      }
      throw new CallError(
        errorCodes.invalidParams,
        `inputResponses.${key} was already answered: an answer to it came first, and stands`,
      );
    }
    if (Object.keys(answers).length === 0) {
      if (already.length > 0) return { answered: already, task: t };
      if (Object.keys(pending).length === 0) throw new NotAsking(t);
      return { answered: [], task: t };
    }
    const left = Object.fromEntries(Object.entries(pending).filter(([k]) => !(k in answers)));
    try {
      return {
        answered: [...Object.keys(answers), ...already],
        task: await store.writeInput(t, left, answers),
      };
    } catch (err) {
      if (!isConflict(err) || tries >= 5)
        throw toCallError(err, log.child({ task: t.metadata.name }), "Could not deliver input to a task");
      const attempt = attemptOf(t);
      try {
        t = await store.get(t.metadata.name ?? "");
      } catch (e) {
        throw toCallError(e, log.child({ task: t.metadata.name }), "Could not read a task");
      }
      // keys asked in an attempt that is over say nothing of the new one's
      if (attemptOf(t) !== attempt) asked.clear();
    }
  }
}
