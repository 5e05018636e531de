// Fuzzing the gateway, short: 2,000 seeded inputs (SEED= replays a run). Each
// must get a clear answer (HTTP 4xx or a JSON-RPC error), never a 5xx, a hang
// or a dropped connection, and the gateway process must survive.
// bench/fuzz-gateway.ts is the full-size run.
import { beforeAll, expect, test } from "bun:test";
import { type FuzzReport, formatFuzzReport, runFuzz } from "../../bench/chaos/fuzz.ts";

let report: FuzzReport;

beforeAll(async () => {
  report = await runFuzz({
    inputs: Number(process.env.FUZZ_INPUTS ?? 2000),
    seed: Number(process.env.SEED ?? 20261130),
    say: () => {},
  });
  console.log(formatFuzzReport(report));
}, 240_000);

test("every generated input gets a clear answer and the gateway survives", () => {
  const { duplicateId: _, ...others } = report.failuresByGenerator;
  expect(others).toEqual({});
  expect(report.gatewayAlive).toBe(true);
});

// Known: two requests with one JSON-RPC id in flight at once on one session
// leave one HTTP request unanswered (the SDK's transport maps response
// streams by request id). Remove `.failing` once the gateway answers both
// (for example with -32600 for an id already in flight).
test.failing("a request id reused while in flight still gets both answers", () => {
  expect(report.failuresByGenerator.duplicateId ?? 0).toBe(0);
});
