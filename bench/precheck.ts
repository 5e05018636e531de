/**
 * The code-runner's precheck: how long one check takes for a small snippet
 * and for the largest the tool takes (64 KiB), Python (a python3 child
 * process parsing with ast) and JavaScript (acorn, in process), against the
 * baseline of starting python3 -I -S with nothing to do (what any Python
 * check costs at least). Prints figures; asserts nothing.
 *   bun bench/precheck.ts            (RUNS=50 by default)
 */
import { defaultPolicy, precheck, pythonPath } from "../services/agents/code-runner/precheck.ts";
import type { Language } from "../services/agents/code-runner/sandbox.ts";
import { fmt, summarize, table } from "./stats.ts";

const runs = Number(process.env.RUNS ?? 50);
const maxCode = 64 * 1024;

function fill(line: (i: number) => string): string {
  let code = "";
  for (let i = 0; code.length + line(i).length < maxCode; i++) code += line(i);
  return code;
}

const snippets: [string, Language, string][] = [
  ["python, 3 lines", "python", "import math\nxs = [math.sqrt(i) for i in range(10)]\nprint(sum(xs))\n"],
  [
    "python, 64 KiB",
    "python",
    `import math\n${fill((i) => `def f${i}(x):\n    return [math.sqrt(v) + ${i} for v in range(x)]\n`)}`,
  ],
  ["javascript, 3 lines", "javascript", "const xs = [1, 2, 3];\nconst ys = xs.map((x) => x * 2);\nconsole.log(ys);\n"],
  [
    "javascript, 64 KiB",
    "javascript",
    fill((i) => `function f${i}(x) { return [1, 2, 3].map((v) => Math.sqrt(v) + x + ${i}); }\n`),
  ],
];

async function time(fn: () => Promise<unknown>): Promise<number[]> {
  await fn(); // warm up
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return samples;
}

const rows: (string | number)[][] = [["snippet", "bytes", "p50 ms", "p99 ms", "mean ms"]];
// the interpreter the check uses, started with nothing to do
const bare = summarize(
  await time(async () => {
    await Bun.spawn([pythonPath(), "-I", "-S", "-c", "pass"], { stdout: "ignore", stderr: "ignore" }).exited;
  }),
);
rows.push(["baseline: python3 -I -S -c pass", 0, fmt(bare.p50, 1), fmt(bare.p99, 1), fmt(bare.mean, 1)]);
for (const [name, language, code] of snippets) {
  const found = await precheck(language, code, defaultPolicy);
  if (found.length > 0) throw new Error(`${name}: expected no findings, got ${JSON.stringify(found[0])}`);
  const s = summarize(await time(() => precheck(language, code, defaultPolicy)));
  rows.push([name, code.length, fmt(s.p50, 1), fmt(s.p99, 1), fmt(s.mean, 1)]);
}
console.log(`precheck, ${runs} runs each\n`);
console.log(table(rows));
