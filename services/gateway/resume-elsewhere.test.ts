import { describe, expect, test } from "bun:test";
import type { Task } from "../../lib/api/resources.ts";
import { silentLogger } from "../../lib/log.ts";
import type { TaskOutcome } from "./calls/store.ts";
import { answerOf, type ResumeDeps, resumeFromTasks } from "./resume-elsewhere.ts";

const completed: Task = {
  metadata: { name: "call-1" },
  spec: { requiredCapabilities: ["x"] },
  status: { phase: "Completed", result: { n: 1 } },
};
const failed: Task = {
  metadata: { name: "call-2" },
  spec: { requiredCapabilities: ["x"] },
  status: { phase: "Failed", error: { reason: "Boom", message: "it broke", retryable: false } },
};

function deps(
  tasks: Record<string, Task>,
  outcome: (t: Task) => TaskOutcome,
  more: Partial<ResumeDeps> = {},
): ResumeDeps {
  return {
    taskOf: (id) => tasks[String(id)],
    wait: async (t) => outcome(t),
    log: silentLogger,
    lookForMs: 50,
    ...more,
  };
}
const never = new AbortController().signal;

describe("answerOf", () => {
  test("a finished call is answered from its Task as the call would have been: the result, or isError with the reason", async () => {
    const d = deps({ 1: completed, 2: failed }, (t) =>
      t === completed ? { kind: "completed", task: t } : { kind: "failed", task: t },
    );
    const ok = await answerOf(1, d, never);
    expect(ok).toMatchObject({ jsonrpc: "2.0", id: 1, result: { structuredContent: { n: 1 } } });
    const bad = await answerOf("2", d, never);
    expect(bad).toMatchObject({ id: "2", result: { isError: true } });
    expect(JSON.stringify(bad)).toContain("it broke");
  });

  test("a request that made no Task gets an error saying to send it again; a deleted Task says so", async () => {
    const d = deps({ 1: completed }, () => ({ kind: "deleted" }));
    expect(await answerOf(7, d, never)).toEqual({
      jsonrpc: "2.0",
      id: 7,
      error: {
        code: -32000,
        message: "The stream cannot be resumed here and this request made no task to follow: send it again",
      },
    });
    expect(await answerOf(1, d, never)).toMatchObject({
      id: 1,
      error: { code: -32603, message: expect.stringContaining("deleted") },
    });
  });

  test("a Task the watch brings a moment late is still found", async () => {
    const tasks: Record<string, Task> = {};
    setTimeout(() => {
      tasks["3"] = completed;
    }, 150);
    const d = deps(tasks, (t) => ({ kind: "completed", task: t }), { lookForMs: 2_000 });
    expect(await answerOf(3, d, never)).toMatchObject({ id: 3, result: { structuredContent: { n: 1 } } });
  });
});

describe("resumeFromTasks", () => {
  test("an SSE stream with one message per request, then its end", async () => {
    const d = deps({ 1: completed }, (t) => ({ kind: "completed", task: t }));
    const res = resumeFromTasks([1, "nope"], d, { signal: never, sessionId: "s-1" });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("mcp-session-id")).toBe("s-1");
    const events = (await res.text())
      .split("\n\n")
      .filter((e) => e.startsWith("event: message"))
      .map((e) => JSON.parse(e.slice(e.indexOf("data: ") + 6)));
    expect(events.map((e) => e.id).sort()).toEqual([1, "nope"]);
    expect(events.find((e) => e.id === 1)).toMatchObject({ result: { structuredContent: { n: 1 } } });
    expect(events.find((e) => e.id === "nope")).toMatchObject({ error: { code: -32000 } });
  });

  test("the client going away stops the wait", async () => {
    const gone = new AbortController();
    let stopped: AbortSignal | undefined;
    const d = deps({ 1: completed }, () => ({ kind: "stopped" }), {
      wait: (_t, _on, stop) =>
        new Promise<TaskOutcome>((resolve) => {
          stopped = stop;
          stop?.addEventListener("abort", () => resolve({ kind: "stopped" }));
        }),
    });
    const res = resumeFromTasks([1], d, { signal: gone.signal, sessionId: "s-1" });
    const reading = res.text();
    await Bun.sleep(20);
    expect(stopped?.aborted).toBe(false);
    gone.abort();
    await reading.catch(() => "");
    expect(stopped?.aborted).toBe(true);
  });
});
