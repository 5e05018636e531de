/**
 * Questions a federated prompt asks while it is got: an MCPServer's prompt
 * handler may send elicitation/create or sampling/createMessage to the
 * gateway (its client) before it answers prompts/get. The gateway's one
 * shared client per server cannot know from the request alone whose
 * prompts/get it belongs to, so each prompts/get runs inside a round
 * (AsyncLocalStorage: the server's request arrives on the stream of that
 * prompts/get, read in its async context) that says how to answer:
 *
 * - a 2025 session relays the request to its own client over the
 *   prompts/get's stream (the client's capabilities decide, as for a tool's
 *   questions in session-input.ts);
 * - a 2026-07-28 request is stateless: the server's questions are numbered
 *   in the order asked (`elicitation-1`, `sampling-1`, ...), one the client
 *   answered (inputResponses, or the sealed requestState of an earlier
 *   round) is answered from it, and the first it has not ends the round:
 *   the prompts/get upstream is cancelled and the client gets
 *   input_required with that question (SEP-2322). Its retry, on any replica,
 *   gets the prompt again with one more answer. The server must ask the
 *   same questions in the same order each time, as a prompt that depends
 *   only on its arguments and answers does.
 *
 * A request from a server outside any prompts/get (a federated tool's, or
 * one unsolicited) is declined (elicitation) or refused (sampling): no
 * client is there to ask.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { CallError, errorCodes } from "./calls/errors.ts";
import { badAnswer, unanswerable } from "./calls/input.ts";
import { ErrorCode, McpError } from "./mcp-error.ts";

/** Sends one request to the 2025 session's client and resolves with its result. */
export type Relay = (method: string, params: Record<string, unknown>) => Promise<unknown>;

/** A question put to the 2026 client, as inputRequests carries it. */
export interface PromptQuestion {
  method: string;
  params: Record<string, unknown>;
}

interface Round {
  relay?: Relay;
  /** The client's answers by key (2026). */
  answers: Record<string, unknown>;
  capabilities?: Record<string, unknown>;
  /** How many requests of each method the server sent in this round. */
  counts: Map<string, number>;
  /** The answers used, by key: what the next round's requestState carries. */
  used: Record<string, unknown>;
  asked: Record<string, PromptQuestion>;
  refused?: CallError;
  stop: AbortController;
}

const rounds = new AsyncLocalStorage<Round>();

const keyPrefix: Record<string, string> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
};

/** The key of the n-th request of a method in a round: the same each time the prompt is got. */
export const questionKey = (method: string, n: number): string => `${keyPrefix[method] ?? "request"}-${n}`;

export type PromptOutcome<T> =
  | { kind: "result"; result: T; used: Record<string, unknown> }
  | { kind: "asked"; asked: Record<string, PromptQuestion>; used: Record<string, unknown> };

/**
 * Gets a prompt (`get`, given the signal that cancels it upstream) in a
 * round that answers the server's questions by relaying them (2025) or
 * from the client's answers (2026), or ends with the question to ask.
 */
export async function gettingPrompt<T>(
  how: { relay: Relay } | { answers: Record<string, unknown>; capabilities?: Record<string, unknown> },
  get: (signal: AbortSignal) => Promise<T>,
): Promise<PromptOutcome<T>> {
  const round: Round = {
    ...("relay" in how ? { relay: how.relay, answers: {} } : how),
    counts: new Map(),
    used: {},
    asked: {},
    stop: new AbortController(),
  };
  try {
    const result = await rounds.run(round, () => get(round.stop.signal));
    return { kind: "result", result, used: round.used };
  } catch (err) {
    if (round.refused) throw round.refused;
    if (Object.keys(round.asked).length > 0) return { kind: "asked", asked: round.asked, used: round.used };
    throw err;
  }
}

/**
 * What the federation's client answers a server's elicitation/create or
 * sampling/createMessage with (its request handler), in the round of the
 * prompts/get it came during.
 */
export async function answerServerRequest(
  method: string,
  params: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const round = rounds.getStore();
  if (!round) {
    if (method === "elicitation/create") return { action: "decline" };
    throw new McpError(
      ErrorCode.InvalidRequest,
      `the gateway answers ${method} only while it gets one of this server's prompts for a client`,
    );
  }
  if (round.relay) return (await round.relay(method, params)) as Record<string, unknown>;
  const n = (round.counts.get(method) ?? 0) + 1;
  round.counts.set(method, n);
  const key = questionKey(method, n);
  const answer = round.answers[key];
  if (answer !== undefined && badAnswer(method, answer) === undefined) {
    round.used[key] = answer;
    return answer as Record<string, unknown>;
  }
  const why = unanswerable({ key, method, params }, round.capabilities);
  if (why)
    round.refused = new CallError(
      why.capability ? errorCodes.missingClientCapability : errorCodes.internal,
      why.message.replace("the tool", "the prompt"),
      why.capability ? { requiredCapabilities: { [why.capability]: {} } } : undefined,
    );
  else round.asked[key] = { method, params };
  // The prompt cannot go on without the answer: stop getting it; the client gets the question.
  round.stop.abort();
  throw new McpError(ErrorCode.InvalidRequest, `the client is asked ${key} first; the prompt is got again with it`);
}
