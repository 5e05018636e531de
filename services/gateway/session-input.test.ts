import { describe, expect, test } from "bun:test";
import type { Task } from "../../lib/api/resources.ts";
import { silentLogger } from "../../lib/log.ts";
import { AttemptMovedOn } from "./calls/input.ts";
import { SessionInput } from "./session-input.ts";

const running = (inputRequests: Record<string, unknown>, attempts?: number): Task => ({
  metadata: { name: "call-1" },
  spec: { requiredCapabilities: ["c"] },
  status: { phase: "Running", inputRequests, ...(attempts !== undefined ? { attempts } : {}) },
});

function harness(
  capabilities: Record<string, unknown>,
  ask: (m: string) => Promise<unknown> = async () => ({ ok: 1 }),
  opts: {
    answer?: (t: Task, a: Record<string, unknown>, attempt: number) => Promise<unknown>;
    now?: () => number;
  } = {},
) {
  const asked: string[] = [];
  const timeouts: number[] = [];
  const answered: Record<string, unknown>[] = [];
  const attempts: number[] = [];
  const failed: { message: string; reason: string }[] = [];
  const input = new SessionInput({
    capabilities: () => capabilities,
    ask: (method, _params, timeoutMs) => {
      asked.push(method);
      timeouts.push(timeoutMs);
      return ask(method);
    },
    answer: async (t, a, attempt) => {
      answered.push(a);
      attempts.push(attempt);
      await opts.answer?.(t, a, attempt);
    },
    fail: async (_t, message, reason) => void failed.push({ message, reason }),
    log: silentLogger,
    now: opts.now,
  });
  return { input, asked, timeouts, answered, attempts, failed };
}

describe("SessionInput", () => {
  test("asks each request once, however often the Task shows it, and writes the answer by its key", async () => {
    const h = harness({ elicitation: {} });
    const t = running({ k1: { method: "elicitation/create", params: { message: "?" } } });
    h.input.onTask(t);
    h.input.onTask(t);
    await Bun.sleep(0);
    expect(h.asked).toEqual(["elicitation/create"]);
    expect(h.answered).toEqual([{ k1: { ok: 1 } }]);
    expect(h.failed).toEqual([]);
  });

  test.each([
    ["elicitation/create", "elicitation"],
    ["sampling/createMessage", "sampling"],
    ["roots/list", "roots"],
  ])("%s without the %s capability fails the call with InputNotSupported, asking nothing", async (method, cap) => {
    const h = harness({});
    h.input.onTask(running({ k: { method } }));
    await Bun.sleep(0);
    expect(h.asked).toEqual([]);
    expect(h.failed).toEqual([
      {
        message: `the tool asked for ${method}, but this client did not declare the ${cap} capability`,
        reason: "InputNotSupported",
      },
    ]);
  });

  test("a client that fails to answer fails the call, once", async () => {
    const h = harness({ sampling: {} }, async () => {
      throw new Error("the user closed the dialog");
    });
    h.input.onTask(running({ a: { method: "sampling/createMessage" }, b: { method: "sampling/createMessage" } }));
    await Bun.sleep(0);
    expect(h.failed.length).toBe(1);
    expect(h.failed[0]?.reason).toBe("InputRequestFailed");
    expect(h.failed[0]?.message).toContain("the user closed the dialog");
  });

  test("a retried Task asks again under the same names: each attempt's questions are its own", async () => {
    const h = harness({ elicitation: {} });
    const q = { k: { method: "elicitation/create", params: { message: "?" } } };
    h.input.onTask(running(q));
    const retried = running(q);
    h.input.onTask({ ...retried, status: { ...retried.status, attempts: 1 } });
    await Bun.sleep(0);
    expect(h.asked).toEqual(["elicitation/create", "elicitation/create"]);
  });

  test("the answer goes to the attempt that asked; a Task retried since takes nothing, and the call goes on", async () => {
    const h = harness({ elicitation: {} }, undefined, {
      answer: async (t, _a, attempt) => {
        throw new AttemptMovedOn({ ...t, status: { ...t.status, attempts: attempt + 1 } }, attempt);
      },
    });
    h.input.onTask(running({ confirm: { method: "elicitation/create", params: { message: "?" } } }, 2));
    await Bun.sleep(0);
    expect(h.attempts).toEqual([2]);
    expect(h.failed).toEqual([]);
  });

  test("the client has until the question's answer-by time; past it the agent fails the Task, not the gateway", async () => {
    let now = Date.parse("2026-12-03T10:00:00Z");
    const answerBy = "2026-12-03T10:02:00.000Z";
    const h = harness(
      { elicitation: {} },
      async () => {
        now = Date.parse(answerBy) + 5_000;
        throw new Error("Request timed out");
      },
      { now: () => now },
    );
    h.input.onTask(running({ k: { method: "elicitation/create", params: { message: "?" }, answerBy } }));
    await Bun.sleep(0);
    // two minutes, and a little more: the agent's InputTimeout comes first and says why
    expect(h.timeouts).toEqual([125_000]);
    expect(h.failed).toEqual([]);
  });

  test("one SessionInput serves a plan's steps: each Task's questions are its own, and failing one leaves the others", async () => {
    const answeredTasks: string[] = [];
    const h = harness({ sampling: {} }, undefined, {
      answer: async (t) => void answeredTasks.push(`answered ${t.metadata.name}`),
    });
    const step = (name: string, inputRequests: Record<string, unknown>): Task => ({
      ...running(inputRequests),
      metadata: { name },
    });
    const sample = { code: { method: "sampling/createMessage", params: { maxTokens: 9 } } };
    // the same key asked by two steps is two questions
    h.input.onTask(step("plan-a-write", sample));
    h.input.onTask(step("plan-a-write", sample));
    h.input.onTask(step("plan-a-check", sample));
    // a step asking what the client cannot answer fails, that step only
    h.input.onTask(step("plan-a-confirm", { ok: { method: "elicitation/create" } }));
    h.input.onTask(step("plan-a-more", { code: { method: "sampling/createMessage" } }));
    await Bun.sleep(0);
    expect(h.asked).toEqual(["sampling/createMessage", "sampling/createMessage", "sampling/createMessage"]);
    expect(answeredTasks.sort()).toEqual(["answered plan-a-check", "answered plan-a-more", "answered plan-a-write"]);
    expect(h.failed).toEqual([
      {
        message: "the tool asked for elicitation/create, but this client did not declare the elicitation capability",
        reason: "InputNotSupported",
      },
    ]);
  });

  test("a Task not asking for anything is left alone", () => {
    const h = harness({});
    h.input.onTask({ ...running({}), status: { phase: "Assigned" } });
    expect(h.asked).toEqual([]);
    expect(h.failed).toEqual([]);
  });
});
