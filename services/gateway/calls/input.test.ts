import { describe, expect, test } from "bun:test";
import type { Task } from "../../../lib/api/resources.ts";
import { KubeApiError } from "../../../lib/kube/errors.ts";
import { silentLogger } from "../../../lib/log.ts";
import {
  AttemptMovedOn,
  answersOf,
  badAnswer,
  clientRequests,
  type Question,
  questionsOf,
  unanswerable,
  writeAnswers,
} from "./input.ts";
import type { CallStore } from "./store.ts";

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

describe("writing a client's answers on the Task", () => {
  const confirm = { method: "elicitation/create", params: { message: "Sure?" } };
  const yes = { action: "accept", content: { ok: true } };
  const no = { action: "accept", content: { ok: false } };
  const task = (attempts: number, status: Partial<NonNullable<Task["status"]>>): Task => ({
    metadata: { name: "call-1", resourceVersion: String(attempts) },
    spec: { requiredCapabilities: ["c"] },
    status: { phase: "Running", attempts, ...status },
  });
  const conflict = () =>
    new KubeApiError(409, { reason: "Conflict", message: "the object has been modified" }, "PUT", "/x");

  /**
   * A store whose first write conflicts (another writer came first), the Task
   * then being `meanwhile`; it records what it wrote.
   */
  function racing(meanwhile: Task) {
    const written: Record<string, unknown>[] = [];
    let writes = 0;
    const store = {
      get: async () => meanwhile,
      writeInput: async (t: Task, stillAsked: Record<string, unknown>, answers: Record<string, unknown>) => {
        if (writes++ === 0) throw conflict();
        written.push(answers);
        return { ...t, status: { ...t.status, inputRequests: stillAsked, inputResponses: answers } };
      },
    } as unknown as CallStore;
    return { store, written };
  }
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: Error & { code?: number }) => e,
    );

  test("answers for an attempt that is over are not written, not even to its retry's question of the same key", async () => {
    // the Task was retried between the read and the write, and its new attempt asks under the same key
    const { store, written } = racing(task(2, { inputRequests: { confirm } }));
    const e = await refusal(
      writeAnswers(store, task(1, { inputRequests: { confirm } }), { confirm: yes }, silentLogger, { attempt: 1 }),
    );
    expect(e).toBeInstanceOf(AttemptMovedOn);
    expect(e?.code).toBe(-32602);
    expect(e?.message).toContain("was retried since its questions were asked (attempt 1, now 2)");
    expect(written).toEqual([]);
    // and a Task already retried when read takes nothing either
    const moved = await refusal(
      writeAnswers(store, task(2, { inputRequests: { confirm } }), { confirm: yes }, silentLogger, { attempt: 1 }),
    );
    expect(moved).toBeInstanceOf(AttemptMovedOn);
  });

  test.each([
    {
      name: "another answer written first",
      meanwhile: task(1, { inputRequests: {}, inputResponses: { confirm: yes } }),
      answer: no,
      want: "inputResponses.confirm was already answered",
    },
    {
      name: "another answer written first and taken by the tool",
      meanwhile: task(1, { inputRequests: {}, inputResponses: {} }),
      answer: no,
      want: "inputResponses.confirm was already answered",
    },
    {
      name: "the same answer written first",
      meanwhile: task(1, { inputRequests: {}, inputResponses: { confirm: yes } }),
      answer: yes,
      want: ["confirm"],
    },
  ] as { name: string; meanwhile: Task; answer: unknown; want: string | string[] }[])(
    "two answers to one question, $name: $want",
    async ({ meanwhile, answer, want }) => {
      const { store, written } = racing(meanwhile);
      const out = writeAnswers(store, task(1, { inputRequests: { confirm } }), { confirm: answer }, silentLogger, {
        attempt: 1,
      });
      if (Array.isArray(want)) expect((await out).answered).toEqual(want);
      else {
        const e = await refusal(out);
        expect(e?.code).toBe(-32602);
        expect(e?.message).toContain(want);
      }
      expect(written).toEqual([]);
    },
  );

  test("an answer to a question answered already, read so at once: -32602; one to nothing ever asked is ignored", async () => {
    const { store } = racing(task(1, {}));
    const answered = task(1, { inputRequests: { other: confirm }, inputResponses: { confirm: yes } });
    expect((await refusal(writeAnswers(store, answered, { confirm: no }, silentLogger)))?.message).toContain(
      "already answered",
    );
    expect((await writeAnswers(store, answered, { unasked: no }, silentLogger)).answered).toEqual([]);
  });

  test("an answer to a question the client was asked that the tool has taken an answer to: already answered", async () => {
    const { store, written } = racing(task(1, {}));
    const next = task(1, { inputRequests: { "confirm-2": confirm }, inputResponses: {} });
    const e = await refusal(
      writeAnswers(store, next, { confirm: no }, silentLogger, { attempt: 1, asked: ["confirm"] }),
    );
    expect(e?.code).toBe(-32602);
    expect(e?.message).toBe("inputResponses.confirm was already answered: an answer to it came first, and stands");
    // a question nobody answered, on a Task that ended: it takes no answers, and says so
    const ended = {
      ...task(1, { inputRequests: { confirm } }),
      status: { phase: "Failed" as const, attempts: 1, inputRequests: { confirm } },
    };
    const notAsking = await refusal(
      writeAnswers(store, ended, { confirm: no }, silentLogger, { attempt: 1, asked: ["confirm"] }),
    );
    expect(notAsking?.message).toContain("not input_required: it takes no answers");
    expect(written).toEqual([]);
  });

  test("the client sees a question's request without its answer-by time", () => {
    expect(clientRequests({ confirm: { ...confirm, answerBy: "2026-12-03T10:00:00.000Z" } })).toEqual({ confirm });
    expect(questionsOf({ confirm: { ...confirm, answerBy: "2026-12-03T10:00:00.000Z" } })[0]?.answerBy).toBe(
      Date.parse("2026-12-03T10:00:00.000Z"),
    );
  });
});
