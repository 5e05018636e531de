import { describe, expect, test } from "bun:test";
import type { Task } from "../../lib/api/resources.ts";
import { silentLogger } from "../../lib/log.ts";
import { SessionInput } from "./session-input.ts";

const running = (inputRequests: Record<string, unknown>): Task => ({
  metadata: { name: "call-1" },
  spec: { requiredCapabilities: ["c"] },
  status: { phase: "Running", inputRequests },
});

function harness(
  capabilities: Record<string, unknown>,
  ask: (m: string) => Promise<unknown> = async () => ({ ok: 1 }),
) {
  const asked: string[] = [];
  const answered: Record<string, unknown>[] = [];
  const failed: { message: string; reason: string }[] = [];
  const input = new SessionInput({
    capabilities: () => capabilities,
    ask: (method) => {
      asked.push(method);
      return ask(method);
    },
    answer: async (_t, a) => void answered.push(a),
    fail: async (_t, message, reason) => void failed.push({ message, reason }),
    log: silentLogger,
  });
  return { input, asked, answered, failed };
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

  test("a Task not asking for anything is left alone", () => {
    const h = harness({});
    h.input.onTask({ ...running({}), status: { phase: "Assigned" } });
    expect(h.asked).toEqual([]);
    expect(h.failed).toEqual([]);
  });
});
