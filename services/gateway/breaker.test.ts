// The federation's circuit breaker as a state machine, on timers of the test's own.
import { describe, expect, test } from "bun:test";
import { FakeClock } from "../../lib/clock.ts";
import { CircuitBreaker } from "./breaker.ts";

function harness(opts: { failureThreshold?: number; cooldownMs?: number; maxCooldownMs?: number } = {}) {
  const clock = new FakeClock();
  let trials = 0;
  const breaker = new CircuitBreaker({
    failureThreshold: opts.failureThreshold ?? 3,
    cooldownMs: opts.cooldownMs ?? 100,
    maxCooldownMs: opts.maxCooldownMs ?? 1_000,
    onHalfOpen: () => trials++,
    clock,
  });
  /** Ends the pending cool-down, as its timer would; returns how long it was. */
  const coolDown = () => {
    const [ms] = clock.pending;
    if (ms === undefined) throw new Error("no cool-down pending");
    clock.advance(ms);
    return ms;
  };
  return { breaker, clock, coolDown, trials: () => trials };
}

describe("CircuitBreaker", () => {
  test("starts half-open; a successful trial closes it", () => {
    const h = harness();
    expect(h.breaker.state).toBe("half-open");
    h.breaker.succeeded();
    expect(h.breaker.state).toBe("closed");
  });

  test("closed: opens only at failureThreshold failures in a row; a success in between resets the count", () => {
    const h = harness({ failureThreshold: 3 });
    h.breaker.succeeded();
    expect(h.breaker.failed()).toBeUndefined();
    expect(h.breaker.failed()).toBeUndefined();
    h.breaker.succeeded();
    expect(h.breaker.failed()).toBeUndefined();
    expect(h.breaker.failed()).toBeUndefined();
    expect(h.breaker.state).toBe("closed");
    expect(h.breaker.failed()).toBe(100);
    expect(h.breaker.state).toBe("open");
  });

  test("a fatal failure opens a closed circuit at once", () => {
    const h = harness();
    h.breaker.succeeded();
    expect(h.breaker.failed({ fatal: true })).toBe(100);
    expect(h.breaker.state).toBe("open");
  });

  test("the cool-down ends in a half-open trial; a failed trial reopens with twice the cool-down, up to the maximum", () => {
    const h = harness({ cooldownMs: 100, maxCooldownMs: 500 });
    expect(h.breaker.failed()).toBe(100); // the first trial (the first connection) failed
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      expect(h.breaker.state).toBe("open");
      seen.push(h.coolDown());
      expect(h.breaker.state).toBe("half-open");
      expect(h.breaker.failures).toBe(0);
      h.breaker.failed();
    }
    expect(seen).toEqual([100, 200, 400, 500]);
    expect(h.trials()).toBe(4);
  });

  test("a successful trial closes it and the next opening starts from the first cool-down again", () => {
    const h = harness({ cooldownMs: 100 });
    h.breaker.failed();
    h.coolDown();
    h.breaker.failed();
    expect(h.breaker.nextCooldownMs).toBe(400);
    h.coolDown();
    h.breaker.succeeded();
    expect(h.breaker.state).toBe("closed");
    expect(h.breaker.opens).toBe(0);
    expect(h.breaker.failed({ fatal: true })).toBe(100);
  });

  test("failures while open change nothing; stop cancels the pending trial", () => {
    const h = harness();
    h.breaker.failed();
    expect(h.breaker.failed()).toBeUndefined();
    expect(h.breaker.opens).toBe(1);
    h.breaker.stop();
    expect(h.clock.pending).toEqual([]);
    expect(h.trials()).toBe(0);
  });
});
