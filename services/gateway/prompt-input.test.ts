import { describe, expect, test } from "bun:test";
import { CallError } from "./calls/errors.ts";
import { answerServerRequest, gettingPrompt, questionKey } from "./prompt-input.ts";

const elicit = { mode: "form", message: "Why?", requestedSchema: { type: "object", properties: {} } };
const sample = { messages: [], maxTokens: 5 };
const accepted = { action: "accept", content: { why: "because" } };
const sampled = { role: "assistant", content: { type: "text", text: "hi" }, model: "m" };
const caps = { elicitation: {}, sampling: {} };

/** A prompt whose server asks these requests in order and answers with the answers it got. */
const asking =
  (...requests: [string, Record<string, unknown>][]) =>
  async (signal: AbortSignal) => {
    const got: unknown[] = [];
    for (const [method, params] of requests) {
      if (signal.aborted) throw new Error("cancelled");
      got.push(await answerServerRequest(method, params));
    }
    return got;
  };

describe("a prompt's questions", () => {
  test("keys number each method's requests in order", () => {
    expect(questionKey("elicitation/create", 1)).toBe("elicitation-1");
    expect(questionKey("sampling/createMessage", 2)).toBe("sampling-2");
  });

  test("answered from the client's answers; the first unanswered ends the round as the question", async () => {
    const prompt = asking(["sampling/createMessage", sample], ["elicitation/create", elicit]);
    expect(await gettingPrompt({ answers: {}, capabilities: caps }, prompt)).toEqual({
      kind: "asked",
      asked: { "sampling-1": { method: "sampling/createMessage", params: sample } },
      used: {},
    });
    expect(await gettingPrompt({ answers: { "sampling-1": sampled }, capabilities: caps }, prompt)).toEqual({
      kind: "asked",
      asked: { "elicitation-1": { method: "elicitation/create", params: elicit } },
      used: { "sampling-1": sampled },
    });
    const answers = { "sampling-1": sampled, "elicitation-1": accepted, "elicitation-9": accepted };
    expect(await gettingPrompt({ answers, capabilities: caps }, prompt)).toEqual({
      kind: "result",
      result: [sampled, accepted],
      used: { "sampling-1": sampled, "elicitation-1": accepted },
    });
  });

  test("an answer that does not fit its request is asked again", async () => {
    const out = await gettingPrompt(
      { answers: { "elicitation-1": { action: "maybe" } }, capabilities: caps },
      asking(["elicitation/create", elicit]),
    );
    expect(out.kind).toBe("asked");
  });

  test("a capability the client did not declare: -32021 naming it", async () => {
    const err = await gettingPrompt(
      { answers: {}, capabilities: { sampling: {} } },
      asking(["elicitation/create", elicit]),
    ).then(
      () => undefined,
      (e: CallError) => e,
    );
    expect(err).toBeInstanceOf(CallError);
    expect(err?.code).toBe(-32021);
    expect(err?.data).toEqual({ requiredCapabilities: { elicitation: {} } });
    expect(err?.message).toContain("the prompt asked for elicitation/create");
  });

  test("a 2025 round relays each request and returns its answer", async () => {
    const relayed: string[] = [];
    const out = await gettingPrompt(
      {
        relay: async (method) => {
          relayed.push(method);
          return method === "elicitation/create" ? accepted : sampled;
        },
      },
      asking(["elicitation/create", elicit], ["sampling/createMessage", sample]),
    );
    expect(out).toEqual({ kind: "result", result: [accepted, sampled], used: {} });
    expect(relayed).toEqual(["elicitation/create", "sampling/createMessage"]);
  });

  test("the prompt's own failure passes through", async () => {
    const err = await gettingPrompt({ answers: {} }, async () => {
      throw new Error("server down");
    }).catch((e: Error) => e.message);
    expect(err).toBe("server down");
  });

  test("outside a prompt: elicitation declined, sampling refused", async () => {
    expect(await answerServerRequest("elicitation/create", elicit)).toEqual({ action: "decline" });
    await expect(answerServerRequest("sampling/createMessage", sample)).rejects.toThrow(
      "only while it gets one of this server's prompts",
    );
  });
});
