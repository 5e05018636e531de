/** Small helpers for benchmark figures: percentiles and aligned tables. */

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function summarize(samplesMs: number[]): { p50: number; p99: number; mean: number; n: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { p50: percentile(s, 50), p99: percentile(s, 99), mean, n: s.length };
}

export const fmt = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");

export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length))) ?? [];
  return cells.map((r) => r.map((c, i) => c.padStart(widths[i] ?? 0)).join("  ")).join("\n");
}

/** `runs` timings (ms) of `fn`, after one untimed call that warms caches. */
export async function timeRuns(runs: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return samples;
}

/** A figure as JSON keeps it: `digits` decimals at most, and null for one that could not be measured. */
export function figure(x: number, digits = 3): number | null {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : null;
}

/** A bench's figures: numbers, nested by case, or one per round; a flag or a name where a number would not say it. */
export type Figures = { [name: string]: Figure };
export type Figure = number | number[] | boolean | string | null | undefined | Figures;

function rounded(v: Figure): Figure {
  if (typeof v === "number") return figure(v);
  if (Array.isArray(v)) return v.map((x) => figure(x) ?? Number.NaN);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rounded(x)]));
}

/**
 * Prints a bench's figures as its last line on stdout, after its table: one JSON object,
 * `{"bench": name, ...figures}`, every number rounded by `figure` (so a ratio is `0.734`, not a
 * string), ratios named `<figure>_vs_<baseline>`. One line, so that runs can be collected and
 * compared with `tail -n 1`.
 */
export function printFigures(bench: string, figures: Figures): void {
  console.log(JSON.stringify({ bench, ...(rounded(figures) as Figures) }));
}

/** What pooling a way's rounds needs of each round: its calls, its time and its latencies. */
export interface RoundRun {
  calls: number;
  seconds: number;
  lat: number[];
}

/**
 * A way's rounds as one: calls and time summed (the rate over all its time), latencies joined,
 * and `perCall` to average any per-call figure of the rounds over all their calls.
 */
export function poolRounds<R extends RoundRun>(runs: R[]) {
  const calls = runs.reduce((a, r) => a + r.calls, 0);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  return {
    calls,
    seconds,
    rate: calls / seconds,
    lat: runs.flatMap((r) => r.lat),
    perCall: (f: (r: R) => number) => runs.reduce((a, r) => a + f(r) * r.calls, 0) / calls,
  };
}

/**
 * `order` turned left by `by`: round r of a bench that runs its ways in
 * rounds starts with the r-th, so no way always runs first or last while the
 * machine's speed drifts.
 */
export const turned = <T>(order: readonly T[], by: number): T[] =>
  order.map((_, i) => order[(i + by) % order.length] as T);
