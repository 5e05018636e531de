import { expect, test } from "bun:test";
import { FakeClock } from "./clock.ts";

test("timers run in time order as time passes, cancelled ones never; those they schedule run too", () => {
  const c = new FakeClock(0);
  const ran: string[] = [];
  c.schedule(() => ran.push(`b@${c.now()}`), 20);
  c.schedule(() => {
    ran.push(`a@${c.now()}`);
    c.schedule(() => ran.push(`a2@${c.now()}`), 5);
  }, 10);
  const cancel = c.schedule(() => ran.push("never"), 15);
  cancel();
  c.advance(12);
  expect(ran).toEqual(["a@10"]);
  c.advance(100);
  expect(ran).toEqual(["a@10", "a2@15", "b@20"]);
  expect(c.now()).toBe(112);
});
