import { expect, test } from "bun:test";
import type { Task } from "../../../lib/api/resources.ts";
import { InFlightByCaller } from "./in-flight.ts";
import { callerMarks } from "./marks.ts";

const caller = { client: "c", subject: { user: "c", groups: [] } };
const task = (name: string, phase = "Running"): Task => ({
  metadata: { name, ...callerMarks(caller) },
  spec: { requiredCapabilities: ["x"] },
  status: { phase: phase as "Running" },
});

test("counts unfinished Tasks once each, forgets finished and deleted ones", () => {
  const f = new InFlightByCaller();
  f.observe(task("a"));
  f.observe(task("a"));
  f.observe(task("b"));
  expect(f.count(caller)).toBe(2);
  f.observe(task("a", "Completed"));
  f.forget("b");
  expect(f.count(caller)).toBe(0);
});

test("a Task the watch no longer holds is forgotten after the grace, not before", () => {
  const f = new InFlightByCaller();
  f.observe(task("gone"), 0);
  f.observe(task("kept"), 0);
  const held = (name: string) => name === "kept";
  f.sweep(held, 30_000, 60_000);
  expect(f.count(caller)).toBe(2); // just created: the watch may not have it yet
  f.sweep(held, 61_000, 60_000);
  expect(f.count(caller)).toBe(1);
});
