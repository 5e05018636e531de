import { expect, test } from "bun:test";
import { soakVerdict } from "./verdict.ts";

const clean = { tasks: { lost: 0, completionsRecordedTwice: 0 }, calls: { answersLostGatewayUp: 0 } };

test("a clean run passes", () => {
  expect(soakVerdict(clean)).toEqual({ ok: true, failures: [] });
});

test.each([
  [{ ...clean, tasks: { lost: 2, completionsRecordedTwice: 0 } }, "2 Task(s) lost"],
  [{ ...clean, tasks: { lost: 0, completionsRecordedTwice: 1 } }, "1 Task(s) with a completion recorded twice"],
  [{ ...clean, calls: { answersLostGatewayUp: 3 } }, "3 answer(s) lost while their gateway was up"],
])("each way to fail fails, saying so: %p", (figures, failure) => {
  expect(soakVerdict(figures)).toEqual({ ok: false, failures: [failure] });
});

test("every failure is listed", () => {
  const v = soakVerdict({ tasks: { lost: 1, completionsRecordedTwice: 1 }, calls: { answersLostGatewayUp: 1 } });
  expect(v.ok).toBe(false);
  expect(v.failures.length).toBe(3);
});
