import { describe, expect, test } from "bun:test";
import { callTool, toolError } from "../../../lib/agent/testing.ts";
import type { InputRequest } from "../../../lib/agent/tool.ts";
import { codeOf, promptFor, reportRun, summarize, writeCode } from "./tools.ts";

/** A client whose model answers every sampling request with this content, and the requests it saw. */
function model(content: unknown, extra: Record<string, unknown> = { model: "test-model" }) {
  const asked: Record<string, InputRequest>[] = [];
  return {
    asked,
    answer: (requests: Record<string, InputRequest>) => {
      asked.push(requests);
      return Object.fromEntries(Object.keys(requests).map((k) => [k, { role: "assistant", content, ...extra }]));
    },
  };
}

describe("write_code", () => {
  test("asks the client's model once, under the key code, and returns the program from its fenced block", async () => {
    const m = model({ type: "text", text: "Here it is:\n```python\nprint(sum(range(10)))\n```\nIt prints 45." });
    const out = await callTool(
      writeCode,
      { goal: "prints the sum of 0 to 9", language: "python" },
      { answer: m.answer },
    );
    expect(out).toEqual({ code: "print(sum(range(10)))", language: "python", model: "test-model" });
    expect(m.asked).toHaveLength(1);
    const request = m.asked[0]?.code;
    expect(request?.method).toBe("sampling/createMessage");
    expect(request?.params).toMatchObject({
      messages: [
        { role: "user", content: { type: "text", text: "Write a Python 3 program that prints the sum of 0 to 9" } },
      ],
      maxTokens: 1024,
      includeContext: "none",
    });
    expect(String(request?.params?.systemPrompt)).toContain("fenced code block");
  });

  test("takes an answer without a fence as it is, and the text blocks of a list of blocks", async () => {
    const plain = model({ type: "text", text: "  console.log(6 * 7)\n" }, {});
    expect(await callTool(writeCode, { goal: "x", language: "javascript" }, { answer: plain.answer })).toEqual({
      code: "console.log(6 * 7)",
      language: "javascript",
    });
    const blocks = model([
      { type: "image", data: "", mimeType: "image/png" },
      { type: "text", text: "```js\nconsole.log(1)\n```" },
    ]);
    expect(
      (await callTool(writeCode, { goal: "x", language: "javascript", maxTokens: 64 }, { answer: blocks.answer })).code,
    ).toBe("console.log(1)");
    expect(blocks.asked[0]?.code?.params?.maxTokens).toBe(64);
  });

  test("an answer with no program fails the call, NoCode, not retried", async () => {
    const e = await toolError(
      callTool(writeCode, { goal: "x", language: "python" }, { answer: model({ type: "text", text: "  " }).answer }),
    );
    expect(e).toMatchObject({ reason: "NoCode", retryable: false });
  });

  test("refuses a goal that is missing or too long, and a language the code-runner does not run", async () => {
    for (const input of [
      { language: "python" },
      { goal: "x".repeat(4001), language: "python" },
      { goal: "x", language: "ruby" },
    ])
      expect((await toolError(callTool(writeCode, input, { answer: model({}).answer }))).reason).toBe("InvalidInput");
  });
});

describe("codeOf", () => {
  test.each([
    { name: "a fenced block", given: "```python\nx = 1\nprint(x)\n```", want: "x = 1\nprint(x)" },
    { name: "the first of two blocks", given: "```\na()\n```\nor\n```\nb()\n```", want: "a()" },
    { name: "a tilde fence", given: "~~~\nprint(2)\n~~~", want: "print(2)" },
    { name: "no fence", given: "print(3)", want: "print(3)" },
    { name: "nothing", given: "\n", want: "" },
  ])("$name", ({ given, want }) => {
    expect(codeOf(given)).toBe(want);
  });
});

test("the prompt names the language and what the sandbox allows", () => {
  const p = promptFor("adds two numbers", "javascript");
  expect(p.user).toBe("Write a JavaScript program that adds two numbers");
  expect(p.system).toContain("no network");
});

describe("report_run", () => {
  test.each([
    {
      name: "a clean run",
      given: { exitCode: 0, signal: null, stdout: "45\n", stderr: "", timedOut: false, durationMs: 23.4 },
      want: { ok: true, summary: 'the python program exited 0 in 23 ms, printed "45".' },
    },
    {
      name: "a failing run says what it wrote on stderr",
      given: { exitCode: 1, stdout: "", stderr: "Traceback …\nZeroDivisionError\n" },
      want: { ok: false, summary: 'the python program exited 1, said "Traceback …\\nZeroDivisionError" on stderr.' },
    },
    {
      name: "a timeout",
      given: { exitCode: null, signal: "SIGKILL", stdout: "", timedOut: true, durationMs: 10_000 },
      want: { ok: false, summary: "the python program timed out in 10000 ms." },
    },
    {
      name: "a signal and output cut off",
      given: { exitCode: null, signal: "SIGXCPU", stdout: "x".repeat(300), outputTruncated: true },
      want: {
        ok: false,
        summary: `the python program was killed by SIGXCPU, printed "${"x".repeat(200)}…", its output was cut off.`,
      },
    },
  ])("$name", ({ given, want }) => {
    expect(summarize(given, "python")).toEqual(want);
  });

  test("returns the summary, the output trimmed and the exit code", async () => {
    const out = await callTool(reportRun, {
      run: { exitCode: 0, stdout: "45\n", stderr: "" },
      goal: "sums",
      language: "python",
      code: "a\nb",
    });
    expect(out).toEqual({
      ok: true,
      summary: 'the python program exited 0, printed "45".',
      output: "45",
      exitCode: 0,
      goal: "sums",
      lines: 2,
    });
  });

  test("refuses a run that is not run_code's result", async () => {
    expect((await toolError(callTool(reportRun, { run: { stdout: "x" } }))).reason).toBe("InvalidInput");
  });
});
