/** Registers clean-ups during a test and runs them, last first, after it. */
import { afterEach } from "bun:test";

export function cleanupAfterEach(): { add: (...fns: (() => Promise<void> | void)[]) => void } {
  let fns: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of fns.reverse()) await fn();
    fns = [];
  });
  return { add: (...more) => fns.push(...more) };
}
