// The pure parts of the CLI's output: kubectl's ages, event times inside their second, call arguments.
import { describe, expect, test } from "bun:test";
import { toolArguments } from "./call.ts";
import { eventTimeMs } from "./describe.ts";
import { humanDuration } from "./output.ts";
import { valueAt } from "./printer-columns.ts";

describe("humanDuration, as kubectl prints AGE", () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  test.each([
    { name: "seconds", given: 5 * s, want: "5s" },
    { name: "up to two minutes in seconds", given: 119 * s, want: "119s" },
    { name: "minutes and seconds", given: 3 * m + 7 * s, want: "3m7s" },
    { name: "whole minutes", given: 4 * m, want: "4m" },
    { name: "minutes only past ten", given: 42 * m + 5 * s, want: "42m" },
    { name: "hours and minutes", given: 5 * h + 30 * m, want: "5h30m" },
    { name: "hours only past eight", given: 20 * h + 30 * m, want: "20h" },
    { name: "days and hours", given: 3 * d + 4 * h, want: "3d4h" },
    { name: "days", given: 40 * d, want: "40d" },
    { name: "years and days", given: 800 * d, want: "2y70d" },
    { name: "a clock slightly behind", given: -500, want: "0s" },
  ])("$name", ({ given, want }) => {
    expect(humanDuration(given)).toBe(want);
  });
});

describe("eventTimeMs", () => {
  const second = "2026-01-02T03:04:05Z";
  const base = Date.parse(second);
  test.each([
    {
      name: "our recorder: hex milliseconds and 4 random hex",
      given: `t.${(base + 250).toString(16)}ab12`,
      want: base + 250,
    },
    {
      name: "client-go: hex nanoseconds",
      given: `t.${(BigInt(base + 640) * 1_000_000n).toString(16)}`,
      want: base + 640,
    },
    { name: "a name that is no time", given: "t.deadbeef", want: base },
    { name: "no suffix", given: "plain", want: base },
  ])("$name", ({ given, want }) => {
    expect(eventTimeMs(given, second)).toBe(want);
  });
});

describe("toolArguments", () => {
  test.each([
    { name: "strings stay strings", given: { pairs: ["text=hi there"] }, want: { text: "hi there" } },
    {
      name: "JSON values are parsed",
      given: { pairs: ["n=42", "ok=true", "xs=[1,2]"] },
      want: { n: 42, ok: true, xs: [1, 2] },
    },
    { name: "the value may hold =", given: { pairs: ["q=a=b"] }, want: { q: "a=b" } },
    { name: "--arg wins over --json", given: { json: '{"a":1,"b":2}', pairs: ["b=3"] }, want: { a: 1, b: 3 } },
  ])("$name", ({ given, want }) => {
    expect(toolArguments(given.json, given.pairs)).toEqual(want);
  });
});

describe("valueAt: the JSONPath forms of the CRDs' printer columns", () => {
  const agent = {
    status: {
      phase: "Ready",
      conditions: [
        { type: "Other", reason: "Nope" },
        { type: "Ready", reason: "HeartbeatFresh" },
      ],
    },
  };
  test.each([
    { path: ".status.phase", want: "Ready" },
    { path: ".status.missing.deeper", want: undefined },
    { path: '.status.conditions[?(@.type=="Ready")].reason', want: "HeartbeatFresh" },
    { path: ".status.conditions[?(@.type=='Other')].reason", want: "Nope" },
    { path: '.status.conditions[?(@.type=="Absent")].reason', want: undefined },
    { path: '.status.phase[?(@.type=="Ready")].reason', want: undefined },
  ])("$path", ({ path, want }) => {
    expect(valueAt(agent, path)).toEqual(want);
  });
});
