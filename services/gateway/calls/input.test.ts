import { describe, expect, test } from "bun:test";
import { answersOf, badAnswer, type Question, questionsOf, unanswerable } from "./input.ts";

describe("a tool's questions", () => {
  test.each([
    {
      name: "an accepted elicitation",
      method: "elicitation/create",
      answer: { action: "accept", content: { name: "Ada" } },
      bad: false,
    },
    { name: "a declined elicitation", method: "elicitation/create", answer: { action: "decline" }, bad: false },
    {
      name: "an elicitation of an unknown action",
      method: "elicitation/create",
      answer: { action: "maybe" },
      bad: true,
    },
    {
      name: "an elicitation of text content",
      method: "elicitation/create",
      answer: { action: "accept", content: "Ada" },
      bad: true,
    },
    {
      name: "a model's message",
      method: "sampling/createMessage",
      answer: { role: "assistant", content: { type: "text", text: "hi" } },
      bad: false,
    },
    {
      name: "a message with no role",
      method: "sampling/createMessage",
      answer: { content: { type: "text", text: "hi" } },
      bad: true,
    },
    { name: "roots", method: "roots/list", answer: { roots: [{ uri: "file:///a" }] }, bad: false },
    { name: "roots without uris", method: "roots/list", answer: { roots: [{ name: "a" }] }, bad: true },
    { name: "a number", method: "roots/list", answer: 12345, bad: true },
    { name: "null", method: "elicitation/create", answer: null, bad: true },
  ])("$name ($method) is a bad answer: $bad", ({ method, answer, bad }) => {
    expect(badAnswer(method, answer) !== undefined).toBe(bad);
  });

  test("answers come as an object of objects, or -32602 naming what is wrong", () => {
    expect(answersOf({ a: { action: "accept" } })).toEqual({ a: { action: "accept" } });
    for (const [raw, message] of [
      [null, "inputResponses must be an object"],
      [[], "inputResponses must be an object"],
      [{ user_name: 12345 }, "inputResponses.user_name must be an object"],
    ] as const)
      expect(() => answersOf(raw)).toThrow(message);
  });

  test("a question needs its capability declared; a method MCP does not know is the tool's mistake", () => {
    const [elicit, sample, roots, odd] = questionsOf({
      a: { method: "elicitation/create", params: { message: "?" } },
      b: { method: "sampling/createMessage" },
      c: { method: "roots/list" },
      d: { method: "tools/call" },
    }) as [Question, Question, Question, Question];
    expect(elicit).toEqual({ key: "a", method: "elicitation/create", params: { message: "?" } });
    expect(unanswerable(elicit, { elicitation: {} })).toBeUndefined();
    expect(unanswerable(sample, { elicitation: {} })).toEqual({
      reason: "InputNotSupported",
      message: "the tool asked for sampling/createMessage, but this client did not declare the sampling capability",
      capability: "sampling",
    });
    expect(unanswerable(roots, undefined)?.capability).toBe("roots");
    expect(unanswerable(odd, { elicitation: {}, sampling: {}, roots: {} })).toMatchObject({
      reason: "InputRequestFailed",
    });
  });
});
