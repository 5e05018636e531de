import { expect, test } from "bun:test";
import { TtlCache } from "./ttl-cache.ts";

test("entries expire at their time, and the least recently used go first past the bound", () => {
  let now = 0;
  const c = new TtlCache<string>(2, () => now);
  c.set("a", "A", 10);
  c.set("b", "B", 10);
  expect(c.get("a")).toBe("A"); // a is now the most recently used
  c.set("c", "C", 10);
  expect(c.get("b")).toBeUndefined();
  expect(c.get("a")).toBe("A");
  expect(c.size).toBe(2);
  now = 10;
  expect(c.get("a")).toBeUndefined();
  expect(c.size).toBe(1);
  c.clear();
  expect(c.size).toBe(0);
});
