/**
 * code-writer tools, the model's half of the code workflow
 * (docs/examples/code-workflow.md): write_code asks the calling client's
 * model for a program (ctx.sample: sampling/createMessage, which the gateway
 * puts to the client that runs the call or the plan) and returns it for the
 * code-runner's run_code; report_run turns run_code's result into a short
 * summary. Neither runs anything: the code-runner checks and sandboxes the
 * program.
 */
import { defineTool, ToolError } from "../../../lib/agent/tool.ts";

export const capability = "code-writing";

export type Language = "python" | "javascript";

const languageNames: Record<Language, string> = { python: "Python 3", javascript: "JavaScript" };

/** The longest goal: a sentence or a paragraph, not a specification. */
const maxGoalChars = 4000;
/** The longest program write_code returns: run_code takes no more. */
export const maxCodeChars = 65_536;

/**
 * What the model is asked. It says what the code-runner allows, so that a
 * model that listens writes code the precheck lets through; one that does not
 * is refused there (PrecheckFailed), not here.
 */
export function promptFor(goal: string, language: Language): { system: string; user: string } {
  const lang = languageNames[language];
  return {
    system:
      `You write short, self-contained ${lang} programs. They run once, with no arguments, in a sandbox ` +
      "with no network, no files and no subprocesses, and only the standard library's computing modules " +
      "(math, statistics, json, re, itertools, collections, datetime; no os, sys beyond stdin, socket or " +
      "subprocess). The program prints its answer to stdout. Answer with the program only, in one fenced code block.",
    user: `Write a ${lang} program that ${goal}`,
  };
}

/** The text of a sampling answer's content: one block or a list of them; the text blocks only. */
function textOf(content: unknown): string {
  const blocks = Array.isArray(content) ? content : [content];
  return blocks
    .filter((b): b is { type: "text"; text: string } => b?.type === "text" && typeof b.text === "string")
    .map((b) => b.text)
    .join("\n");
}

/**
 * The program in a model's answer: the first fenced code block's body when
 * there is one (models wrap code in fences however they are asked), else the
 * whole answer.
 */
export function codeOf(answer: string): string {
  const fenced = /^\s*(`{3,}|~{3,})[^\n]*\n([\s\S]*?)\n\s*\1\s*$/m.exec(answer);
  return (fenced ? (fenced[2] as string) : answer).trim();
}

export const writeCode = defineTool({
  name: "write_code",
  title: "Write code",
  description:
    "Asks the calling client's model (sampling) for a short Python or JavaScript program that does what the goal " +
    "says, and returns it as { code, language } for run_code. Needs a client that answers sampling/createMessage.",
  capability,
  inputSchema: {
    type: "object",
    properties: {
      goal: {
        type: "string",
        minLength: 1,
        maxLength: maxGoalChars,
        description: "What the program does, as the end of 'Write a program that …'.",
      },
      language: { enum: ["python", "javascript"] },
      maxTokens: { type: "integer", minimum: 16, maximum: 8192, default: 1024 },
    },
    required: ["goal", "language"],
    additionalProperties: false,
  },
  outputSchema: {
    type: "object",
    properties: { code: { type: "string" }, language: { type: "string" }, model: { type: "string" } },
    required: ["code", "language"],
  },
  handler: async (
    { goal, language, maxTokens = 1024 }: { goal: string; language: Language; maxTokens?: number },
    ctx,
  ) => {
    const prompt = promptFor(goal, language);
    // Asked whatever the Task says of its client (ctx.client): a plan's step's Task may not record
    // the client that runs the plan, and the gateway refuses the question itself when that client
    // cannot answer it (InputNotSupported), as it refuses any call's.
    const answer = await ctx.sample(
      {
        messages: [{ role: "user", content: { type: "text", text: prompt.user } }],
        systemPrompt: prompt.system,
        maxTokens,
        includeContext: "none",
      },
      "code",
    );
    const code = codeOf(textOf(answer.content));
    if (!code) throw new ToolError("NoCode", "the client's model answered without a program");
    if (code.length > maxCodeChars)
      throw new ToolError("CodeTooLong", `the client's model answered a program of ${code.length} characters`);
    return { code, language, ...(typeof answer.model === "string" ? { model: answer.model } : {}) };
  },
});

/** What run_code returns (services/agents/code-runner/sandbox.ts RunResult); the report reads these. */
interface RunResult {
  exitCode?: number | null;
  signal?: string | null;
  stdout?: string;
  stderr?: string;
  timedOut?: boolean;
  outputTruncated?: boolean;
  durationMs?: number;
}

/** The longest output a summary quotes. */
const quotedChars = 200;

const quote = (s: string) => {
  const t = s.trim();
  return t.length > quotedChars ? `${t.slice(0, quotedChars)}…` : t;
};

/** A run's outcome in a sentence, and whether it ran to a zero exit. */
export function summarize(run: RunResult, language?: string): { summary: string; ok: boolean } {
  const what = `the ${language ? `${language} ` : ""}program`;
  const took = run.durationMs !== undefined ? ` in ${Math.round(run.durationMs)} ms` : "";
  const ok = run.exitCode === 0 && !run.timedOut;
  const how = run.timedOut
    ? `timed out${took}`
    : run.signal
      ? `was killed by ${run.signal}${took}`
      : `exited ${run.exitCode ?? "without a code"}${took}`;
  const out = quote(run.stdout ?? "");
  const err = quote(run.stderr ?? "");
  const parts = [`${what} ${how}`];
  if (out) parts.push(`printed ${JSON.stringify(out)}`);
  if (err && !ok) parts.push(`said ${JSON.stringify(err)} on stderr`);
  if (run.outputTruncated) parts.push("its output was cut off");
  return { summary: `${parts.join(", ")}.`, ok };
}

export const reportRun = defineTool({
  name: "report_run",
  title: "Report a run",
  description:
    "Summarizes run_code's result: whether the program ran to a zero exit, its output (trimmed) and a sentence saying so.",
  capability,
  inputSchema: {
    type: "object",
    properties: {
      run: {
        type: "object",
        description: "run_code's result.",
        properties: {
          exitCode: { type: ["integer", "null"] },
          signal: { type: ["string", "null"] },
          stdout: { type: "string" },
          stderr: { type: "string" },
          timedOut: { type: "boolean" },
          outputTruncated: { type: "boolean" },
          durationMs: { type: "number" },
        },
        required: ["exitCode", "stdout"],
      },
      goal: { type: "string", maxLength: maxGoalChars },
      language: { type: "string", maxLength: 20 },
      code: { type: "string", maxLength: maxCodeChars },
    },
    required: ["run"],
    additionalProperties: false,
  },
  handler: ({ run, goal, language, code }: { run: RunResult; goal?: string; language?: string; code?: string }) => {
    const { summary, ok } = summarize(run, language);
    return {
      ok,
      summary,
      output: (run.stdout ?? "").trim(),
      exitCode: run.exitCode ?? null,
      ...(goal !== undefined ? { goal } : {}),
      ...(code !== undefined ? { lines: code.split("\n").length } : {}),
    };
  },
});

export const tools = [writeCode, reportRun];
