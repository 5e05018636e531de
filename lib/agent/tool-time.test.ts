import { describe, expect, test } from "bun:test";
import { FakeClock } from "../clock.ts";
import { ToolTime } from "./tool-time.ts";

describe("a tool's time limit", () => {
  test("ends the tool at its limit, not before", () => {
    const clock = new FakeClock();
    const time = new ToolTime(1_000, clock);
    clock.advance(999);
    expect(time.signal.aborted).toBe(false);
    clock.advance(1);
    expect(time.signal.aborted).toBe(true);
    expect((time.signal.reason as DOMException).name).toBe("TimeoutError");
  });

  test("stands still while the tool waits for answers, and goes on from where it stopped", () => {
    const clock = new FakeClock();
    const time = new ToolTime(1_000, clock);
    clock.advance(400);
    time.pause();
    clock.advance(60_000); // a person over a form: not the tool's time
    expect(time.signal.aborted).toBe(false);
    time.resume();
    clock.advance(599);
    expect(time.signal.aborted).toBe(false);
    clock.advance(1);
    expect(time.signal.aborted).toBe(true);
  });

  test("overlapping waits: the time goes on only when the last one ends", () => {
    const clock = new FakeClock();
    const time = new ToolTime(1_000, clock);
    time.pause();
    time.pause();
    clock.advance(5_000);
    time.resume();
    clock.advance(5_000);
    expect(time.signal.aborted).toBe(false);
    time.resume();
    clock.advance(999);
    expect(time.signal.aborted).toBe(false);
    clock.advance(1);
    expect(time.signal.aborted).toBe(true);
  });

  test("stopped, it never fires", () => {
    const clock = new FakeClock();
    const time = new ToolTime(1_000, clock);
    time.stop();
    clock.advance(10_000);
    expect(time.signal.aborted).toBe(false);
    expect(clock.pending).toEqual([]);
  });
});
