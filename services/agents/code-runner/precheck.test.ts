// The precheck against each rule: every case first shows the snippet
// accepted without its forbidden part, so a refusal test can fail.
import { describe, expect, test } from "bun:test";
import { agentProgram } from "../../../lib/agent/config.ts";
import { toolError } from "../../../lib/agent/testing.ts";
import { ConfigError, loadConfig } from "../../../lib/config/config.ts";
import { codeRunnerSettings, precheckPolicy } from "./config.ts";
import {
  defaultPolicy,
  describeFindings,
  enforcePrecheck,
  type Finding,
  type PrecheckPolicy,
  precheck,
  type RuleId,
} from "./precheck.ts";
import type { Language } from "./sandbox.ts";

interface Case {
  name: string;
  language: Language;
  /** The snippet without the forbidden part: no findings. */
  allowed: string;
  refused: string;
  rule: RuleId;
  line: number;
  column?: number;
}

const py = (name: string, allowed: string, refused: string, rule: RuleId, line: number, column?: number): Case => ({
  name,
  language: "python",
  allowed,
  refused,
  rule,
  line,
  column,
});
const js = (name: string, allowed: string, refused: string, rule: RuleId, line: number, column?: number): Case => ({
  name,
  language: "javascript",
  allowed,
  refused,
  rule,
  line,
  column,
});

const check = (language: Language, code: string, policy: PrecheckPolicy = defaultPolicy) =>
  precheck(language, code, policy);

const rules: Case[] = [
  // forbidden-import
  py("import", "import math\nx = 1\nimport json", "import math\nx = 1\nimport socket", "forbidden-import", 3, 8),
  py("from-import", "from math import sqrt", "from subprocess import run", "forbidden-import", 1, 1),
  py("dotted import", "import collections.abc", "import os.path", "forbidden-import", 1, 8),
  py("import as", "import statistics as st", "import shutil as st", "forbidden-import", 1, 8),
  py("importlib", "import json", "import importlib", "forbidden-import", 1, 8),
  py("__import__", 'm = __import__("math")', 'm = __import__("os")', "forbidden-import", 1, 5),
  py("relative import", "from json import dumps", "from . import dumps", "forbidden-import", 1, 1),
  js(
    "static import",
    'import { join } from "node:path";',
    'import { readFileSync } from "node:fs";',
    "forbidden-import",
    1,
  ),
  js("require", 'const u = require("util");', 'const cp = require("child_process");', "forbidden-import", 1, 12),
  js("import()", 'await import("node:zlib");', 'await import("node:net");', "forbidden-import", 1, 7),
  js("re-export", 'export * from "node:events";', 'export * from "node:fs";', "forbidden-import", 1),
  js("bun: modules", 'import { join } from "path";', 'import { dlopen } from "bun:ffi";', "forbidden-import", 1),
  js("the bun module", 'import { inspect } from "util";', 'import { spawn } from "bun";', "forbidden-import", 1),
  js("worker_threads", 'require("events");', 'require("worker_threads");', "forbidden-import", 1),
  js("a file path", 'require("path");', 'require("./secret.js");', "forbidden-import", 1),
  // dynamic-code
  py("eval", "print(int('1') + 1)", "print(eval('1') + 1)", "dynamic-code", 1, 7),
  py("exec", "x = 1\ny = 2", "x = 1\nexec('y = 2')", "dynamic-code", 2, 1),
  py("compile", "import re\nre.compile('a')", "import re\ncompile('a', 'f', 'exec')", "dynamic-code", 2, 1),
  py("__import__ computed", 'm = __import__("math")', 'name = "os"\nm = __import__(name)', "dynamic-code", 2, 5),
  py("eval by another name", "f = print", "f = eval", "dynamic-code", 1, 5),
  py("breakpoint", "print(1)", "breakpoint()", "dynamic-code", 1),
  js("eval", "console.log(Number('1') + 1);", "console.log(eval('1') + 1);", "dynamic-code", 1, 13),
  js("Function", "const f = (a) => a + 1;", 'const f = Function("a", "return a + 1");', "dynamic-code", 1, 11),
  js("new Function", "const f = new Map();", 'const f = new Function("return 1");', "dynamic-code", 1, 15),
  js("require computed", 'require("util");', 'const m = "f" + ["s"][0];\nrequire(m);', "dynamic-code", 2, 1),
  js(
    "import() computed",
    'await import("util");',
    "const m = process.argv[2];\nawait import(m);",
    "dynamic-code",
    2,
    7,
  ),
  js("setTimeout with a string", "setTimeout(() => 1, 10);", 'setTimeout("console.log(1)", 10);', "dynamic-code", 1),
  js("require as a value", 'const u = require("util");', "const r = require;", "dynamic-code", 1, 11),
  js("data: URL", 'await import("util");', 'await import("data:text/javascript,console.log(1)");', "dynamic-code", 1),
  js("Worker", "const m = new MessageChannel();", 'const w = new Worker("x.js");', "dynamic-code", 1),
  // system-api
  py("open", "data = input()", "data = open('/etc/passwd').read()", "system-api", 1, 8),
  py("io.open", "import io\nf = io.StringIO('x')", "import io\nf = io.open('x')", "system-api", 2, 5),
  js("process.binding", "process.stdout.write('x');", "process.binding('fs');", "system-api", 1, 1),
  js("process.getBuiltinModule", "process.exit(0);", "process.getBuiltinModule('fs');", "system-api", 1),
  js("Bun.spawn", "await Bun.sleep(1);", 'Bun.spawn(["ls"]);', "system-api", 1),
  js(
    "Bun.file",
    "const t = await Bun.stdin.text();",
    'const t = await Bun.file("/etc/passwd").text();',
    "system-api",
    1,
    17,
  ),
  js("Bun.write", "Bun.hash('x');", 'Bun.write("x", "y");', "system-api", 1),
  js("fetch", "const r = new Response('x');", "const r = await fetch('http://example.com');", "system-api", 1, 17),
  // introspection
  py("sys.modules", "import sys\nx = sys.stdin.read()", "import sys\nx = sys.modules['os']", "introspection", 2, 5),
  py("from sys import", "from sys import stdin", "from sys import modules", "introspection", 1, 17),
  py("sys as a value", "import sys\nsys.exit(0)", "import sys\ns = sys", "introspection", 2, 5),
  py(
    "__subclasses__",
    "print(().__class__.__name__)",
    "print(().__class__.__base__.__subclasses__())",
    "introspection",
    1,
  ),
  py("__globals__", "def f(): pass\nprint(f.__name__)", "def f(): pass\nprint(f.__globals__)", "introspection", 2),
  py("__builtins__", "print(len('x'))", "print(__builtins__)", "introspection", 1, 7),
  py("globals()", "x = 1\nprint(x)", "x = 1\nprint(globals())", "introspection", 2, 7),
  py(
    "a module's private name",
    "import collections\ncollections.Counter",
    "import collections\ncollections._sys",
    "introspection",
    2,
  ),
  py(
    "a module reaching sys",
    "import dataclasses\ndataclasses.field",
    "import dataclasses\ndataclasses.sys",
    "introspection",
    2,
  ),
  py(
    "frames",
    "def g():\n    yield 1\nprint(next(g()))",
    "def g():\n    yield 1\nprint(g().gi_frame)",
    "introspection",
    3,
  ),
  js(
    "constructor.constructor",
    "const n = [].constructor.name;",
    'const F = [].constructor.constructor("return 1");',
    "introspection",
    1,
  ),
  js(
    "a function's constructor",
    "const n = (() => 1).name;",
    '(() => 1).constructor("return process")();',
    "introspection",
    1,
  ),
  js("calling .constructor", "const c = [].map.name;", '[].map.constructor("return 1")();', "introspection", 1),
  js("__proto__", "const p = Object.getPrototypeOf({});", "const p = ({}).__proto__;", "introspection", 1),
  js(
    "destructured constructor",
    "const { name } = () => 1;",
    "const { constructor: F } = () => 1;",
    "introspection",
    1,
  ),
  js("prepareStackTrace", "Error.captureStackTrace({});", "Error.prepareStackTrace = (e, s) => s;", "introspection", 1),
  // dynamic-attribute
  py("getattr computed", "x = 1\ngetattr(x, 'real')", "x = 1\nname = 'real'\ngetattr(x, name)", "dynamic-attribute", 3),
  py(
    "operator.attrgetter",
    "import operator\noperator.itemgetter(0)",
    "import operator\noperator.attrgetter('x')",
    "dynamic-attribute",
    2,
  ),
  js(
    "globalThis computed",
    "const c = globalThis.console;",
    "const k = 'x';\nconst v = globalThis[k];",
    "dynamic-attribute",
    2,
    11,
  ),
  js("process computed", "const a = process.argv;", "const k = 'x';\nprocess[k]();", "dynamic-attribute", 2, 1),
  js("process as a value", "const a = process.argv;", "const p = process;", "dynamic-attribute", 1, 11),
  js(
    "globalThis as a value",
    'if (typeof window === "undefined") console.log(1);',
    "Reflect.get(globalThis, 'x');",
    "dynamic-attribute",
    1,
  ),
];

const evasions: Case[] = [
  py("getattr on builtins", "getattr(1, 'real')", 'getattr(__builtins__, "ev" + "al")("1")', "introspection", 1, 9),
  py("builtins by a folded key", "print(1)", 'globals()["__buil" + "tins__"]', "introspection", 1),
  py("a dunder by join", "x = ''.join(['a', 'b'])", "x = ''.join(['__glo', 'bals__'])", "introspection", 1),
  py("a dunder in an f-string", "x = f\"{'a'}b\"", "x = f\"{'__sub'}classes__\"", "introspection", 1),
  py("a dunder through getattr", "getattr(f, 'real')", "getattr(f, '__globals__')", "introspection", 1),
  // a coding declaration turns +AAo- into a newline when the file is run: line 3 of the program Python reads
  py(
    "a coding declaration",
    "# coding: utf-7\nx = 1\n",
    "# coding: utf-7\nx = 1 +AAo-import os\n",
    "forbidden-import",
    3,
  ),
  // identifiers are NFKC-normalised: the fullwidth name is eval
  py("a fullwidth name", "print(1)", "ｅｖａｌ('1')", "dynamic-code", 1),
  py("vars", "print(1)", "print(vars())", "introspection", 1),
  py(
    "a module's attribute through getattr",
    "import sys\ngetattr(sys, 'argv')",
    "import sys\ngetattr(sys, 'modules')",
    "introspection",
    2,
  ),
  js("globalThis by a folded key", "globalThis.console.log(1);", 'globalThis["ev" + "al"]("1");', "dynamic-code", 1),
  js("globalThis by a template", "globalThis.console.log(1);", `globalThis[\`ev\${"al"}\`]("1");`, "dynamic-code", 1),
  js("globalThis by join", "globalThis.console.log(1);", "globalThis[['ev', 'al'].join('')]('1');", "dynamic-code", 1),
  js(
    "a global through globalThis",
    "globalThis.process.exit(0);",
    "globalThis.process.binding('fs');",
    "system-api",
    1,
  ),
  js("an escaped identifier", "console.log(1);", "\\u0065val('1');", "dynamic-code", 1),
  js(
    "a named function's constructor",
    "function f() {}\nf.name;",
    'function f() {}\nf.constructor("return 1")();',
    "introspection",
    2,
  ),
  js("import.meta.require", "console.log(import.meta.url);", 'import.meta.require("fs");', "dynamic-code", 1),
  js("module.require", "module.exports = 1;", 'module.require("fs");', "dynamic-code", 1),
  js("a computed member of a function", "(() => 1).name;", "const k = 'x';\n(() => 1)[k];", "dynamic-attribute", 2),
];

describe("precheck rules", () => {
  test.each(rules)("$language: $name ($rule)", async ({ language, allowed, refused, rule, line, column }) => {
    expect(await check(language, allowed)).toEqual([]);
    const found = await check(language, refused);
    expect(found.map((f) => f.rule)).toContain(rule);
    const f = found.find((x) => x.rule === rule) as Finding;
    expect(f.line).toBe(line);
    if (column !== undefined) expect(f.column).toBe(column);
  });
});

describe("precheck evasions", () => {
  test.each(evasions)("$language: $name ($rule)", async ({ language, allowed, refused, rule, line, column }) => {
    expect(await check(language, allowed)).toEqual([]);
    const found = await check(language, refused);
    expect(found.map((f) => f.rule)).toContain(rule);
    const f = found.find((x) => x.rule === rule) as Finding;
    expect(f.line).toBe(line);
    if (column !== undefined) expect(f.column).toBe(column);
  });
});

describe("precheck syntax", () => {
  test.each([
    { language: "python" as const, code: "x = 1\ndef f(:\n    pass", line: 2, column: 7 },
    { language: "python" as const, code: "x = 1\né = (\n", line: 2, column: 5 },
    { language: "python" as const, code: "x = 1\n\0", line: 1, column: 1 },
    { language: "javascript" as const, code: "const x = 1;\nlet y = ;", line: 2, column: 9 },
    { language: "javascript" as const, code: "const x = <div/>;", line: 1, column: 11 },
  ])("a $language syntax error is a finding with its place", async ({ language, code, line, column }) => {
    expect(await check(language, code)).toEqual([{ rule: "syntax-error", line, column, message: expect.any(String) }]);
  });

  test("sloppy-mode JavaScript parses as a script", async () => {
    expect(await check("javascript", "with (Math) { console.log(max(1, 2)); }\nvar n = 010;")).toEqual([]);
  });

  test("nesting too deep to parse is refused, not run unchecked", async () => {
    const deepPython = `x = ${Array.from({ length: 30_000 }, () => "1").join("+")}`;
    const deepJs = `${"[".repeat(30_000)}${"]".repeat(30_000)}`;
    expect((await check("python", deepPython)).map((f) => f.rule)).toEqual(["too-complex"]);
    expect((await check("javascript", deepJs)).map((f) => f.rule)).toEqual(["too-complex"]);
  });
});

describe("precheck policy", () => {
  test("* allows any module but those of files, processes and loaders", async () => {
    const any = { ...defaultPolicy, pythonModules: ["*"], javascriptModules: ["*"] };
    expect(await check("python", "import xml.dom", defaultPolicy)).not.toEqual([]);
    expect(await check("python", "import xml.dom", any)).toEqual([]);
    expect((await check("python", "import os", any)).map((f) => f.rule)).toEqual(["forbidden-import"]);
    expect(await check("javascript", 'import x from "left-pad";', any)).toEqual([]);
    expect((await check("javascript", 'import fs from "node:fs";', any)).map((f) => f.rule)).toEqual([
      "forbidden-import",
    ]);
    expect((await check("javascript", 'import "bun:sqlite";', any)).map((f) => f.rule)).toEqual(["forbidden-import"]);
  });

  test("a module named in the policy is allowed, even one * does not allow", async () => {
    const withOs = { ...defaultPolicy, pythonModules: [...defaultPolicy.pythonModules, "os"] };
    expect(await check("python", "import os\nprint(os.getcwd())", withOs)).toEqual([]);
    const withFs = { ...defaultPolicy, javascriptModules: ["fs"] };
    expect(await check("javascript", 'import { readFileSync } from "node:fs";', withFs)).toEqual([]);
  });

  test("a disabled rule is not applied; the others still are", async () => {
    const noDynamic: PrecheckPolicy = { ...defaultPolicy, disabledRules: ["dynamic-code"] };
    expect(await check("python", "print(eval('1'))", noDynamic)).toEqual([]);
    expect((await check("python", "import socket\neval('1')", noDynamic)).map((f) => f.rule)).toEqual([
      "forbidden-import",
    ]);
  });

  test("the check can be turned off", async () => {
    expect(await check("python", "import os", { ...defaultPolicy, enabled: false })).toEqual([]);
  });

  test("the policy comes from the agent's settings", () => {
    const program = agentProgram("code-runner", codeRunnerSettings);
    const config = loadConfig(program, [], {
      CODE_RUNNER_PYTHON_MODULES: "math,json",
      CODE_RUNNER_JAVASCRIPT_MODULES: "*",
      CODE_RUNNER_PRECHECK_DISABLED_RULES: "dynamic-attribute",
    });
    expect(precheckPolicy(config)).toEqual({
      enabled: true,
      pythonModules: ["math", "json"],
      javascriptModules: ["*"],
      disabledRules: ["dynamic-attribute"],
    });
    expect(precheckPolicy(loadConfig(program, [], {}))).toEqual({ ...defaultPolicy, disabledRules: [] });
    expect(precheckPolicy(loadConfig(program, ["--precheck=false"], {})).enabled).toBe(false);
    expect(() => loadConfig(program, [], { CODE_RUNNER_PRECHECK_DISABLED_RULES: "no-such-rule" })).toThrow(ConfigError);
    expect(() => loadConfig(program, [], { CODE_RUNNER_PYTHON_MODULES: "os;rm" })).toThrow(ConfigError);
  });
});

describe("precheck refusals", () => {
  test("name the rule, the line and the column", async () => {
    const code = "import math\nx = 1\nimport socket\n";
    expect(describeFindings(await check("python", code))).toBe(
      'precheck: line 3, column 8: import of "socket" is forbidden (rule forbidden-import)',
    );
  });

  test("list the first five findings and count the rest", async () => {
    const code = Array.from({ length: 7 }, (_, i) => `eval('${i}')`).join("\n");
    const text = describeFindings(await check("python", code));
    expect(text).toStartWith(
      "precheck: line 1, column 1: eval runs code that is not checked (rule dynamic-code); line 2",
    );
    expect(text).toEndWith("; and 2 more");
  });

  test("fail the Task as PrecheckFailed, not retryable", async () => {
    const err = await toolError(enforcePrecheck("javascript", 'require("child_process")', defaultPolicy));
    expect(err).toMatchObject({
      reason: "PrecheckFailed",
      retryable: false,
      message: 'precheck: line 1, column 1: import of "child_process" is forbidden (rule forbidden-import)',
    });
    await enforcePrecheck("javascript", 'require("util")', defaultPolicy);
  });

  test("a checker that cannot finish is PrecheckUnavailable, retryable, and refuses the snippet", async () => {
    const err = await toolError(enforcePrecheck("python", "print(1)", { ...defaultPolicy, checkerTimeoutMs: 1 }));
    expect(err).toMatchObject({ reason: "PrecheckUnavailable", retryable: true });
    expect(err.message).toContain("ran past 1 ms");
  });
});

describe("precheck at size", () => {
  // The tool takes up to 64 KiB of code; the check must find the one bad line at the end of that much.
  const lines = (n: number, line: (i: number) => string) => Array.from({ length: n }, (_, i) => line(i)).join("\n");

  test("a 64 KiB Python snippet", async () => {
    const body = lines(1_400, (i) => `def f${i}(x):\n    return [math.sqrt(v) + ${i} for v in range(x)]`);
    const code = `import math\n${body}`.slice(0, 64 * 1024 - 40);
    const clean = code.slice(0, code.lastIndexOf("\ndef "));
    expect(await check("python", clean)).toEqual([]);
    const refused = await check("python", `${clean}\nimport socket`);
    expect(refused).toEqual([
      expect.objectContaining({ rule: "forbidden-import", line: clean.split("\n").length + 1 }),
    ]);
  });

  test("a 64 KiB JavaScript snippet", async () => {
    const body = lines(1_200, (i) => `function f${i}(x) { return [1, 2, 3].map((v) => Math.sqrt(v) + x + ${i}); }`);
    const clean = body.slice(0, body.lastIndexOf("\nfunction ", 64 * 1024 - 40));
    expect(await check("javascript", clean)).toEqual([]);
    const refused = await check("javascript", `${clean}\nrequire("fs");`);
    expect(refused).toEqual([
      expect.objectContaining({ rule: "forbidden-import", line: clean.split("\n").length + 1 }),
    ]);
  });
});
