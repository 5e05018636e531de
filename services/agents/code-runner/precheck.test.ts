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
import { type Language, useSandboxBinaries } from "./sandbox.ts";

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
    "import dataclasses\ndataclasses.asdict",
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
  js(
    "__proto__",
    "const p = Object.getPrototypeOf({}) === Object.prototype;",
    "const p = ({}).__proto__;",
    "introspection",
    1,
  ),
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

// Files through the standard library's own modules: command-line entry points, sys.argv, the
// standard streams' raw files, modules that hold other modules.
const stdlibFiles: Case[] = [
  py(
    "a module's command-line entry point",
    "import base64\nx = base64.b64encode(b'x')",
    "import base64\nbase64.main()",
    "system-api",
    2,
    1,
  ),
  py("an entry point imported", "from base64 import b64encode", "from base64 import main", "system-api", 1, 20),
  py("a test entry point", "import base64\nbase64.b64decode('eA==')", "import base64\nbase64.test()", "system-api", 2),
  py("json.tool", "import json\njson.dumps(1)", "import json.tool\njson.tool.main()", "forbidden-import", 1, 8),
  py("json.tool by from-import", "from json import dumps", "from json import tool", "introspection", 1),
  py(
    "a store to sys.argv",
    "import sys\nargs = sys.argv[1:]",
    "import sys\nsys.argv = ['x', '/etc/passwd']",
    "system-api",
    2,
    1,
  ),
  py(
    "sys.argv changed in place",
    "import sys\nn = len(sys.argv)\nprint(' '.join(sys.argv), *sys.argv, f'{sys.argv}')\nif not sys.argv: pass",
    "import sys\nn = len(sys.argv)\nsys.argv.append('/etc/passwd')",
    "system-api",
    3,
  ),
  py(
    "argv from sys",
    "from sys import argv\nfor a in argv[1:]:\n    print(a)",
    "from sys import argv\nargv[1:] = ['/etc/passwd']",
    "system-api",
    2,
  ),
  py("sys.argv as a value", "import sys\nargs = list(sys.argv)", "import sys\nargs = sys.argv", "system-api", 2, 8),
  py(
    "a stream's raw file",
    "import sys\ndata = sys.stdin.buffer.read()",
    "import sys\nf = type(sys.stdin.buffer.raw)('/etc/passwd')",
    "introspection",
    2,
  ),
  py(
    "a stream's raw file by its class",
    "import sys\nname = sys.stdin.buffer.__class__.__name__",
    "import sys\nraw = sys.stdin.buffer.detach()\nf = raw.__class__('/etc/passwd')",
    "introspection",
    2,
  ),
  py(
    "__class__",
    "x = ()\nsame = x.__class__ is tuple or isinstance(x, x.__class__)\nprint(x.__class__.__name__)",
    "x = ()\nc = x.__class__",
    "introspection",
    2,
    5,
  ),
  py(
    "enum's name for builtins",
    "import enum\nenum.Enum",
    "import enum\nenum.bltns.open('/etc/passwd')",
    "introspection",
    2,
  ),
  py(
    "a module reaching os.path",
    "import fnmatch\nfnmatch.fnmatch('a', '*')",
    "import fnmatch\nfnmatch.posixpath.exists('/etc/passwd')",
    "introspection",
    2,
  ),
  py(
    "a module reaching warnings (which reads files' lines)",
    "import typing\nx: typing.List[int] = []",
    "import typing\ntyping.warnings.formatwarning('', Warning, '/etc/passwd', 1)",
    "introspection",
    2,
  ),
  py("a private module", "import re\nre.compile('a')", "import re._compiler", "forbidden-import", 1, 8),
];

// Code from strings through typing and the modules that evaluate annotations.
const annotations: Case[] = [
  py(
    "a string annotation is code",
    "def f(x: 'int') -> 'list[int]': pass",
    "def f(x: 'eval(input())'): pass",
    "dynamic-code",
    1,
    10,
  ),
  py(
    "a string annotation typing evaluates",
    "import typing\ndef f(x: 'int'): pass\nprint(f.__name__)",
    "import typing\ndef f(x: 'eval(input())'): pass\ntyping.get_type_hints(f)",
    "dynamic-code",
    2,
    10,
  ),
  py(
    "typing.get_type_hints",
    "import typing\ndef f(x: 'int'): pass\nprint(f.__name__)",
    "import typing\ndef f(x: 'int'): pass\ntyping.get_type_hints(f)",
    "dynamic-code",
    3,
    1,
  ),
  py(
    "annotations set at run time",
    "def f(x): pass\nprint(f.__name__)",
    "def f(x): pass\nf.__annotations__['x'] = input()",
    "introspection",
    2,
  ),
  py("typing.ForwardRef", "from typing import List", "from typing import ForwardRef", "dynamic-code", 1),
  py(
    "a ForwardRef's _evaluate",
    "import typing\nt = typing.List[input()]",
    "import typing\nt = typing.List[input()].__args__[0]._evaluate({}, {}, frozenset())",
    "introspection",
    2,
  ),
  py(
    "functools.singledispatch (get_type_hints)",
    "import functools\n@functools.lru_cache\ndef f(x): pass",
    "import functools\n@functools.singledispatch\ndef f(x): pass",
    "dynamic-code",
    2,
  ),
  py(
    "a dataclass's Field renamed (exec of its name)",
    "import dataclasses\n@dataclasses.dataclass\nclass D:\n    x: list = dataclasses.field(default_factory=list)\nprint(dataclasses.asdict(D()))",
    "import dataclasses\n@dataclasses.dataclass\nclass D:\n    x: int = 0\ndataclasses.fields(D)[0].name = input()",
    "dynamic-code",
    5,
  ),
  py(
    "a Field kept by the snippet",
    "from dataclasses import dataclass, field\n@dataclass\nclass D:\n    x: list = field(default_factory=list)",
    "from dataclasses import dataclass, field\nf = field(default=0)\n@dataclass\nclass D:\n    x: int = f",
    "dynamic-code",
    2,
    5,
  ),
  py(
    "a Field in a class not made a dataclass",
    "from dataclasses import dataclass, field\n@dataclass\nclass D:\n    x: int = field(default=0)",
    "from dataclasses import dataclass, field\nclass D:\n    x: int = field(default=0)",
    "dynamic-code",
    3,
  ),
  py(
    "a dataclass's fields named in its body",
    "class C:\n    x: int = 1",
    "class C:\n    __annotations__ = {'x': int}",
    "introspection",
    2,
  ),
];

// Function without its name.
const functionWays: Case[] = [
  js("a builtin's constructor", "const n = Math.max.name;", "const F = Math.max.constructor;", "introspection", 1, 11),
  js(
    "a method's constructor",
    "const o = { f() {} };\nconst n = o.f.constructor.name;",
    "const o = { f() {} };\nconst F = o.f.constructor;",
    "introspection",
    2,
    11,
  ),
  js(
    "a constructor compared",
    "const isArray = (x) => x.constructor === Array || typeof x?.constructor === 'function';",
    "const F = [].map.bind(null).constructor;",
    "introspection",
    1,
  ),
  js(
    "Reflect.get of the constructor",
    "const v = Reflect.get({ a: 1 }, 'a');",
    "const F = Reflect.get(() => 0, 'constructor');",
    "introspection",
    1,
  ),
  js(
    "the constructor by a folded string",
    "const v = Reflect.get({ a: 1 }, 'a');",
    "const F = Reflect.get(() => 0, 'constr' + 'uctor');",
    "introspection",
    1,
  ),
  js(
    "a function's prototype's constructor",
    "const same = Object.getPrototypeOf(Math.max) === null;",
    "const fp = Object.getPrototypeOf(Math.max);\nconst F = fp.constructor;",
    "introspection",
    1,
  ),
  js(
    "a function's prototype",
    "const same = Reflect.getPrototypeOf([]) !== null;",
    "const fp = Reflect.getPrototypeOf(Math.max);",
    "introspection",
    1,
  ),
  js(
    "AsyncFunction",
    "const o = { async f() {} };\nconst n = o.f.name;",
    "const o = { async f() {} };\nconst AF = o.f.constructor;",
    "introspection",
    2,
  ),
  js(
    "GeneratorFunction",
    "const gen = [function* () {}][0];\nconst n = gen.name;",
    "const gen = [function* () {}][0];\nconst GF = gen.constructor;",
    "introspection",
    2,
  ),
  js(
    "every property at once",
    "const d = Object.getOwnPropertyDescriptor({ a: 1 }, 'a');",
    "const ds = Object.getOwnPropertyDescriptors(Object.prototype);",
    "introspection",
    1,
  ),
  js(
    "a property descriptor by a computed name",
    "const k = 'a';\nconst d = Object.getOwnPropertyDescriptor({ a: 1 }, 'a');",
    "const k = Object.getOwnPropertyNames(Object.prototype)[0];\nconst d = Object.getOwnPropertyDescriptor(Object.prototype, k);",
    "introspection",
    2,
  ),
  js(
    "Reflect.get with a receiver",
    "const k = 'a';\nconst v = Reflect.get({ a: 1 }, k);",
    "const k = 'a';\nconst v = Reflect.get(Object.prototype, k, Math.max);",
    "introspection",
    2,
  ),
  js(
    "a constructor in a with statement",
    "with (Math) { console.log(max(1, 2)); }\nconst caller = (constructor) => constructor.name;",
    "with (Math.max) { constructor('return 1')(); }",
    "introspection",
    1,
  ),
  js(
    "this.constructor (a static method's this is its class)",
    "class A { m() { return this.constructor.name; } }",
    "class A { static m() { return new this.constructor('return 1'); } }",
    "introspection",
    1,
  ),
  js(
    "a computed member of a global constructor",
    "const k = process.argv[2];\nconst n = Object.keys({ a: 1 })[k];",
    "const k = process.argv[2];\nconst F = Object[k];",
    "dynamic-attribute",
    2,
    11,
  ),
  js(
    "a getter by name",
    "const o = { get a() { return 1; } };",
    "const g = Object.prototype.__lookupGetter__('x');",
    "introspection",
    1,
  ),
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

const bypasses = { "standard library files": stdlibFiles, annotations, "ways to Function": functionWays };
for (const [group, cases] of Object.entries(bypasses)) {
  describe(`precheck bypasses: ${group}`, () => {
    test.each(cases)("$language: $name ($rule)", async ({ language, allowed, refused, rule, line, column }) => {
      expect(await check(language, allowed)).toEqual([]);
      const found = await check(language, refused);
      expect(found.map((f) => f.rule)).toContain(rule);
      const f = found.find((x) => x.rule === rule) as Finding;
      expect(f.line).toBe(line);
      if (column !== undefined) expect(f.column).toBe(column);
    });
  });
}

describe("precheck annotations", () => {
  test("Literal's values and Annotated's metadata are not code", async () => {
    const code =
      "from typing import Annotated, Literal\ndef f(mode: Literal['open', 'eval'], n: Annotated[int, 'open']) -> 'int': pass";
    expect(await check("python", code)).toEqual([]);
  });

  test("a string annotation built from literals is code too", async () => {
    expect(await check("python", "def f(x: 'ev' + 'al'): pass")).toEqual([
      expect.objectContaining({ rule: "dynamic-code", line: 1, column: 10 }),
    ]);
  });

  test("a string inside a string annotation is code too", async () => {
    expect(await check("python", "from typing import List\nx: 'List[\"int\"]' = []")).toEqual([]);
    const found = await check("python", "from typing import List\nx: 'List[\"open(0)\"]' = []");
    expect(found).toEqual([expect.objectContaining({ rule: "system-api", line: 2, column: 4 })]);
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
    expect(await check("python", "import ipaddress", defaultPolicy)).not.toEqual([]);
    expect(await check("python", "import ipaddress", any)).toEqual([]);
    expect((await check("python", "import os", any)).map((f) => f.rule)).toEqual(["forbidden-import"]);
    // modules that open the files they are given, or run what they read
    for (const m of ["xml.dom", "pydoc", "configparser", "argparse", "tkinter", "_posixsubprocess", "json.tool"])
      expect((await check("python", `import ${m}`, any)).map((f) => f.rule)).toEqual(["forbidden-import"]);
    expect(await check("javascript", 'import x from "left-pad";', any)).toEqual([]);
    expect((await check("javascript", 'import fs from "node:fs";', any)).map((f) => f.rule)).toEqual([
      "forbidden-import",
    ]);
    expect((await check("javascript", 'import "bun:sqlite";', any)).map((f) => f.rule)).toEqual(["forbidden-import"]);
  });

  test("a module named in the policy is allowed, even one * does not allow", async () => {
    const withOs = { ...defaultPolicy, pythonModules: [...defaultPolicy.pythonModules, "os"] };
    expect(await check("python", "import os\nprint(os.getcwd())", withOs)).toEqual([]);
    const withTool = { ...defaultPolicy, pythonModules: [...defaultPolicy.pythonModules, "json.tool", "re._parser"] };
    expect(await check("python", "import json.tool\nimport re._parser", withTool)).toEqual([]);
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

  test("the interpreter and bubblewrap it runs are settings, checked to exist", () => {
    const program = agentProgram("code-runner", codeRunnerSettings);
    const given = loadConfig(program, ["--bwrap", process.execPath], { CODE_RUNNER_PYTHON: process.execPath });
    expect([given.python, given.bwrap]).toEqual([process.execPath, process.execPath]);
    const none = loadConfig(program, [], {});
    expect([none.python, none.bwrap]).toEqual([undefined, undefined]);
    for (const bad of ["/no/such/python3", "python3"])
      expect(() => loadConfig(program, [], { CODE_RUNNER_PYTHON: bad })).toThrow(
        "must be the absolute path of a Python interpreter on this machine",
      );
    expect(() => loadConfig(program, ["--bwrap=/no/such/bwrap"], {})).toThrow(
      "must be the absolute path of bubblewrap",
    );
  });

  test("JavaScript module names are checked as Python's are", () => {
    const program = agentProgram("code-runner", codeRunnerSettings);
    const names = "path,node:fs,bun:sqlite,@scope/pkg,lodash/fp,left-pad,*";
    expect(
      precheckPolicy(loadConfig(program, [], { CODE_RUNNER_JAVASCRIPT_MODULES: names })).javascriptModules,
    ).toEqual(names.split(","));
    for (const bad of ["fs;rm", "./secret.js", "../x", "data:text/javascript,1", "a b", "x/../y"])
      expect(() => loadConfig(program, [], { CODE_RUNNER_JAVASCRIPT_MODULES: bad })).toThrow(ConfigError);
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

  test("a snippet the checker runs out of its time on is too-complex: PrecheckFailed, not retryable", async () => {
    // the checker's time is its own CPU time: no snippet of this size is checked in 1 ms
    const code = Array.from({ length: 5_000 }, (_, i) => `x${i} = ${i}`).join("\n");
    const err = await toolError(enforcePrecheck("python", code, { ...defaultPolicy, checkerTimeoutMs: 1 }));
    expect(err).toMatchObject({
      reason: "PrecheckFailed",
      retryable: false,
      message: "precheck: line 1, column 1: the code takes longer than 1 ms to check (rule too-complex)",
    });
  });

  test("a checker that cannot run is PrecheckUnavailable, retryable, and refuses the snippet", async () => {
    useSandboxBinaries({ python: "/bin/false" });
    try {
      const err = await toolError(enforcePrecheck("python", "print(1)", defaultPolicy));
      expect(err).toMatchObject({ reason: "PrecheckUnavailable", retryable: true });
      expect(err.message).toContain("the Python checker failed (exit 1)");
    } finally {
      useSandboxBinaries({});
    }
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

  test("a 64 KiB Python snippet of 2,500-deep attribute chains, in 300 ms of CPU", async () => {
    // each link of a chain is walked once (some 80 ms of checking); walked again for each node, 0.6 s to 2 s
    const chain = `y = math${".real".repeat(2_500)}`;
    const clean = `import math\n${lines(Math.floor((64 * 1024 - 40) / (chain.length + 1)), () => chain)}`;
    const budget = { ...defaultPolicy, checkerTimeoutMs: 300 };
    expect(await check("python", clean, budget)).toEqual([]);
    const refused = await check("python", `${clean}\nimport socket`, budget);
    expect(refused).toEqual([
      expect.objectContaining({ rule: "forbidden-import", line: clean.split("\n").length + 1 }),
    ]);
  });

  test("more than 64 Ki characters is too-complex, whatever the language, before any parsing", async () => {
    // characters as the tool's schema counts them: an emoji is one, not two UTF-16 units
    for (const [language, comment] of [
      ["python", "#"],
      ["javascript", "//"],
    ] as const) {
      const at = (n: number, fill: string) => `${comment}${fill.repeat(n - comment.length)}`;
      expect(await check(language, at(65_536, "x"))).toEqual([]);
      expect(await check(language, at(65_536, "😀"))).toEqual([]);
      expect(await check(language, at(65_537, "x"))).toEqual([
        { rule: "too-complex", line: 1, column: 1, message: "the code has more than 65536 characters" },
      ]);
    }
    const start = performance.now();
    expect((await check("javascript", "x = 1;\n".repeat(150_000))).map((f) => f.rule)).toEqual(["too-complex"]);
    expect(performance.now() - start).toBeLessThan(100);
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
