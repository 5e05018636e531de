import { describe, expect, test } from "bun:test";
import type { Task } from "../../../lib/api/resources.ts";
import { CallError, errorCodes } from "./errors.ts";
import { CallerLimit, InFlightByCaller } from "./in-flight.ts";
import { callerMarks } from "./marks.ts";
import type { Caller } from "./tools.ts";

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

// Each rule of the count and of the cap, and the state behind them (mutation testing, docs/development.md).
const alice: Caller = { client: "alice", subject: { user: "alice@example.com", groups: ["dev"] } };
const bob: Caller = { client: "bob" };

type Phase = NonNullable<Task["status"]>["phase"];
const taskOf = (name: string, who: Caller, phase: Phase = "Pending", finalFailure = false): Task => {
  const m = callerMarks(who);
  return {
    metadata: { name, labels: m.labels, annotations: m.annotations },
    spec: { requiredCapabilities: ["x"] },
    status: {
      phase,
      conditions: finalFailure
        ? [{ type: "Failed", status: "True", reason: "NotRetryable", message: "", lastTransitionTime: "" }]
        : [],
    },
  };
};

/** The maps behind the counts: callers with nothing in flight must not stay in them. */
const sizes = (f: InFlightByCaller) => {
  const maps = f as unknown as { owner: Map<string, unknown>; counts: Map<string, number> };
  return { owner: maps.owner.size, counts: maps.counts.size };
};
/** The places a CallerLimit holds per caller key. */
const reserved = (l: CallerLimit) => (l as unknown as { reserved: Map<string, number> }).reserved;

describe("InFlightByCaller", () => {
  test("counts each caller's unfinished Tasks once, however often they are seen", () => {
    const f = new InFlightByCaller();
    f.observe(taskOf("a1", alice));
    f.observe(taskOf("a1", alice, "Running"));
    f.observe(taskOf("a2", alice, "Assigned"));
    f.observe(taskOf("b1", bob));
    expect(f.count(alice)).toBe(2);
    expect(f.count(bob)).toBe(1);
    expect(f.count({ client: "carol" })).toBe(0);
  });

  test("a Task that is completed or failed for good stops counting; a failed attempt does not", () => {
    const f = new InFlightByCaller();
    f.observe(taskOf("a1", alice));
    f.observe(taskOf("a2", alice));
    f.observe(taskOf("a3", alice));
    f.observe(taskOf("a1", alice, "Completed"));
    expect(f.count(alice)).toBe(2);
    f.observe(taskOf("a2", alice, "Failed")); // an attempt that may be retried
    expect(f.count(alice)).toBe(2);
    f.observe(taskOf("a2", alice, "Failed", true));
    expect(f.count(alice)).toBe(1);
    f.observe(taskOf("a3", alice, "Completed"));
    expect(f.count(alice)).toBe(0);
    expect(sizes(f)).toEqual({ owner: 0, counts: 0 });
  });

  test("a Task seen first finished is never counted", () => {
    const f = new InFlightByCaller();
    f.observe(taskOf("a1", alice, "Completed"));
    expect(f.count(alice)).toBe(0);
    expect(sizes(f)).toEqual({ owner: 0, counts: 0 });
  });

  test("forget: a deleted Task, once; an unknown name changes nothing", () => {
    const f = new InFlightByCaller();
    f.observe(taskOf("a1", alice));
    f.observe(taskOf("a2", alice));
    f.observe(taskOf("b1", bob));
    f.forget("nope");
    f.forget("a1");
    f.forget("a1");
    expect(f.count(alice)).toBe(1);
    expect(f.count(bob)).toBe(1);
    f.forget("a2");
    expect(f.count(alice)).toBe(0);
    expect(sizes(f)).toEqual({ owner: 1, counts: 1 });
    // Counted again when seen again after being forgotten.
    f.observe(taskOf("a2", alice));
    expect(f.count(alice)).toBe(1);
  });

  test("a Task without a name is counted under the empty name", () => {
    const f = new InFlightByCaller();
    const t = taskOf("x", alice);
    delete t.metadata.name;
    f.observe(t);
    expect(f.count(alice)).toBe(1);
    f.forget("");
    expect(f.count(alice)).toBe(0);
  });

  test("sweep: exactly the grace is not past it; a held Task stays however old", () => {
    const f = new InFlightByCaller();
    f.observe(taskOf("gone", alice), 1_000);
    f.observe(taskOf("kept", alice), 1_000);
    const held = (name: string) => name === "kept";
    f.sweep(held, 61_000, 60_000);
    expect(f.count(alice)).toBe(2);
    f.sweep(held, 61_001, 60_000);
    expect(f.count(alice)).toBe(1);
    f.sweep(held, 10_000_000, 60_000);
    expect(f.count(alice)).toBe(1);
    f.sweep(() => false, 10_000_000, 60_000);
    expect(sizes(f)).toEqual({ owner: 0, counts: 0 });
  });
});

describe("CallerLimit", () => {
  test("takes places up to the cap, counting Tasks in flight and places taken", () => {
    const inFlight = new Map<string, number>([["alice", 1]]);
    const limit = new CallerLimit(3, (c) => inFlight.get(c.client) ?? 0);
    const r1 = limit.reserve(alice);
    limit.reserve(alice);
    let err: unknown;
    try {
      limit.reserve(alice);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CallError);
    const ce = err as CallError;
    expect(ce.code).toBe(errorCodes.limitExceeded);
    expect(ce.status).toBe(429);
    expect(ce.data).toEqual({ reason: "CallerInFlightLimit", limit: 3, inFlight: 3 });
    expect(ce.message).toBe(
      "Too many calls in flight: alice@example.com has 3 Tasks unfinished, at most 3; try again when some finish",
    );
    // Another caller has its own places.
    limit.reserve(bob);
    limit.reserve(bob);
    limit.reserve(bob);
    expect(() => limit.reserve(bob)).toThrow("bob has 3 Tasks unfinished");
    // Releasing gives the place back, once however often it is called.
    r1();
    r1();
    limit.reserve(alice);
    expect(() => limit.reserve(alice)).toThrow(CallError);
  });

  test("a cap of one lets one call through at a time", () => {
    const limit = new CallerLimit(1, () => 0);
    const release = limit.reserve(alice);
    expect(() => limit.reserve(alice)).toThrow(CallError);
    release();
    limit.reserve(alice)();
    expect(reserved(limit).size).toBe(0);
  });

  test("the count of Tasks in flight alone can reach the cap", () => {
    const limit = new CallerLimit(2, () => 2);
    expect(() => limit.reserve(alice)).toThrow("has 2 Tasks unfinished, at most 2");
    expect(reserved(limit).size).toBe(0);
  });

  test("places taken are forgotten when all are released", () => {
    const limit = new CallerLimit(5, () => 0);
    const a = limit.reserve(alice);
    const b = limit.reserve(alice);
    a();
    expect([...reserved(limit).values()]).toEqual([1]);
    b();
    expect(reserved(limit).size).toBe(0);
  });
});
