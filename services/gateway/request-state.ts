/**
 * The requestState of a 2026-07-28 call answered input_required (SEP-2322):
 * which Task the call is, for which tool and caller, sealed with the
 * domain's session key (sealed-sessions.ts, under a purpose of its own), so
 * the client's retry continues the same Task on any replica, and nobody can
 * make one up, alter one, or continue another caller's call with it. It
 * names the Task and the attempt whose questions it answers (a Task retried
 * since asks its own, under other keys), and expires when those questions
 * must be answered by (the agent's answer-by time, written on the Task),
 * after which the agent has failed the Task with InputTimeout. The questions
 * and answers themselves are on the Task.
 */
import { createHash } from "node:crypto";
import { CallError, errorCodes } from "./calls/errors.ts";
import { inputAnswerTimeMs } from "./calls/input.ts";
import { callerKey } from "./calls/marks.ts";
import type { Caller } from "./calls/tools.ts";
import { maxSessionIdLength, openClaims, type SessionKey, sealClaims, sessionKeyId } from "./sealed-sessions.ts";

const purpose = "request-state";
/** A prompt's: a purpose of its own, so one can never be taken for the other. */
const promptPurpose = "prompt-state";

/**
 * The requestState of a prompts/get answered input_required (prompt-input.ts):
 * the answers the client gave in earlier rounds, which the prompt is got
 * with again. There is no Task: the answers travel sealed with the client.
 */
export interface PromptStateClaims {
  v: 1;
  prompt: string;
  caller: string;
  answers: Record<string, unknown>;
  iat: number;
  exp: number;
}

function isPromptClaims(c: unknown): c is PromptStateClaims {
  if (!c || typeof c !== "object") return false;
  const x = c as Record<string, unknown>;
  return (
    x.v === 1 &&
    typeof x.prompt === "string" &&
    typeof x.caller === "string" &&
    !!x.answers &&
    typeof x.answers === "object" &&
    typeof x.iat === "number" &&
    typeof x.exp === "number"
  );
}

export interface RequestStateClaims {
  v: 2;
  /** The Task of the call. */
  task: string;
  /** The attempt of the Task (status.attempts) whose questions the client answers. */
  attempt: number;
  /** The keys of those questions. */
  keys: string[];
  tool: string;
  /** A digest of the caller (client, user, groups): only it may continue the call. */
  caller: string;
  /** Issued and expires, in seconds since the epoch. */
  iat: number;
  exp: number;
}

/** The keys a gateway seals with and opens with (SessionKeys). */
export interface StateKeys {
  readonly signing: SessionKey;
  get(kid: string): Promise<SessionKey | undefined>;
}

const callerDigest = (caller: Caller) =>
  createHash("sha256").update(callerKey(caller)).digest("base64url").slice(0, 22);

const invalidState = (message: string) => new CallError(errorCodes.invalidParams, message);

function isClaims(c: unknown): c is RequestStateClaims {
  if (!c || typeof c !== "object") return false;
  const x = c as Record<string, unknown>;
  return (
    x.v === 2 &&
    typeof x.task === "string" &&
    typeof x.attempt === "number" &&
    Array.isArray(x.keys) &&
    x.keys.every((k) => typeof k === "string") &&
    typeof x.tool === "string" &&
    typeof x.caller === "string" &&
    typeof x.iat === "number" &&
    typeof x.exp === "number"
  );
}

export class RequestStates {
  constructor(
    private readonly keys: StateKeys,
    private readonly domain: string,
    /** How long a client has to come back with its answers when its questions carry no answer-by time. */
    private readonly ttlMs = inputAnswerTimeMs,
  ) {}

  /**
   * The requestState of a call (its Task, in this attempt, asking these
   * keys) of this tool by this caller, good until `answerBy` (ms since the
   * epoch: when the questions must be answered by; the default time from now
   * without one).
   */
  seal(
    call: { task: string; attempt: number; keys: string[]; answerBy?: number },
    tool: string,
    caller: Caller,
    nowMs = Date.now(),
  ): string {
    const iat = Math.floor(nowMs / 1000);
    const claims: RequestStateClaims = {
      v: 2,
      task: call.task,
      attempt: call.attempt,
      keys: call.keys,
      tool,
      caller: callerDigest(caller),
      iat,
      exp: call.answerBy !== undefined ? Math.floor(call.answerBy / 1000) : iat + Math.ceil(this.ttlMs / 1000),
    };
    return sealClaims(this.keys.signing, purpose, this.domain, claims);
  }

  /**
   * The claims of a requestState this caller sent with a call of this tool;
   * -32602 saying what is wrong otherwise: not one this gateway issued (or
   * altered), expired, another caller's, or another tool's.
   */
  async open(state: unknown, tool: string, caller: Caller, nowMs = Date.now()): Promise<RequestStateClaims> {
    if (typeof state !== "string") throw invalidState("requestState must be the string a previous answer gave");
    const kid = sessionKeyId(state);
    const key = kid ? await this.keys.get(kid) : undefined;
    const claims = key ? openClaims(key, purpose, this.domain, state) : undefined;
    if (!isClaims(claims))
      throw invalidState("Invalid requestState: this gateway did not issue it, or it was altered; call the tool again");
    if (claims.exp * 1000 <= nowMs)
      throw invalidState(
        `Expired requestState: its questions were to be answered by ${new Date(claims.exp * 1000).toISOString()}; call the tool again`,
      );
    if (claims.caller !== callerDigest(caller)) throw invalidState("requestState was issued to another caller");
    if (claims.tool !== tool) throw invalidState(`requestState continues a call of tool ${claims.tool}, not ${tool}`);
    return claims;
  }

  /** The requestState of a prompt's next round: the answers given so far, this caller's, for this prompt. */
  sealPrompt(prompt: string, answers: Record<string, unknown>, caller: Caller, nowMs = Date.now()): string {
    const iat = Math.floor(nowMs / 1000);
    const claims: PromptStateClaims = {
      v: 1,
      prompt,
      caller: callerDigest(caller),
      answers,
      iat,
      exp: iat + Math.ceil(this.ttlMs / 1000),
    };
    const state = sealClaims(this.keys.signing, promptPurpose, this.domain, claims);
    if (state.length > maxSessionIdLength)
      throw invalidState(
        `The answers to prompt ${prompt}'s questions are too large to carry in a requestState (${state.length} characters sealed, at most ${maxSessionIdLength})`,
      );
    return state;
  }

  /** The answers a prompt's requestState carries; -32602 saying what is wrong otherwise. */
  async openPrompt(
    state: unknown,
    prompt: string,
    caller: Caller,
    nowMs = Date.now(),
  ): Promise<Record<string, unknown>> {
    if (typeof state !== "string") throw invalidState("requestState must be the string a previous answer gave");
    const kid = sessionKeyId(state);
    const key = kid ? await this.keys.get(kid) : undefined;
    const claims = key ? openClaims(key, promptPurpose, this.domain, state) : undefined;
    if (!isPromptClaims(claims))
      throw invalidState(
        "Invalid requestState: this gateway did not issue it, or it was altered; get the prompt again",
      );
    if (claims.exp * 1000 <= nowMs)
      throw invalidState(
        `Expired requestState: it was good until ${new Date(claims.exp * 1000).toISOString()}; get the prompt again`,
      );
    if (claims.caller !== callerDigest(caller)) throw invalidState("requestState was issued to another caller");
    if (claims.prompt !== prompt) throw invalidState(`requestState continues prompt ${claims.prompt}, not ${prompt}`);
    return claims.answers;
  }
}
