import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { CallError } from "./calls/errors.ts";
import { RequestStates } from "./request-state.ts";
import { claimsFor, type SessionKey, sealSessionId, sessionKey, unsealSessionId } from "./sealed-sessions.ts";

const keyOf = (k: SessionKey) => ({ signing: k, get: async (kid: string) => (kid === k.kid ? k : undefined) });
const key = sessionKey(randomBytes(32));
const alice = { client: "alice", subject: { user: "alice", groups: ["team-a"] } };
const now = 1_000_000_000_000;
const states = new RequestStates(keyOf(key), "domain-a", 600_000);
const call1 = { task: "call-1", attempt: 1, keys: ["confirm"] };

/** The -32602 message a requestState is refused with. */
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => "accepted",
    (e: CallError) => {
      expect(e).toBeInstanceOf(CallError);
      expect(e.code).toBe(-32602);
      return e.message;
    },
  );

describe("requestState", () => {
  test("opens for its caller and tool, naming the call's Task; each one is new", async () => {
    const s = states.seal(call1, "confirm_delete", alice, now);
    expect(await states.open(s, "confirm_delete", alice, now + 1000)).toMatchObject({
      v: 2,
      task: "call-1",
      attempt: 1,
      keys: ["confirm"],
      tool: "confirm_delete",
      exp: now / 1000 + 600,
    });
    expect(states.seal(call1, "confirm_delete", alice, now)).not.toBe(s);
    expect(s).toMatch(/^[\x21-\x7e]+$/);
  });

  test.each([
    {
      name: "a changed character",
      state: (s: string) => `${s.slice(0, -3)}${s.at(-3) === "A" ? "B" : "A"}${s.slice(-2)}`,
      want: "Invalid requestState",
    },
    { name: "an appended suffix", state: (s: string) => `${s}-TAMPERED`, want: "Invalid requestState" },
    { name: "made up", state: () => "opaque-server-state", want: "Invalid requestState" },
    { name: "not a string", state: () => 42 as unknown as string, want: "requestState must be the string" },
  ])("$name is refused", async ({ state, want }) => {
    const s = states.seal(call1, "t", alice, now);
    expect(await refusal(states.open(state(s), "t", alice, now))).toContain(want);
  });

  test("another caller, another tool, another domain or key, or too late: refused, saying which", async () => {
    const s = states.seal(call1, "t", alice, now);
    expect(await refusal(states.open(s, "t", { client: "bob" }, now))).toBe(
      "requestState was issued to another caller",
    );
    // the same client in other groups is another caller to RBAC, and here
    expect(await refusal(states.open(s, "t", { ...alice, subject: { user: "alice", groups: [] } }, now))).toBe(
      "requestState was issued to another caller",
    );
    expect(await refusal(states.open(s, "u", alice, now))).toBe("requestState continues a call of tool t, not u");
    expect(await refusal(new RequestStates(keyOf(key), "domain-b").open(s, "t", alice, now))).toContain(
      "Invalid requestState",
    );
    const other = sessionKey(randomBytes(32));
    expect(await refusal(new RequestStates(keyOf(other), "domain-a").open(s, "t", alice, now))).toContain(
      "Invalid requestState",
    );
    expect(await refusal(states.open(s, "t", alice, now + 600_000))).toContain("Expired requestState");
  });

  test("it names the attempt and the keys of the questions it answers, and expires when they must be answered by", async () => {
    const answerBy = now + 90_000;
    const s = states.seal({ task: "call-1", attempt: 3, keys: ["a@3", "b@3"], answerBy }, "t", alice, now);
    expect(await states.open(s, "t", alice, answerBy - 1)).toMatchObject({
      attempt: 3,
      keys: ["a@3", "b@3"],
      exp: answerBy / 1000,
    });
    expect(await refusal(states.open(s, "t", alice, answerBy))).toBe(
      `Expired requestState: its questions were to be answered by ${new Date(answerBy).toISOString()}; call the tool again`,
    );
    // an agent that gives its questions longer than the default: the state lives as long
    const later = now + 3_600_000;
    const long = states.seal({ ...call1, answerBy: later }, "t", alice, now);
    expect((await states.open(long, "t", alice, now + 900_000)).exp).toBe(later / 1000);
  });

  test("a session id is no requestState, nor the other way round, under the same key", async () => {
    const id = sealSessionId(
      key,
      "domain-a",
      claimsFor(
        "alice",
        { protocolVersion: "2025-11-25", clientInfo: { name: "c", version: "1" }, capabilities: {} },
        60,
        now,
      ),
    );
    expect(await refusal(states.open(id, "t", alice, now))).toContain("Invalid requestState");
    expect(unsealSessionId(key, "domain-a", states.seal(call1, "t", alice, now), now)).toBeUndefined();
  });
});

describe("a prompt's requestState", () => {
  const answers = { "elicitation-1": { action: "accept", content: { context: "notes" } } };

  test("carries the answers given so far, for its caller and prompt, for the default time", async () => {
    const s = states.sealPrompt("p", answers, alice, now);
    expect(await states.openPrompt(s, "p", alice, now + 1000)).toEqual(answers);
    expect(await refusal(states.openPrompt(s, "q", alice, now))).toBe("requestState continues prompt p, not q");
    expect(await refusal(states.openPrompt(s, "p", { ...alice, client: "bob" }, now))).toBe(
      "requestState was issued to another caller",
    );
    expect(await refusal(states.openPrompt(s, "p", alice, now + 600_000))).toContain("Expired requestState");
    expect(await refusal(states.openPrompt(`${s.slice(0, -2)}xx`, "p", alice, now))).toContain("Invalid requestState");
  });

  test("is never taken for a call's requestState, nor the other way round", async () => {
    expect(await refusal(states.open(states.sealPrompt("t", answers, alice, now), "t", alice, now))).toContain(
      "Invalid requestState",
    );
    expect(await refusal(states.openPrompt(states.seal(call1, "t", alice, now), "t", alice, now))).toContain(
      "Invalid requestState",
    );
  });

  test("answers too large to carry are -32602 saying so", () => {
    const big = { "elicitation-1": { action: "accept", content: { text: "x".repeat(9000) } } };
    expect(() => states.sealPrompt("p", big, alice, now)).toThrow(/too large to carry in a requestState/);
  });
});
