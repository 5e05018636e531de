/**
 * Fuzzes a gateway process with generated inputs (10,000 by default) and
 * checks that each gets a clear error, that the gateway survives and that its
 * memory comes back to steady. The seed is printed; SEED= replays a run.
 *   bun bench/fuzz-gateway.ts
 *   INPUTS=2000 SEED=42 CONCURRENCY=8 bun bench/fuzz-gateway.ts
 */
import { formatFuzzReport, runFuzz } from "./chaos/fuzz.ts";
import { seedFromEnv } from "./chaos/prng.ts";

const report = await runFuzz({
  inputs: Number(process.env.INPUTS ?? 10_000),
  concurrency: Number(process.env.CONCURRENCY ?? 8),
  seed: seedFromEnv(),
});
console.log(`\n${formatFuzzReport(report)}`);
if (process.env.OUT) await Bun.write(process.env.OUT, `${JSON.stringify(report, null, 2)}\n`);
process.exit(report.ok ? 0 : 1);
