import { describe, expect, test } from "bun:test";
import { isLabelValue, labelValue } from "./labels.ts";

describe("labelValue", () => {
  test.each([
    ["a valid value stays", "my-client_1.2", "my-client_1.2"],
    ["empty stays empty", "", ""],
    ["63 characters stay", "a".repeat(63), "a".repeat(63)],
  ])("%s", (_what, raw, want) => {
    expect(labelValue(raw)).toBe(want);
  });

  test.each([
    ["a service account", "system:serviceaccount:ns:caller"],
    ["a value ending in _", "client_"],
    ["a value ending in .", "client."],
    ["a value beginning with -", "-client"],
    ["only invalid characters", "://"],
    ["64 characters", "a".repeat(64)],
    ["long, cut where an invalid character would end it", `${"a".repeat(51)}/${"b".repeat(20)}`],
    ["a URL", "https://issuer.example.com#user@example.com"],
    ["unicode", "client-é"],
  ])("%s becomes a valid value", (_what, raw) => {
    const v = labelValue(raw);
    expect(isLabelValue(v)).toBe(true);
    expect(v.length).toBeLessThanOrEqual(63);
    expect(v).not.toBe(raw);
  });

  test("different strings never share a value, even when their cleaned forms match", () => {
    const raws = ["a/b", "a_b", "a:b", "a b", "a/b/", `a${"x".repeat(70)}`, `a${"x".repeat(71)}`];
    const values = raws.map(labelValue);
    expect(new Set(values).size).toBe(raws.length);
  });

  test("the same string always gives the same value", () => {
    expect(labelValue("system:serviceaccount:ns:caller")).toBe(labelValue("system:serviceaccount:ns:caller"));
  });
});
