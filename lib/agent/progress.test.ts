// The progress writer's throttle, on a clock and timers of the test's own.
import { describe, expect, test } from "bun:test";
import { FakeClock } from "../clock.ts";
import { normalizeMessage, normalizeProgress, ProgressWriter, type StatusNotes } from "./progress.ts";

function harness(opts: { fail?: boolean } = {}) {
  const clock = new FakeClock();
  const notes: StatusNotes[] = [];
  const written = {
    get length() {
      return notes.filter((n) => n.progress).length;
    },
    map: <T>(f: (p: NonNullable<StatusNotes["progress"]>) => T) =>
      notes.flatMap((n) => (n.progress ? [f(n.progress)] : [])),
  };
  const errors: unknown[] = [];
  const writer = new ProgressWriter({
    intervalMs: 500,
    clock,
    write: async (n) => {
      if (opts.fail) throw new Error("apiserver away");
      notes.push(n);
    },
    onError: (err) => errors.push(err),
  });
  /** Moves the clock on, running the timers that come due, and lets writes settle. */
  const advance = async (ms: number) => {
    await Bun.sleep(0);
    clock.advance(ms);
    await Bun.sleep(0);
  };
  return { writer, written, notes, errors, advance };
}

describe("ProgressWriter", () => {
  test("the first report is written at once; a burst within the interval costs one more write, of the latest", async () => {
    const h = harness();
    h.writer.report({ done: 1 });
    await h.advance(0);
    expect(h.notes).toEqual([{ progress: { done: 1 } }]);
    for (let i = 2; i <= 1000; i++) h.writer.report({ done: i, total: 1000 });
    await h.advance(100);
    expect(h.written.length).toBe(1);
    await h.advance(400);
    expect(h.notes).toEqual([{ progress: { done: 1 } }, { progress: { done: 1000, total: 1000 } }]);
    expect(h.writer.writes).toBe(2);
  });

  test("reports apart by more than the interval are each written", async () => {
    const h = harness();
    for (let i = 1; i <= 3; i++) {
      h.writer.report({ done: i });
      await h.advance(600);
    }
    expect(h.written.map((p) => p.done)).toEqual([1, 2, 3]);
  });

  test("after stop, nothing pending or new is written", async () => {
    const h = harness();
    h.writer.report({ done: 1 });
    await h.advance(0);
    h.writer.report({ done: 2 });
    h.writer.stop();
    h.writer.report({ done: 3 });
    await h.advance(1_000);
    expect(h.notes).toEqual([{ progress: { done: 1 } }]);
  });

  test("a failed write is handed to onError and the writer carries on", async () => {
    const h = harness({ fail: true });
    h.writer.report({ done: 1 });
    await h.advance(0);
    h.writer.report({ done: 2 });
    await h.advance(500);
    expect(h.errors.length).toBe(2);
  });
});

describe("messages", () => {
  test("go with the next write in order, beside the latest progress; past the bound the newest stay", async () => {
    const h = harness();
    h.writer.message(normalizeMessage(1, "info", "starting"));
    await h.advance(0);
    expect(h.notes).toEqual([{ messages: [{ seq: 1, level: "info", data: "starting" }] }]);
    for (let i = 2; i <= 30; i++) h.writer.message(normalizeMessage(i, "debug", { i }));
    h.writer.report({ done: 5 });
    await h.advance(500);
    const second = h.notes[1];
    expect(second?.progress).toEqual({ done: 5 });
    expect(second?.messages?.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, k) => k + 11));
  });

  test("a level MCP does not know is refused; data too large is cut to text", () => {
    expect(() => normalizeMessage(1, "verbose", "x")).toThrow(TypeError);
    const big = normalizeMessage(2, "warning", { blob: "x".repeat(10_000) }, "tool");
    expect(typeof big.data).toBe("string");
    expect((big.data as string).endsWith("… (cut)")).toBe(true);
    expect(big.logger).toBe("tool");
  });
});

describe("normalizeProgress", () => {
  test.each([
    [5, undefined, undefined, { done: 5 }],
    [1, 3, "step one", { done: 1, total: 3, message: "step one" }],
    [0, 0, "", { done: 0, total: 0, message: "" }],
  ])("(%p, %p, %p) → %p", (done, total, message, want) => {
    expect(normalizeProgress(done, total, message)).toEqual(want);
  });

  test("cuts a long message to the CRD's limit", () => {
    expect(normalizeProgress(1, undefined, "x".repeat(5000)).message?.length).toBe(1024);
  });

  test.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY]])("refuses done %p", (done) => {
    expect(() => normalizeProgress(done)).toThrow(TypeError);
  });

  test("refuses a negative total", () => {
    expect(() => normalizeProgress(1, -2)).toThrow(TypeError);
  });
});
