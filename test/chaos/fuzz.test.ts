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

// Two requests with one JSON-RPC id in flight at once on one session: the
// second is refused (-32600) rather than left unanswered (the SDK's transport
// routes responses by id).
test("a request id reused while in flight gets a clear answer, not a hang", () => {
  expect(report.failuresByGenerator.duplicateId ?? 0).toBe(0);
});
