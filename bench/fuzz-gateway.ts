/**
 * Fuzzes a gateway process with generated inputs (10,000 by default) and
 * checks that each gets a clear error, that the gateway survives and that its
 * memory comes back to steady. The seed is printed; SEED= replays a run. Ends
 * with one JSON line of the figures (OUT= writes the whole report).
 *   bun bench/fuzz-gateway.ts
 *   INPUTS=2000 SEED=42 CONCURRENCY=8 bun bench/fuzz-gateway.ts
 */
import { formatFuzzReport, runFuzz } from "./chaos/fuzz.ts";
import { seedFromEnv } from "./chaos/prng.ts";
import { printFigures } from "./stats.ts";

const concurrency = Number(process.env.CONCURRENCY ?? 8);
const report = await runFuzz({
  inputs: Number(process.env.INPUTS ?? 10_000),
  concurrency,
  seed: seedFromEnv(),
});
console.log(`\n${formatFuzzReport(report)}`);
if (process.env.OUT) await Bun.write(process.env.OUT, `${JSON.stringify(report, null, 2)}\n`);
const { answers, failures, rssMiB } = report;
printFigures("fuzz-gateway", {
  ok: report.ok,
  seed: report.seed,
  inputs: report.inputs,
  concurrency,
  seconds: report.durationSeconds,
  answers: {
    http_4xx: answers.http4xx,
    jsonrpc_error: answers.jsonRpcError,
    internal_error: answers.internalError,
    accepted: answers.accepted,
    held_stream: answers.heldStream,
  },
  failures: {
    http_5xx: failures.http5xx,
    hangs: failures.hangs,
    dropped: failures.dropped,
    unclear_2xx: failures.unclear2xx,
  },
  gateway_alive: report.gatewayAlive,
  // the gateway's RSS; the baseline is its steady RSS before the inputs
  rss_mib: {
    steady_before: rssMiB.steadyBefore,
    peak: rssMiB.peak,
    after_10s: rssMiB.after10s,
    after_30s: rssMiB.after30s,
    peak_vs_steady_before: rssMiB.peak / rssMiB.steadyBefore,
    after_30s_vs_steady_before: rssMiB.after30s / rssMiB.steadyBefore,
  },
});
process.exit(report.ok ? 0 : 1);
