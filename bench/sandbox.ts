/**
 * What the code-runner's sandbox adds to a trivial snippet: `print(1)` (Python)
 * and `console.log(1)` (JavaScript) run N times each three ways, in the same
 * run: the interpreter alone, the interpreter under the limits alone
 * (prlimit, as the runner did before the sandbox), and through runSnippet
 * (bubblewrap's namespaces, the seccomp filter, limits, a fresh working
 * folder). Prints p50/p99 per way and the sandbox's added p50, then one JSON
 * line of the figures.
 *
 *   bun bench/sandbox.ts [--n 40]
 */
import { runSnippet, type SandboxLimits } from "../services/agents/code-runner/sandbox.ts";
import { type Figures, fmt, printFigures, summarize, table, timeRuns } from "./stats.ts";

const n = Number(process.argv[process.argv.indexOf("--n") + 1]) || 40;
const limits: SandboxLimits = {
  cpuSeconds: 5,
  memoryMb: 256,
  wallMs: 10_000,
  maxOutputBytes: 65_536,
  maxProcesses: 16,
};
const interpreters = {
  python: ["/usr/bin/python3", "-I", "-S", "-c", "print(1)"],
  javascript: [process.execPath, "-e", "console.log(1)"],
} as const;
const rlimits = [
  "prlimit",
  "--cpu=5",
  "--as=1073741824",
  "--fsize=65536",
  "--nofile=64",
  "--nproc=17",
  "--core=0",
  "--",
];

const spawn = async (cmd: readonly string[]) => {
  const p = Bun.spawn([...cmd], { stdout: "pipe", stderr: "pipe" });
  await new Response(p.stdout).text();
  await p.exited;
};

const rows: (string | number)[][] = [["language", "way", "p50 ms", "p99 ms", "added p50 ms"]];
const figures: Figures = { runs: n, uid: process.getuid?.() };
for (const language of ["python", "javascript"] as const) {
  const bare = summarize(await timeRuns(n, () => spawn(interpreters[language])));
  const limited = summarize(await timeRuns(n, () => spawn([...rlimits, ...interpreters[language]])));
  const code = language === "python" ? "print(1)" : "console.log(1)";
  const sandboxed = summarize(
    await timeRuns(n, async () => {
      const r = await runSnippet(language, code, "", limits);
      if (r.stdout !== "1\n") throw new Error(`the sandboxed snippet printed ${JSON.stringify(r)}`);
    }),
  );
  rows.push([language, "interpreter", fmt(bare.p50, 1), fmt(bare.p99, 1), "-"]);
  rows.push([language, "prlimit", fmt(limited.p50, 1), fmt(limited.p99, 1), fmt(limited.p50 - bare.p50, 1)]);
  rows.push([language, "sandbox", fmt(sandboxed.p50, 1), fmt(sandboxed.p99, 1), fmt(sandboxed.p50 - bare.p50, 1)]);
  const way = (s: typeof bare) => ({
    p50_ms: s.p50,
    p99_ms: s.p99,
    added_p50_ms: s.p50 - bare.p50,
    p50_vs_interpreter: s.p50 / bare.p50,
  });
  figures[language] = {
    interpreter: { p50_ms: bare.p50, p99_ms: bare.p99 },
    prlimit: way(limited),
    sandbox: way(sandboxed),
  };
}
console.log(`trivial snippet, ${n} runs each (uid ${process.getuid?.()})`);
console.log(table(rows));
printFigures("sandbox", figures);
