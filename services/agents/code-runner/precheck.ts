/**
 * A static check of a snippet before it runs. The snippet is parsed, never
 * run (Python by the interpreter's own `ast` in a short-lived child process,
 * JavaScript by acorn in this one), and refused when it imports a module
 * outside the policy, makes code from strings, reaches file, process or
 * network APIs, or takes the obvious ways around those rules (builtins by a
 * computed name, `__subclasses__`, `__globals__`, a function's `.constructor`,
 * `globalThis["ev" + "al"]`, a standard module's command-line `main`, a string
 * annotation that typing would evaluate).
 *
 * It is a first line, not the sandbox. Python and JavaScript are dynamic
 * enough that no static check sees every way to a forbidden API (a computed
 * attribute of an ordinary object, a sloppy function's `this`, a string
 * built at run time); what it gives is an early refusal of the common and the
 * obvious that names the rule and the line, where otherwise the sandbox
 * (sandbox.ts, and the pod's security context) would have to contain the
 * run. The sandbox never relies on it.
 */

import { type AnyNode, type Identifier, type MemberExpression, type Program, parse } from "acorn";
import { ToolError } from "../../../lib/agent/tool.ts";
import { type Language, pythonPath, readCapped } from "./sandbox.ts";

/** Words of a template, as a list: long lists of names read best as text. */
const words = (text: string) => text.trim().split(/\s+/);

/** The rules, by their stable ids (a refusal names one; CODE_RUNNER_PRECHECK_DISABLED_RULES takes them). */
export const rules = {
  "syntax-error": "the code does not parse",
  "too-complex": "the code is too large, nested too deeply or too slow to check",
  "forbidden-import": "an import of a module the policy does not allow",
  "dynamic-code":
    "code made or loaded at run time: eval, exec, compile, Function, a computed import or require, typing.get_type_hints",
  "system-api":
    "file, process, network or native APIs: open, io.open, a module's command-line main, process.binding, Bun.spawn, fetch",
  introspection:
    "ways around the rules through the runtime's internals: __builtins__, __subclasses__, __globals__, sys.modules, a stream's raw file, .constructor",
  "dynamic-attribute":
    "attributes of guarded objects by computed names: getattr with a computed name, globalThis[...], process[...]",
} as const;
export type RuleId = keyof typeof rules;
export const ruleIds = Object.keys(rules) as RuleId[];

export interface Finding {
  rule: RuleId;
  /** From 1. */
  line: number;
  /** From 1, in characters. */
  column: number;
  message: string;
}

export interface PrecheckPolicy {
  /** Off: snippets go to the sandbox unchecked. */
  enabled: boolean;
  /** Modules a snippet may import; a package allows its submodules; "*" allows any but the `never` ones. */
  pythonModules: readonly string[];
  javascriptModules: readonly string[];
  disabledRules: readonly RuleId[];
  /**
   * The Python checker's time limit (default 5 s), in CPU time of its own: a snippet that takes
   * longer to check is refused as too-complex. The wall clock allows it 10 s more; past that the
   * check itself failed (a busy machine), not the snippet.
   */
  checkerTimeoutMs?: number;
}

/**
 * Python modules for computing: an allowlist, not a denylist, because the
 * standard library has far more ways to files and processes (io, codecs,
 * shutil, pathlib, tempfile, zipfile, logging, pickle, uuid, timeit...) than
 * a denylist would keep up with; a module left off costs a refusal that names
 * it, a module wrongly on costs the point of the check. sys and io are on it
 * for stdin and StringIO, with only those of their names (see `restricted`);
 * __future__ is a directive to the compiler, not a module of the program's.
 */
export const defaultPythonModules = words(`
  __future__ abc array base64 binascii bisect calendar cmath collections colorsys contextlib copy csv dataclasses
  datetime decimal difflib enum fnmatch fractions functools graphlib hashlib heapq hmac html io itertools
  json keyword math numbers operator pprint random re reprlib secrets statistics string struct sys textwrap
  time typing unicodedata zlib
`);

/** JavaScript modules for computing (node: prefixes are dropped before matching); an allowlist for the same reason. */
export const defaultJavascriptModules = words(`
  assert buffer crypto events path perf_hooks querystring readline stream string_decoder timers url util
  zlib
`);

export const defaultPolicy: PrecheckPolicy = {
  enabled: true,
  pythonModules: defaultPythonModules,
  javascriptModules: defaultJavascriptModules,
  disabledRules: [],
};

/** The most code the check takes, in characters (code points, as the tool's schema counts them). */
export const maxCodeChars = 65_536;

/** Whether code has more than maxCodeChars characters, without copying it. */
function tooLong(code: string): boolean {
  if (code.length <= maxCodeChars) return false;
  if (code.length > 2 * maxCodeChars) return true;
  let chars = 0;
  for (let i = 0; i < code.length; i++) {
    const unit = code.charCodeAt(i);
    // a surrogate pair is one character
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < code.length) {
      const next = code.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    if (++chars > maxCodeChars) return true;
  }
  return false;
}

/** The most findings a refusal lists; the rest are counted. */
const listed = 5;
const maxFindings = 50;

/**
 * What the Python checker looks for besides the allowlist; the checker gets
 * it as JSON, so the policy is read in one place.
 */
const python = {
  /**
   * Never allowed by "*": files, processes, the network, native code, loaders, the interpreter's
   * insides, and modules that open the files they are given (configparser, wave, xml...) or run
   * what they read (pydoc, rlcompleter, argparse's @files). An operator may still name one. A
   * module whose name has a private part (_io, json._x) is never allowed by "*" or a package's
   * name either; a submodule named here (json.tool) is refused though its package is allowed.
   */
  never: words(`
    aifc annotationlib antigravity argparse asynchat asyncio asyncore bdb binhex builtins bz2 cgi cgitb
    chunk code codecs codeop compileall concurrent configparser copyreg cProfile ctypes curses dbm
    distutils doctest ensurepip faulthandler fcntl filecmp fileinput ftplib gc genericpath getpass gettext
    glob grp gzip http idlelib imaplib imghdr imp importlib inspect json.tool lib2to3 linecache logging
    lzma mailbox mailcap marshal mimetypes mmap modulefinder msilib msvcrt multiprocessing netrc nntplib
    nt ntpath os pathlib pdb pickle pipes pkgutil platform poplib posix posixpath profile pstats pty
    py_compile pyclbr pydoc pwd readline resource rlcompleter runpy select selectors shelve shutil
    signal site smtpd smtplib sndhdr socket socketserver spwd sqlite3 ssl subprocess sunau sysconfig
    syslog tabnanny tarfile telnetlib tempfile termios test threading timeit tkinter tokenize trace
    traceback tracemalloc tty turtle turtledemo types unittest urllib uu uuid venv warnings wave
    webbrowser winreg wsgiref xml xmlrpc zipapp zipfile zipimport
  `),
  /** Allowed modules with some names kept from snippets, and the rule a use of one breaks. */
  restricted: {
    // sys.modules, sys._getframe and the like reach every loaded module (os among them) and every frame.
    sys: {
      rule: "introspection",
      allow: words(`
        argv byteorder exit float_info float_repr_style get_int_max_str_digits getdefaultencoding
        getrecursionlimit getsizeof hash_info hexversion int_info intern maxsize maxunicode platform
        set_int_max_str_digits setrecursionlimit stderr stdin stdout version version_info
      `),
    },
    // io.open and io.FileIO open files.
    io: {
      rule: "system-api",
      allow: ["BytesIO", "SEEK_CUR", "SEEK_END", "SEEK_SET", "StringIO", "TextIOWrapper", "UnsupportedOperation"],
    },
    // Each fetches attributes by names given as strings, as getattr does.
    operator: { rule: "dynamic-attribute", deny: ["attrgetter", "methodcaller"] },
    string: { rule: "dynamic-attribute", deny: ["Formatter"] },
    // Each evaluates type annotations given as strings (ForwardRef('eval(input())')) with eval;
    // singledispatch's register does so through get_type_hints.
    typing: { rule: "dynamic-code", deny: ["ForwardRef", "evaluate_forward_ref", "get_type_hints"] },
    functools: { rule: "dynamic-code", deny: ["singledispatch", "singledispatchmethod"] },
    // dataclasses compiles its methods from the fields' names with exec, and a Field's name can be
    // changed after its class is made: fields() hands the Fields out (field() and Field are
    // allowed only as a class's `x: T = field(...)`, where no reference to the Field is kept).
    dataclasses: { rule: "dynamic-code", deny: ["fields"] },
    // enum's name for the builtins module (open, eval, __import__).
    enum: { rule: "introspection", deny: ["bltns"] },
  } satisfies Record<string, { rule: RuleId; allow?: string[]; deny?: string[] }>,
  /** A module's command-line entry point reads sys.argv and opens the files it names (base64.main, json.tool's). */
  entryPoints: ["main", "test"],
  /** Names and attributes that lead out of the rules: to the builtins, other modules' globals, every class, frames, code built from strings. */
  sensitive: words(`
    __annotate__ __annotations__ __base__ __bases__ __builtins__ __class__ __closure__ __code__
    __dataclass_fields__ __dict__ __forward_code__ __getattribute__ __globals__ __import__ __loader__
    __mro__ __reduce__ __reduce_ex__ __self__ __spec__ __subclasses__ __traceback__ ag_code ag_frame
    co_code cr_code cr_frame f_back f_builtins f_code f_globals f_locals gi_code gi_frame tb_frame
    tb_next
  `),
  /**
   * Attributes (not variables) as sensitive: a standard stream's raw file and what detach()
   * hands out are io.FileIO objects, whose class opens any file (type(sys.stdin.buffer.raw)(path));
   * a ForwardRef's _evaluate runs its string.
   */
  attributes: ["_evaluate", "detach", "raw"],
  /** What x.__class__ may be used for: its name, and comparisons. */
  classNames: ["__module__", "__name__", "__qualname__"],
  /** Builtins that only read the list they are given: sys.argv may be passed to one. */
  readers: words(`
    all any enumerate filter frozenset iter len list map max min print repr reversed set sorted str
    tuple zip
  `),
  /** Methods of a list that only read it. */
  listReaders: ["copy", "count", "index"],
  /** Builtins that run code given as data (breakpoint: the debugger runs what it reads). */
  dynamic: ["breakpoint", "compile", "eval", "exec"],
  system: ["open"],
  /** Builtins that hand out a namespace, and with it __builtins__. */
  scopes: ["globals", "locals", "vars"],
  getters: ["delattr", "getattr", "setattr"],
};

/** The JavaScript counterpart. */
const javascript = {
  /** Never allowed by "*" (nor any bun: module). */
  never: words(`
    async_hooks bun child_process cluster dgram diagnostics_channel dns fs http http2 https inspector module
    net os process repl tls trace_events tty undici v8 vm wasi worker_threads ws
  `),
  /** Globals that run code given as data or in another context. */
  dynamic: ["eval", "Function", "ShadowRealm", "Worker"],
  network: ["EventSource", "fetch", "WebSocket", "XMLHttpRequest"],
  /** Names of the global object: `globalThis.x` is judged as `x`. */
  globals: ["global", "globalThis", "self", "window"],
  timers: ["setImmediate", "setInterval", "setTimeout"],
  /** Objects whose properties are allowed one by one, and the rule another breaks. */
  guarded: {
    process: {
      rule: "system-api",
      allow: words(`
        arch argv cpuUsage emitWarning env exit exitCode hrtime isBun memoryUsage nextTick off on once
        platform release removeListener resourceUsage stderr stdin stdout uptime version versions
      `),
    },
    Bun: {
      rule: "system-api",
      allow: words(`
        argv color concatArrayBuffers CryptoHasher deepEquals deepMatch deflateSync escapeHTML gunzipSync
        gzipSync hash indexOfLine inflateSync inspect isMainThread JSON5 JSONC MD4 MD5 nanoseconds peek
        randomUUIDv5 randomUUIDv7 readableStreamToArray readableStreamToArrayBuffer readableStreamToBytes
        readableStreamToJSON readableStreamToText revision semver SHA1 SHA224 SHA256 SHA384 SHA512
        SHA512_256 sleep sleepSync stderr stdin stdout stringWidth stripANSI TOML version wrapAnsi YAML
        zstdCompressSync zstdDecompressSync
      `),
    },
    // module.require and module.constructor._load load modules past the import check.
    module: { rule: "dynamic-code", allow: ["exports", "id"] },
  } satisfies Record<string, { rule: RuleId; allow: string[] }>,
  /** import.meta.require (Bun's) loads modules past the import check. */
  importMeta: ["dir", "dirname", "env", "file", "filename", "main", "path", "url"],
  /** Properties that lead out of the rules: prototypes and their accessors, stack frames' functions, callers. */
  sensitive: words(`
    __defineGetter__ __defineSetter__ __lookupGetter__ __lookupSetter__ __proto__ callee caller
    prepareStackTrace
  `),
  /**
   * Ways to Function (and AsyncFunction, GeneratorFunction) without its name: any value's
   * .constructor (a function's is Function, and so is Object's), a function's prototype
   * (Function.prototype, whose constructor is Function), every property of an object at once
   * (which hands out the constructor without naming it). Each is judged where it is used.
   */
  functionWays: ["constructor", "getOwnPropertyDescriptor", "getOwnPropertyDescriptors", "getPrototypeOf"],
  /** The global constructors: functions, so Object[k] is Function when k is "constructor". */
  constructors: words(`
    AggregateError Array ArrayBuffer BigInt BigInt64Array BigUint64Array Boolean DataView Date Error
    EvalError FinalizationRegistry Float32Array Float64Array Int16Array Int32Array Int8Array Map Number
    Object Promise Proxy RangeError ReferenceError RegExp Set SharedArrayBuffer String Symbol SyntaxError
    TypeError Uint16Array Uint32Array Uint8Array Uint8ClampedArray URIError WeakMap WeakRef WeakSet
  `),
  /** What x.constructor, x.getPrototypeOf(y) may be in: comparisons, typeof. */
  comparisons: ["==", "===", "!=", "!==", "instanceof"],
};

/**
 * Checks a snippet against the policy: the findings, by line, without those
 * of disabled rules (none when the check is off). Throws a retryable
 * ToolError (PrecheckUnavailable) when the check itself could not run.
 */
export async function precheck(
  language: Language,
  code: string,
  policy: PrecheckPolicy,
  signal?: AbortSignal,
): Promise<Finding[]> {
  if (!policy.enabled) return [];
  // the tool's schema bounds the code too; the JavaScript check runs on the agent's own thread
  const found = tooLong(code)
    ? [tooComplex(`the code has more than ${maxCodeChars} characters`)]
    : language === "python"
      ? await checkPython(code, policy, signal)
      : checkJavaScript(code, policy);
  const disabled = new Set(policy.disabledRules);
  // one finding per rule and place: two checks may see the same escape
  const seen = new Set<string>();
  return found.filter((f) => {
    const key = `${f.rule} ${f.line} ${f.column}`;
    if (disabled.has(f.rule) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** One line for people: `precheck: line 3, column 1: import of "socket" is forbidden (rule forbidden-import)`. */
export function describeFindings(findings: readonly Finding[]): string {
  const each = findings
    .slice(0, listed)
    .map((f) => `line ${f.line}, column ${f.column}: ${f.message} (rule ${f.rule})`);
  const more = findings.length > listed ? `; and ${findings.length - listed} more` : "";
  return `precheck: ${each.join("; ")}${more}`;
}

/**
 * Refuses a snippet the policy does not allow: a ToolError PrecheckFailed,
 * not retryable (the same code fails the same way), which the runtime turns
 * into a Failed Task with that reason and message.
 */
export async function enforcePrecheck(
  language: Language,
  code: string,
  policy: PrecheckPolicy,
  signal?: AbortSignal,
): Promise<void> {
  const findings = await precheck(language, code, policy, signal);
  if (findings.length > 0) throw new ToolError("PrecheckFailed", describeFindings(findings), { retryable: false });
}

const unavailable = (why: string) => new ToolError("PrecheckUnavailable", `precheck: ${why}`, { retryable: true });
const tooComplex = (message: string): Finding => ({ rule: "too-complex", line: 1, column: 1, message });

// ---- Python ----

/** Far above what parsing 64 KiB takes, far below what would hurt the agent. */
const checkerMemoryBytes = 512 * 1024 * 1024;
const checkerOutputBytes = 256 * 1024;

/**
 * The checker's outcomes: its findings (too-complex among them when it ran
 * out of its CPU time, by its own timer or by RLIMIT_CPU: the snippet's
 * doing, not retryable); PrecheckUnavailable, retryable, when it could not
 * start, failed or was not done by the wall clock (the machine's doing).
 */
async function checkPython(code: string, policy: PrecheckPolicy, signal?: AbortSignal): Promise<Finding[]> {
  const cpuMs = policy.checkerTimeoutMs ?? 5_000;
  const wallMs = cpuMs + 10_000;
  const config = JSON.stringify({
    ...python,
    allow: policy.pythonModules,
    max: maxFindings,
    cpuMs,
    // 0 would turn the timer off
    cpuSeconds: Math.max(cpuMs, 1) / 1000,
  });
  let proc: ReturnType<typeof Bun.spawn<Buffer, "pipe", "pipe">>;
  try {
    // -I -S: no environment, user site or site module, as the snippet itself runs.
    proc = Bun.spawn(
      [
        "prlimit",
        `--as=${checkerMemoryBytes}`,
        // a backstop to the checker's own timer, which starts once the interpreter is up
        `--cpu=${Math.ceil(cpuMs / 1000) + 2}`,
        "--core=0",
        "--",
        pythonPath(),
        "-I",
        "-S",
        "-c",
        pythonChecker,
        config,
      ],
      {
        // The code goes in on stdin, never on the command line or in a file.
        stdin: Buffer.from(code),
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8" },
      },
    );
  } catch (err) {
    throw unavailable(`could not start the Python checker: ${(err as Error).message}`);
  }
  let timedOut = false;
  let killed = false;
  const kill = () => {
    killed = true;
    proc.kill("SIGKILL");
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, wallMs);
  signal?.addEventListener("abort", kill, { once: true });
  try {
    const [out, err] = await Promise.all([
      readCapped(proc.stdout, checkerOutputBytes, kill),
      readCapped(proc.stderr, 16 * 1024, () => {}),
      proc.exited,
    ]);
    signal?.throwIfAborted();
    if (timedOut) throw unavailable(`the Python checker was not done in ${wallMs} ms (a busy machine)`);
    // RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one
    if (!killed && (proc.signalCode === "SIGXCPU" || proc.signalCode === "SIGKILL"))
      return [tooComplex(`the code takes longer than ${cpuMs} ms to check`)];
    if (out.truncated) throw unavailable(`the Python checker wrote more than ${checkerOutputBytes} bytes`);
    const lastLine = err.text.trim().split("\n").at(-1) ?? "";
    if (proc.exitCode !== 0)
      throw unavailable(`the Python checker failed (exit ${proc.exitCode ?? proc.signalCode}): ${lastLine}`);
    let parsed: { findings?: unknown };
    try {
      parsed = JSON.parse(out.text);
    } catch {
      throw unavailable(`the Python checker's output is not JSON: ${lastLine}`);
    }
    if (!Array.isArray(parsed.findings)) throw unavailable("the Python checker's output has no findings");
    return parsed.findings as Finding[];
  } catch (err) {
    if (err instanceof ToolError || signal?.aborted) throw err;
    throw unavailable(`the Python checker failed: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", kill);
    kill();
  }
}

/**
 * The Python side, run by `python3 -I -S -c` with the policy as its one
 * argument and the code on stdin. It only parses: nothing of the snippet is
 * imported, compiled to bytecode or run. It prints {"findings": [...]}. Its
 * time limit is its own CPU time (a timer of the process's CPU time, not the
 * wall clock), so a busy machine does not make a snippet too complex.
 */
const pythonChecker = String.raw`
import ast, io, json, re, signal, sys, tokenize

cfg = json.loads(sys.argv[1])
allow = set(cfg["allow"])
never = set(cfg["never"])
restricted = cfg["restricted"]
sensitive = set(cfg["sensitive"])
sensitive_attrs = sensitive | set(cfg["attributes"])
entry_points = set(cfg["entryPoints"])
readers = set(cfg["readers"])
dunders = [s for s in sensitive if s.startswith("__")]
module_names = never | set(restricted)
match_class = getattr(ast, "MatchClass", ())  # 3.10 and later
field_makers = ("dataclasses.field", "dataclasses.Field")
found = []
lines = []


class OutOfTime(BaseException):
    """Not an Exception: no handler of the checker's own swallows it."""


def out_of_time(signum, frame):
    raise OutOfTime()


signal.signal(signal.SIGPROF, out_of_time)
signal.setitimer(signal.ITIMER_PROF, cfg["cpuSeconds"])
src = sys.stdin.buffer.read()


def report(rule, node, message):
    found.append((rule, getattr(node, "lineno", 1) or 1, getattr(node, "col_offset", 0) or 0, message))


def finish():
    out = []
    for rule, line, col, message in sorted(found, key=lambda f: (f[1], f[2]))[: cfg["max"]]:
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        # col_offset counts UTF-8 bytes of the line; people count characters
        column = len(text.encode("utf-8")[:col].decode("utf-8", "ignore")) + 1
        out.append({"rule": rule, "line": line, "column": column, "message": message})
    sys.stdout.write(json.dumps({"findings": out}))
    sys.exit(0)


def fold(n, depth=0):
    """The string an expression always evaluates to, when it is built from literals only."""
    if depth > 50:
        return None
    if isinstance(n, ast.Constant):
        return n.value if isinstance(n.value, str) else None
    if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add):
        a = fold(n.left, depth + 1)
        b = fold(n.right, depth + 1) if a is not None else None
        return a + b if a is not None and b is not None else None
    if isinstance(n, ast.JoinedStr):
        parts = [fold(v, depth + 1) for v in n.values]
        return "".join(parts) if None not in parts else None
    if isinstance(n, ast.FormattedValue) and n.conversion == -1 and n.format_spec is None:
        return fold(n.value, depth + 1)
    if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "join"
            and len(n.args) == 1 and not n.keywords and isinstance(n.args[0], (ast.List, ast.Tuple))):
        sep = fold(n.func.value, depth + 1)
        parts = [fold(v, depth + 1) for v in n.args[0].elts]
        return sep.join(parts) if sep is not None and None not in parts else None
    return None


def module_allowed(name):
    if name in allow:
        return True
    parts = name.split(".")
    # a private module (_io, re._compiler) is allowed only by its own name
    if name != "__future__" and any(p.startswith("_") for p in parts):
        return False
    # the longest prefix named decides: json.tool (never) over json (allowed)
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in allow:
            return True
        if prefix in never:
            return False
    return "*" in allow


def check_import(name, node):
    if not module_allowed(name):
        report("forbidden-import", node, 'import of "%s" is forbidden' % name)


def check_member(module, attr, node, first):
    """An attribute of a module (first) or of something reached from one."""
    label = "%s.%s" % (module, attr) if first else "%s (reached from %s)" % (attr, module)
    r = restricted.get(module)
    if first and r and (("allow" in r and attr not in r["allow"]) or attr in r.get("deny", ())):
        report(r["rule"], node, "%s is not allowed" % label)
    elif attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__")):
        report("introspection", node, "%s is private to its module" % label)
    elif attr in entry_points:
        report("system-api", node, "%s is a command-line entry point: it reads sys.argv and opens the files it names" % label)
    elif attr in module_names or "%s.%s" % (module, attr) in never:
        report("introspection", node, '%s reaches the module "%s"' % (label, attr))


def literal_import(n):
    """The module of __import__("x"), else None."""
    if (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "__import__" and n.args):
        return fold(n.args[0])
    return None


def checked_getter(call, n):
    """Whether n is the object of getattr(n, "literal"), whose attribute is checked as n.literal."""
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in cfg["getters"]
            and len(call.args) >= 2 and call.args[0] is n and fold(call.args[1]) is not None)


modules = {}  # names bound to a module (import x, import x as y)
imported = {}  # names bound to a name from one (from x import y): "x.y"
roots = {}


def module_root(n):
    """The module an attribute chain starts from, and how deep n is in it; each link is walked once."""
    chain = []
    while isinstance(n, ast.Attribute) and n not in roots:
        chain.append(n)
        n = n.value
    if isinstance(n, ast.Attribute):
        root, depth = roots[n]
    elif isinstance(n, ast.Name) and n.id in modules:
        root, depth = modules[n.id], 0
    elif isinstance(n, ast.Name) and n.id in imported:
        root, depth = imported[n.id], 1
    else:
        root, depth = literal_import(n), 0
    for link in reversed(chain):
        depth += 1
        roots[link] = (root, depth)
    return root, depth


def head_name(n):
    return n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else None


def annotation_strings(annotation):
    """The strings in an annotation that typing evaluates as code: not Literal's values, nor Annotated's metadata."""
    out = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        text = fold(a)  # 'List[' + 'int]' too
        if text is not None:
            out.append(ast.copy_location(ast.Constant(value=text), a))
            continue
        if isinstance(a, ast.Constant):
            continue
        if isinstance(a, ast.Subscript) and head_name(a.value) == "Literal":
            continue
        if isinstance(a, ast.Subscript) and head_name(a.value) == "Annotated":
            first = a.slice.elts[0] if isinstance(a.slice, ast.Tuple) and a.slice.elts else a.slice
            stack.extend([a.value, first])
            continue
        stack.extend(ast.iter_child_nodes(a))
    return out


def class_name_use(n, p):
    """x.__class__.__name__, x.__class__ in a comparison or isinstance(y, x.__class__): the class's name or identity."""
    if isinstance(p, ast.Attribute) and p.value is n:
        return p.attr in cfg["classNames"] and isinstance(p.ctx, ast.Load)
    if (isinstance(p, ast.Call) and isinstance(p.func, ast.Name) and p.func.id in ("isinstance", "issubclass")
            and len(p.args) == 2 and p.args[1] is n):
        return True
    return isinstance(p, ast.Compare) and isinstance(n.ctx, ast.Load)


def argv_read(n, p):
    """Whether sys.argv is only read here: the standard library's entry points open the files it names."""
    if not isinstance(n.ctx, ast.Load):
        return False
    if isinstance(p, ast.Starred):  # print(*sys.argv), [*sys.argv]
        n, p = p, parent.get(p)
        if isinstance(p, (ast.List, ast.Tuple, ast.Set)):
            return True
    if isinstance(p, ast.Subscript) and p.value is n:
        return isinstance(p.ctx, ast.Load)
    if isinstance(p, (ast.Compare, ast.FormattedValue)) or (isinstance(p, ast.UnaryOp) and isinstance(p.op, ast.Not)):
        return True
    if isinstance(p, (ast.If, ast.While, ast.IfExp, ast.Assert)) and p.test is n:
        return True
    if isinstance(p, (ast.For, ast.AsyncFor, ast.comprehension)) and p.iter is n:
        return True
    if isinstance(p, ast.Attribute) and p.value is n:
        return p.attr in cfg["listReaders"]
    if isinstance(p, ast.Call) and n in p.args:
        f = p.func
        return (isinstance(f, ast.Name) and f.id in readers) or (isinstance(f, ast.Attribute) and f.attr == "join")
    return False


def dataclass_decorator(d):
    d = d.func if isinstance(d, ast.Call) else d
    if isinstance(d, ast.Name):
        return imported.get(d.id) == "dataclasses.dataclass"
    return isinstance(d, ast.Attribute) and d.attr == "dataclass" and module_root(d.value) == ("dataclasses", 0)


def field_in_dataclass(n, p):
    """x: T = field(...) in the body of a class made a dataclass first: the class keeps no reference to the Field."""
    if not (isinstance(p, ast.Call) and p.func is n):
        return False
    assign = parent.get(p)
    cls = parent.get(assign)
    return (isinstance(assign, ast.AnnAssign) and assign.value is p and isinstance(cls, ast.ClassDef)
            and bool(cls.decorator_list) and dataclass_decorator(cls.decorator_list[-1]))


def check_special(target, n, p):
    """Names with a rule of their own: sys.argv, dataclasses.field."""
    if target == "sys.argv" and not argv_read(n, p):
        report("system-api", n, "sys.argv may only be read (sys.argv[1:], len(sys.argv), list(sys.argv)): the standard library's command-line entry points open the files it names")
    elif target in field_makers and not field_in_dataclass(n, p):
        report("dynamic-code", n, "%s other than as x: T = field(...) in a dataclass: a Field's name is compiled as code" % target)


def check():
    global lines
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(src).readline)[0]
        lines = re.split(r"\r\n|\r|\n", src.decode(encoding))
    except Exception:
        lines = []

    # Bytes, not text: the interpreter honours a coding declaration when it runs
    # the file, so the check must read the same program it will run.
    try:
        tree = ast.parse(src, "main.py")
    except SyntaxError as e:
        # offset counts bytes from 1, as col_offset does from 0
        found.append(("syntax-error", e.lineno or 1, max((e.offset or 1) - 1, 0), e.msg))
        return
    except ValueError as e:
        found.append(("syntax-error", 1, 0, str(e)))
        return

    nodes = []
    stack = [tree]
    while stack:
        n = stack.pop()
        nodes.append(n)
        for c in ast.iter_child_nodes(n):
            parent[c] = n
            stack.append(c)

    # A string annotation is code that typing evaluates (get_type_hints, and whatever calls it):
    # it is parsed and checked as code, at the string's place.
    pending = []
    for n in nodes:
        if isinstance(n, ast.arg) and n.annotation is not None:
            pending.extend(annotation_strings(n.annotation))
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.returns is not None:
            pending.extend(annotation_strings(n.returns))
        elif isinstance(n, ast.AnnAssign):
            pending.extend(annotation_strings(n.annotation))
    while pending:
        c = pending.pop()
        try:
            expr = ast.parse(c.value.strip(), mode="eval").body
        except (SyntaxError, ValueError):
            continue  # what does not parse cannot be evaluated either
        for x in ast.walk(expr):
            x.lineno, x.col_offset = c.lineno, c.col_offset
            nodes.append(x)
            for child in ast.iter_child_nodes(x):
                parent[child] = x
        pending.extend(annotation_strings(expr))

    for n in nodes:
        if isinstance(n, ast.Import):
            for a in n.names:
                check_import(a.name, a)
                if a.asname:
                    modules[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    modules[top] = top
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                report("forbidden-import", n, "a relative import is forbidden")
                continue
            check_import(n.module, n)
            for a in n.names:
                if a.name == "*":
                    if n.module in restricted:
                        report(restricted[n.module]["rule"], n, 'from %s import * takes names the policy keeps from snippets' % n.module)
                    continue
                check_member(n.module, a.name, a, True)
                imported[a.asname or a.name] = "%s.%s" % (n.module, a.name)

    for n in nodes:
        p = parent.get(n)
        if isinstance(n, ast.Name):
            name = n.id
            # any use, a store too: __annotations__ = {...} in a class body names a dataclass's fields
            if name in sensitive and name != "__import__":
                if not (name == "__class__" and class_name_use(n, p)):
                    report("introspection", n, "access to %s is forbidden" % name)
                continue
            if not isinstance(n.ctx, ast.Load):
                continue
            called = isinstance(p, ast.Call) and p.func is n
            if name == "__import__":
                m = fold(p.args[0]) if called and p.args else None
                if m is None:
                    report("dynamic-code", n, "__import__ with a computed module name" if called else "__import__ used as a value")
                else:
                    check_import(m, n)
            elif name in cfg["dynamic"]:
                report("dynamic-code", n, "%s runs code that is not checked" % name)
            elif name in cfg["system"]:
                report("system-api", n, "%s gives file access" % name)
            elif name in cfg["scopes"]:
                report("introspection", n, "%s reaches the builtins and every global" % name)
            elif name in cfg["getters"]:
                if not called:
                    report("dynamic-attribute", n, "%s used as a value" % name)
                elif len(p.args) < 2 or fold(p.args[1]) is None:
                    report("dynamic-attribute", n, "%s with a computed attribute name" % name)
                else:
                    attr = fold(p.args[1])
                    if attr in sensitive_attrs:
                        report("introspection", n, "access to %s is forbidden" % attr)
                    root, depth = module_root(p.args[0])
                    if root is not None:
                        check_member(root, attr, n, depth == 0)
            elif name in modules and not (isinstance(p, ast.Attribute) and p.value is n) and not checked_getter(p, n):
                report("introspection", n, "the module %s used as a value escapes the check of its attributes" % name)
            elif name in imported:
                check_special(imported[name], n, p)
        elif isinstance(n, ast.Attribute):
            if n.attr in sensitive_attrs and not (n.attr == "__class__" and class_name_use(n, p)):
                report("introspection", n, "access to %s is forbidden" % n.attr)
            root, depth = module_root(n.value)
            if root is not None:
                check_member(root, n.attr, n, depth == 0)
                if depth == 0:
                    check_special("%s.%s" % (root, n.attr), n, p)
        elif isinstance(n, match_class):
            for attr in n.kwd_attrs:
                if attr in sensitive_attrs:
                    report("introspection", n, "access to %s is forbidden" % attr)
        if isinstance(n, (ast.Constant, ast.BinOp, ast.JoinedStr, ast.Call)) and (p is None or fold(p) is None):
            s = fold(n)
            if s is not None:
                for d in dunders:
                    if d in s:
                        report("introspection", n, "a string naming %s is forbidden" % d)
                        break


parent = {}
try:
    try:
        check()
    finally:
        # the timer goes off once: before here (OutOfTime) or never
        signal.setitimer(signal.ITIMER_PROF, 0)
except OutOfTime:
    found[:] = [("too-complex", 1, 0, "the code takes longer than %d ms to check" % cfg["cpuMs"])]
except RecursionError:
    found[:] = [("too-complex", 1, 0, "the code is nested too deeply to check")]
except MemoryError:
    found[:] = [("too-complex", 1, 0, "the code is too large to check")]
finish()
`;

// ---- JavaScript ----

type Node = AnyNode;
interface Link {
  parent: Node;
  key: string;
}

const isNode = (v: unknown): v is Node =>
  v !== null && typeof v === "object" && typeof (v as { type?: unknown }).type === "string";

function at(node: Node): { line: number; column: number } {
  const start = node.loc?.start;
  return { line: start?.line ?? 1, column: (start?.column ?? 0) + 1 };
}

/**
 * Parses as a module first (Bun runs both kinds), then as a script (sloppy
 * mode: `with`, octal literals, top-level return); when both fail, the error
 * of the parse that got further says the most.
 */
function parseJavaScript(code: string): Program | Finding {
  const base = { ecmaVersion: "latest", locations: true, allowHashBang: true } as const;
  const errors: unknown[] = [];
  for (const options of [
    { ...base, sourceType: "module" },
    { ...base, sourceType: "script", allowReturnOutsideFunction: true, allowAwaitOutsideFunction: true },
  ] as const) {
    try {
      return parse(code, options);
    } catch (err) {
      errors.push(err);
    }
  }
  // acorn descends recursively; deep enough nesting exhausts the stack (acorn says so in a SyntaxError of its own)
  if (errors.some((e) => e instanceof RangeError || /stack space/i.test((e as Error)?.message ?? "")))
    return { rule: "too-complex", line: 1, column: 1, message: "the code is nested too deeply to check" };
  const [first, second] = errors as (SyntaxError & { pos?: number; loc?: { line: number; column: number } })[];
  const err = (second?.pos ?? -1) > (first?.pos ?? -1) ? second : first;
  return {
    rule: "syntax-error",
    line: err?.loc?.line ?? 1,
    column: (err?.loc?.column ?? 0) + 1,
    message: (err?.message ?? "does not parse").replace(/ \(\d+:\d+\)$/, ""),
  };
}

/** The string an expression always evaluates to, when it is built from literals only. */
function fold(n: Node | null | undefined, depth = 0): string | undefined {
  if (!n || depth > 50) return undefined;
  switch (n.type) {
    case "Literal":
      return typeof n.value === "string" ? n.value : undefined;
    case "TemplateLiteral": {
      let s = "";
      for (let i = 0; i < n.quasis.length; i++) {
        const cooked = n.quasis[i]?.value.cooked;
        if (cooked == null) return undefined;
        s += cooked;
        if (i < n.expressions.length) {
          const v = fold(n.expressions[i], depth + 1);
          if (v === undefined) return undefined;
          s += v;
        }
      }
      return s;
    }
    case "BinaryExpression": {
      if (n.operator !== "+" || n.left.type === "PrivateIdentifier") return undefined;
      const a = fold(n.left, depth + 1);
      const b = a === undefined ? undefined : fold(n.right, depth + 1);
      return a === undefined || b === undefined ? undefined : a + b;
    }
    case "CallExpression": {
      // ["ev", "al"].join("")
      const c = n.callee;
      if (c.type !== "MemberExpression" || c.object.type !== "ArrayExpression" || memberName(c) !== "join")
        return undefined;
      const sep = n.arguments.length === 0 ? "," : fold(n.arguments[0] as Node, depth + 1);
      const parts = c.object.elements.map((e) => (e && e.type !== "SpreadElement" ? fold(e, depth + 1) : undefined));
      return sep === undefined || parts.includes(undefined) ? undefined : parts.join(sep);
    }
    default:
      return undefined;
  }
}

/** A member's name, `a.b` or `a["b"]` alike; undefined when it is computed at run time. */
function memberName(m: MemberExpression): string | undefined {
  if (!m.computed) return m.property.type === "Identifier" ? m.property.name : undefined;
  return m.property.type === "PrivateIdentifier" ? undefined : fold(m.property);
}

/** Whether an expression is, or is built with, a string: what a timer would run as code. */
function stringish(n: Node | undefined): boolean {
  if (!n) return false;
  if (n.type === "Literal") return typeof n.value === "string";
  if (n.type === "TemplateLiteral") return true;
  return n.type === "BinaryExpression" && n.operator === "+" && (stringish(n.left as Node) || stringish(n.right));
}

const functionish = new Set(["ArrowFunctionExpression", "ClassExpression", "FunctionExpression"]);

function checkJavaScript(code: string, policy: PrecheckPolicy): Finding[] {
  const program = parseJavaScript(code);
  if (!("type" in program)) return [program];
  try {
    return new JavaScriptCheck(program, policy.javascriptModules).run();
  } catch (err) {
    if (err instanceof RangeError)
      return [{ rule: "too-complex", line: 1, column: 1, message: "the code is nested too deeply to check" }];
    throw err;
  }
}

class JavaScriptCheck {
  private readonly nodes: Node[] = [];
  private readonly links = new Map<Node, Link>();
  private readonly found: Finding[] = [];
  /** Names declared as functions or classes: their .constructor is Function. */
  private readonly functions = new Set<string>();

  constructor(
    program: Program,
    private readonly allow: readonly string[],
  ) {
    // Iterative, so no nesting the parser accepted can exhaust the stack here.
    const stack: Node[] = [program];
    while (stack.length > 0) {
      const node = stack.pop() as Node;
      this.nodes.push(node);
      for (const [key, value] of Object.entries(node)) {
        if (key === "loc") continue;
        for (const child of Array.isArray(value) ? value : [value]) {
          if (isNode(child) && !this.links.has(child)) {
            this.links.set(child, { parent: node, key });
            stack.push(child);
          }
        }
      }
    }
  }

  run(): Finding[] {
    for (const n of this.nodes) {
      if ((n.type === "FunctionDeclaration" || n.type === "ClassDeclaration") && n.id) this.functions.add(n.id.name);
      if (n.type === "VariableDeclarator" && n.id.type === "Identifier" && n.init && functionish.has(n.init.type))
        this.functions.add(n.id.name);
    }
    for (const n of this.nodes) this.visit(n);
    return this.found.sort((a, b) => a.line - b.line || a.column - b.column).slice(0, maxFindings);
  }

  private report(rule: RuleId, node: Node, message: string) {
    this.found.push({ rule, ...at(node), message });
  }

  private visit(n: Node) {
    this.checkString(n);
    switch (n.type) {
      case "ImportDeclaration":
      case "ExportAllDeclaration":
      case "ExportNamedDeclaration":
        if (n.source && typeof n.source.value === "string") this.checkModule(n.source.value, n);
        break;
      case "ImportExpression": {
        const name = fold(n.source);
        if (name === undefined) this.report("dynamic-code", n, "import() with a computed module name");
        else this.checkModule(name, n);
        break;
      }
      case "Identifier":
        if (this.isReference(n)) this.checkName(n.name, n);
        break;
      case "MetaProperty":
        if (n.meta.name === "import") this.checkImportMeta(n);
        break;
      case "MemberExpression":
        this.checkMember(n);
        break;
      case "Property": {
        // const { constructor } = f
        const key = n.computed ? fold(n.key) : n.key.type === "Identifier" ? n.key.name : fold(n.key);
        if (this.links.get(n)?.parent.type === "ObjectPattern" && key !== undefined && this.isSensitive(key))
          this.report("introspection", n, `taking ${key} out of an object is forbidden`);
        break;
      }
    }
  }

  private isSensitive(name: string) {
    return javascript.functionWays.includes(name) || javascript.sensitive.includes(name);
  }

  /**
   * A string that names a way to Function: Reflect.get(f, "constructor"),
   * Object.getOwnPropertyDescriptor(p, "constructor"), o["__proto__"]. A
   * literal property key (`{ constructor: 1 }`) and a computed member
   * (judged as a member) are not such uses.
   */
  private checkString(n: Node) {
    if (
      n.type !== "Literal" &&
      n.type !== "TemplateLiteral" &&
      n.type !== "BinaryExpression" &&
      n.type !== "CallExpression"
    )
      return;
    const link = this.links.get(n);
    if (link && fold(link.parent) !== undefined) return; // the whole string is judged
    const s = fold(n);
    if (s === undefined) return;
    const p = link?.parent;
    if (
      p &&
      link?.key === "key" &&
      (p.type === "Property" || p.type === "MethodDefinition" || p.type === "PropertyDefinition")
    )
      return;
    if (p?.type === "MemberExpression" && link?.key === "property") return;
    if (s === "constructor" || javascript.sensitive.includes(s) || s.includes("__proto__"))
      this.report("introspection", n, `a string naming ${s.includes("__proto__") ? "__proto__" : s} is forbidden`);
  }

  private inWith(n: Node): boolean {
    for (let link = this.links.get(n); link; link = this.links.get(link.parent))
      if (link.parent.type === "WithStatement" && link.key === "body") return true;
    return false;
  }

  /** Where a value goes: its parent and key, past optional chains (a?.b). */
  private use(n: Node): Link | undefined {
    let link = this.links.get(n);
    while (link?.parent.type === "ChainExpression") link = this.links.get(link.parent);
    return link;
  }

  /** Whether a value is only compared, or its type asked: `x.constructor === Array`, `typeof x.constructor`. */
  private compared(n: Node): boolean {
    const p = this.use(n)?.parent;
    if (p?.type === "BinaryExpression") return javascript.comparisons.includes(p.operator);
    return p?.type === "UnaryExpression" && p.operator === "typeof";
  }

  /** The call m is the callee of, if any. */
  private callOf(m: Node): (Node & { type: "CallExpression" }) | undefined {
    const link = this.use(m);
    return link?.parent.type === "CallExpression" && link.key === "callee" ? link.parent : undefined;
  }

  /** A way to Function without its name (see javascript.functionWays), judged by its use. */
  private checkFunctionWay(m: MemberExpression, prop: string) {
    if (prop === "constructor") {
      const link = this.use(m);
      const p = link?.parent;
      // its name, or a comparison, is all a snippet needs of a constructor
      if (p?.type === "MemberExpression" && link?.key === "object" && memberName(p) === "name") return;
      if (this.compared(m)) return;
      return this.report(
        "introspection",
        m,
        "a .constructor can be Function (a function's is), which runs code: only its .name and comparisons are allowed",
      );
    }
    const call = this.callOf(m);
    if (prop === "getPrototypeOf") {
      if (call && this.compared(call)) return;
      return this.report(
        "introspection",
        m,
        "getPrototypeOf of a function is Function.prototype, whose constructor is Function: only comparisons are allowed",
      );
    }
    if (prop === "getOwnPropertyDescriptor") {
      const key = call ? fold(call.arguments[1] as Node | undefined) : undefined;
      if (key !== undefined && !this.isSensitive(key) && !key.includes("__proto__")) return;
      return this.report(
        "introspection",
        m,
        "getOwnPropertyDescriptor with a computed or forbidden name can hand out a constructor or __proto__'s getter",
      );
    }
    this.report("introspection", m, `${prop} hands out every property of an object, its constructor among them`);
  }

  /** Whether an identifier reads a variable (not a property key, a label or a name being declared). */
  private isReference(id: Identifier): boolean {
    const link = this.links.get(id);
    if (!link) return true;
    const { parent: p, key } = link;
    switch (p.type) {
      case "MemberExpression":
        return key !== "property" || p.computed;
      case "Property":
        if (key === "key") return p.computed;
        return this.links.get(p)?.parent.type !== "ObjectPattern";
      case "MethodDefinition":
      case "PropertyDefinition":
        return key !== "key" || p.computed;
      case "LabeledStatement":
      case "BreakStatement":
      case "ContinueStatement":
        return key !== "label";
      case "ImportSpecifier":
      case "ImportDefaultSpecifier":
      case "ImportNamespaceSpecifier":
      case "MetaProperty":
      case "ArrayPattern":
      case "RestElement":
        return false;
      case "ExportSpecifier": {
        const decl = this.links.get(p)?.parent;
        return key === "local" && !(decl?.type === "ExportNamedDeclaration" && decl.source);
      }
      case "VariableDeclarator":
      case "ClassDeclaration":
      case "ClassExpression":
        return key !== "id";
      case "FunctionDeclaration":
      case "FunctionExpression":
      case "ArrowFunctionExpression":
        return key === "body";
      case "CatchClause":
        return key !== "param";
      case "AssignmentPattern":
      case "AssignmentExpression":
      case "ForInStatement":
      case "ForOfStatement":
        return key !== "left";
      default:
        return true;
    }
  }

  /** A read of a global-looking name: `ref` is the identifier, or the `globalThis.x` that stands for it. */
  private checkName(name: string, ref: Node) {
    const link = this.links.get(ref);
    const p = link?.parent;
    if (p?.type === "UnaryExpression" && p.operator === "typeof") return;
    const asObject = p?.type === "MemberExpression" && link?.key === "object" ? p : undefined;
    const asCallee =
      (p?.type === "CallExpression" || p?.type === "NewExpression") && link?.key === "callee" ? p : undefined;
    if (javascript.globals.includes(name)) {
      if (!asObject) return this.report("dynamic-attribute", ref, `${name} used as a value`);
      const prop = memberName(asObject);
      if (prop === undefined) return this.report("dynamic-attribute", asObject, `${name}[...] with a computed name`);
      this.checkName(prop, asObject);
      return;
    }
    if (javascript.dynamic.includes(name))
      return this.report("dynamic-code", ref, `${name} runs code that is not checked`);
    // in a with statement's body a variable is the object's property: with (f) constructor("...")
    if (this.isSensitive(name) && this.inWith(ref))
      return this.report("introspection", ref, `${name} in a with statement is the object's ${name}`);
    if (name === "require") {
      if (asCallee?.type !== "CallExpression")
        return this.report("dynamic-code", ref, 'require used other than as require("name")');
      const module = fold(asCallee.arguments[0] as Node | undefined);
      if (module === undefined) return this.report("dynamic-code", ref, "require with a computed module name");
      return this.checkModule(module, asCallee);
    }
    if (javascript.timers.includes(name) && asCallee && stringish(asCallee.arguments[0] as Node | undefined))
      return this.report("dynamic-code", ref, `${name} with a string runs it as code`);
    if (javascript.network.includes(name)) return this.report("system-api", ref, `${name} gives network access`);
    const guarded = (javascript.guarded as Record<string, { rule: RuleId; allow: string[] }>)[name];
    if (guarded && Object.hasOwn(javascript.guarded, name)) {
      if (!asObject) return this.report("dynamic-attribute", ref, `${name} used as a value`);
      const prop = memberName(asObject);
      if (prop === undefined) return this.report("dynamic-attribute", asObject, `${name}[...] with a computed name`);
      if (!guarded.allow.includes(prop)) this.report(guarded.rule, asObject, `${name}.${prop} is not allowed`);
    }
  }

  private checkImportMeta(meta: Node) {
    const link = this.links.get(meta);
    const p = link?.parent;
    if (p?.type === "UnaryExpression" && p.operator === "typeof") return;
    if (p?.type !== "MemberExpression" || link?.key !== "object")
      return this.report("dynamic-attribute", meta, "import.meta used as a value");
    const prop = memberName(p);
    if (prop === undefined) return this.report("dynamic-attribute", p, "import.meta[...] with a computed name");
    if (!javascript.importMeta.includes(prop)) this.report("dynamic-code", p, `import.meta.${prop} is not allowed`);
  }

  private checkMember(m: MemberExpression) {
    const prop = memberName(m);
    const object = m.object as Node;
    if (prop !== undefined && javascript.sensitive.includes(prop))
      return this.report("introspection", m, `access to ${prop} is forbidden`);
    if (prop !== undefined && javascript.functionWays.includes(prop)) return this.checkFunctionWay(m, prop);
    // Reflect.get(o, k, receiver) runs o's getter for k on any receiver: __proto__'s on a function
    if (prop === "get" && object.type === "Identifier" && object.name === "Reflect") {
      const call = this.callOf(m);
      if (!call || call.arguments.length > 2)
        return this.report(
          "introspection",
          m,
          "Reflect.get with a receiver, or as a value, runs any getter on any object",
        );
    }
    if (prop === undefined && m.computed && (functionish.has(object.type) || this.reachesFunction(object)))
      this.report("dynamic-attribute", m, "a computed member of a function");
  }

  /** Whether n is (likely) a function, or a way to one: a computed member of it may be its constructor. */
  private reachesFunction(n: Node): boolean {
    if (functionish.has(n.type)) return true;
    if (n.type === "Identifier") return this.functions.has(n.name) || javascript.constructors.includes(n.name);
    if (n.type === "MemberExpression") {
      const prop = memberName(n);
      return prop === "constructor" || prop === "__proto__";
    }
    if (n.type === "CallExpression" && n.callee.type === "MemberExpression")
      return memberName(n.callee) === "getPrototypeOf";
    return false;
  }

  private checkModule(specifier: string, node: Node) {
    const name = specifier.startsWith("node:") ? specifier.slice("node:".length) : specifier;
    if (/^(data|blob):/i.test(name))
      return this.report("dynamic-code", node, `import of a ${name.split(":")[0]}: URL runs code that is not checked`);
    if (this.allow.includes(specifier) || this.allow.includes(name)) return;
    const forbidden = () => this.report("forbidden-import", node, `import of "${specifier}" is forbidden`);
    // paths and URLs name files or hosts, not modules: only an exact entry allows one
    if (/^[./\\]/.test(name) || (/^[a-z][a-z0-9+.-]*:/i.test(name) && !name.startsWith("bun:"))) return forbidden();
    const parts = name.split("/");
    const top = name.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? name);
    if (this.allow.includes(top)) return;
    if (javascript.never.includes(top) || top.startsWith("bun:") || !this.allow.includes("*")) return forbidden();
  }
}
