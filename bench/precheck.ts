/**
 * The code-runner's precheck: how long one check takes for a small snippet
 * and for the largest the tool takes (64 KiB), Python (a python3 child
 * process parsing with ast) and JavaScript (acorn, in process), against the
 * baseline of starting python3 -I -S with nothing to do (what any Python
 * check costs at least); and for 64 KiB made to be slow to check (2,500-deep
 * attribute chains, long concatenations) and for 1 MB, which the check
 * refuses unread, with what the check says of each. Prints figures, then one
 * JSON line of them; asserts only that the ordinary snippets pass.
 *   bun bench/precheck.ts            (RUNS=50 by default)
 */
import { defaultPolicy, precheck } from "../services/agents/code-runner/precheck.ts";
import type { Language } from "../services/agents/code-runner/sandbox.ts";
import { pythonPath } from "../services/agents/code-runner/sandbox.ts";
import { type Figures, fmt, printFigures, summarize, table, timeRuns } from "./stats.ts";

const runs = Number(process.env.RUNS ?? 50);
const maxCode = 64 * 1024;

function fill(line: (i: number) => string): string {
  let code = "";
  for (let i = 0; code.length + line(i).length < maxCode; i++) code += line(i);
  return code;
}

const chain = (base: string) => `${base}${".real".repeat(2_500)}`;
// [name in the table, key in the JSON line, language, code]
const snippets: [string, string, Language, string][] = [
  [
    "python, 3 lines",
    "python_3_lines",
    "python",
    "import math\nxs = [math.sqrt(i) for i in range(10)]\nprint(sum(xs))\n",
  ],
  [
    "python, 64 KiB",
    "python_64kib",
    "python",
    `import math\n${fill((i) => `def f${i}(x):\n    return [math.sqrt(v) + ${i} for v in range(x)]\n`)}`,
  ],
  [
    "javascript, 3 lines",
    "javascript_3_lines",
    "javascript",
    "const xs = [1, 2, 3];\nconst ys = xs.map((x) => x * 2);\nconsole.log(ys);\n",
  ],
  [
    "javascript, 64 KiB",
    "javascript_64kib",
    "javascript",
    fill((i) => `function f${i}(x) { return [1, 2, 3].map((v) => Math.sqrt(v) + x + ${i}); }\n`),
  ],
  [
    "python, made slow: 64 KiB of 2,500-deep chains",
    "python_slow_chains",
    "python",
    `import math\n${fill(() => `y = ${chain("math")}\n`)}`,
  ],
  [
    "python, made slow: 64 KiB of concatenations",
    "python_slow_concatenations",
    "python",
    `x = ${"'a' + ".repeat((maxCode - 16) / 6)}'a'\n`,
  ],
  [
    "javascript, made slow: 64 KiB of 2,500-deep chains",
    "javascript_slow_chains",
    "javascript",
    fill(() => `y = ${chain("Math")};\n`),
  ],
  [
    "javascript, made slow: 64 KiB of concatenations",
    "javascript_slow_concatenations",
    "javascript",
    `x = ${"'a' + ".repeat((maxCode - 16) / 6)}'a';\n`,
  ],
  ["javascript, made too large: 1 MB", "javascript_too_large_1mb", "javascript", "x = 1;\n".repeat(150_000)],
];

const rows: (string | number)[][] = [["snippet", "bytes", "finding", "p50 ms", "p99 ms", "mean ms"]];
// the interpreter the check uses, started with nothing to do
const bare = summarize(
  await timeRuns(runs, async () => {
    await Bun.spawn([pythonPath(), "-I", "-S", "-c", "pass"], { stdout: "ignore", stderr: "ignore" }).exited;
  }),
);
rows.push(["baseline: python3 -I -S -c pass", 0, "-", fmt(bare.p50, 1), fmt(bare.p99, 1), fmt(bare.mean, 1)]);
const figures: Figures = { runs, python_start: { p50_ms: bare.p50, p99_ms: bare.p99, mean_ms: bare.mean } };
for (const [name, key, language, code] of snippets) {
  // what the check says of it: the ordinary snippets must pass, or the figures are of an early refusal
  const found = (await precheck(language, code, defaultPolicy))[0]?.rule ?? "-";
  if (!name.includes("made") && found !== "-") throw new Error(`${name}: expected no findings, got ${found}`);
  const s = summarize(await timeRuns(runs, () => precheck(language, code, defaultPolicy)));
  rows.push([name, code.length, found, fmt(s.p50, 1), fmt(s.p99, 1), fmt(s.mean, 1)]);
  figures[key] = {
    bytes: code.length,
    finding: found === "-" ? null : found,
    p50_ms: s.p50,
    p99_ms: s.p99,
    mean_ms: s.mean,
    p50_vs_python_start: s.p50 / bare.p50,
  };
}
console.log(`precheck, ${runs} runs each\n`);
console.log(table(rows));
printFigures("precheck", figures);
