import { describe, expect, test } from "bun:test";
import { WriteSlots } from "./write-slots.ts";

describe("WriteSlots", () => {
  test("idle, a slot is the time asked for", () => {
    const slots = new WriteSlots(10);
    expect(slots.reserve(1_000)).toBe(1_000);
    expect(slots.reserve(5_000)).toBe(5_000);
  });

  test("callers asking at once get slots 1/rate apart, in the order they asked", () => {
    const slots = new WriteSlots(10);
    expect([0, 0, 0, 0].map(() => slots.reserve(2_000))).toEqual([2_000, 2_100, 2_200, 2_300]);
    // A caller asking for a later time than the next free slot gets its own time.
    expect(slots.reserve(9_000)).toBe(9_000);
    expect(slots.reserve(8_950)).toBe(9_100);
  });

  test("a rate that is not positive is refused", () => {
    expect(() => new WriteSlots(0)).toThrow("perSecond must be positive, got 0");
  });
});
