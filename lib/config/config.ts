/**
 * One typed configuration per program. Each setting is declared once (its
 * type, default, environment variables, flags and one line of documentation)
 * and read from an optional file (--config or the program's variable, YAML or
 * JSON) < the environment < flags, each overriding the one before. Every
 * problem is collected and reported in one style,
 *   <program>: <key> (<flag>/<ENV>): <what is wrong>, got <value>
 * and the process exits 2. docs/operations.md#configuration lists every
 * program's settings, generated from these declarations (hack/gen-config-docs.ts).
 *
 *   const program = defineProgram({ name: "scheduler", usage: "…", summary: "…",
 *     settings: { port: port({ env: "SCHEDULER_PORT", default: 9090, doc: "…" }) } });
 *   const config = loadOrExit(() => loadConfig(program));   // config.port: number
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

export type Env = Record<string, string | undefined>;

export type Kind = "string" | "number" | "boolean" | "enum" | "list";

/** A setting as declared; `T` includes `undefined` when it has no default. */
export interface Spec<T> {
  /** What a valid value is, as the end of "must be …": "an integer from 0 to 65535". */
  readonly expects: string;
  readonly doc: string;
  /** Environment variables, the first one set wins; the later ones are older names kept working. */
  readonly env: readonly string[];
  /** Flag names without dashes, the first one given wins; by default the key in kebab case. */
  readonly flag?: string | readonly string[] | false;
  /** Its dotted path in a config file; by default the key. */
  readonly file?: string;
  readonly kind: Kind;
  /** The default, computed from the environment when it depends on it (a pod name). */
  readonly default: (env: Env) => T;
  /** How the default reads in --help and the docs. */
  readonly defaultDoc: string;
  /** A given value, converted and checked; throws Invalid. */
  readonly parse: (raw: unknown) => T;
}

// biome-ignore lint/suspicious/noExplicitAny: a record of specs of any value type
export type Specs = Record<string, Spec<any>>;
export type ConfigOf<S extends Specs> = { -readonly [K in keyof S]: S[K] extends Spec<infer T> ? T : never };

/** A cross-setting rule's finding about one key; "got <its value>" is added. */
export interface Problem<S extends Specs> {
  key: keyof S & string;
  message: string;
}

export interface ProgramOptions<S extends Specs> {
  /** The name errors start with: "gateway". */
  name: string;
  /** How it is run, for --help: "bun services/gateway/main.ts [flags]". */
  usage: string;
  /** One line on what it is. */
  summary: string;
  /** The environment variable that names a config file, besides --config. */
  configEnv?: string;
  settings: S;
  /** Rules across settings, run once every setting is valid. */
  check?: (config: ConfigOf<S>) => Problem<S>[];
}

/** One setting, resolved: its key, flags and file path (which names it in messages and docs). */
export interface Entry {
  key: string;
  flags: string[];
  file: string;
  // biome-ignore lint/suspicious/noExplicitAny: any value type
  spec: Spec<any>;
}

export interface Program<S extends Specs> extends ProgramOptions<S> {
  entries: Entry[];
}

/** Configuration problems, one line each, already in the reporting style. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

/** --help was asked for; the message is the help text. */
export class HelpRequested extends Error {
  override readonly name = "HelpRequested";
}

/** A value that does not fit its setting; the message completes "must be …" or says what is wrong. */
class Invalid extends Error {}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const asList = (v: string | readonly string[] | undefined) =>
  v === undefined ? [] : typeof v === "string" ? [v] : [...v];
const shown = (v: unknown) => (Array.isArray(v) ? v.join(",") : typeof v === "string" ? v : JSON.stringify(v));

/** A program's settings and how it is run; the flag names are resolved and checked for clashes here. */
export function defineProgram<S extends Specs>(o: ProgramOptions<S>): Program<S> {
  const entries = Object.entries(o.settings).map(([key, spec]) => ({
    key,
    spec,
    flags: spec.flag === false ? [] : spec.flag === undefined ? [kebab(key)] : asList(spec.flag),
    file: spec.file ?? key,
  }));
  const flags = ["config", "help", ...entries.flatMap((e) => e.flags)];
  const clash = flags.find((f, i) => flags.indexOf(f) !== i);
  if (clash) throw new Error(`${o.name}: the flag --${clash} is declared twice (--config and --help are the loader's)`);
  return { ...o, entries };
}

// ---- The kinds of setting ----

interface Options<T> {
  doc: string;
  env?: string | readonly string[];
  flag?: string | readonly string[] | false;
  file?: string;
  default?: T | ((env: Env) => T);
  defaultDoc?: string;
  /** A further rule on a given value: undefined when it holds, else what is wrong. */
  check?: (value: T) => string | undefined;
}
type WithDefault<T> = Options<T> & { default: T | ((env: Env) => T) };

function spec<T>(o: Options<T>, kind: Kind, expects: string, convert: (raw: unknown) => T): Spec<T> {
  const def = o.default;
  return {
    expects,
    doc: o.doc,
    env: asList(o.env),
    flag: o.flag,
    file: o.file,
    kind,
    default: typeof def === "function" ? (def as (env: Env) => T) : () => def as T,
    defaultDoc: o.defaultDoc ?? (def === undefined || typeof def === "function" ? "" : shown(def)),
    parse: (raw) => {
      const value = convert(raw);
      const wrong = o.check?.(value);
      if (wrong !== undefined) throw new Invalid(wrong);
      return value;
    },
  };
}

const must = (expects: string) => new Invalid(`must be ${expects}`);

/** Any string; without a default, undefined when not given. */
export function string(o: WithDefault<string>): Spec<string>;
export function string(o: Options<string>): Spec<string | undefined>;
export function string(o: Options<string>): Spec<string | undefined> {
  return spec(o, "string", "a string", (raw) => {
    if (typeof raw !== "string") throw must("a string");
    return raw;
  });
}

interface NumberOptions {
  integer?: boolean;
  /** The least value allowed. */
  min?: number;
  max?: number;
  /** Above zero. */
  positive?: boolean;
}

function numberPhrase({ integer, min, max, positive }: NumberOptions): string {
  const noun = integer ? "integer" : "number";
  if (positive) return `a positive ${noun}`;
  if (min === 0 && max === undefined && integer) return "a non-negative integer";
  const a = integer ? "an" : "a";
  if (min !== undefined && max !== undefined) return `${a} ${noun} from ${min} to ${max}`;
  if (min !== undefined) return `${a} ${noun} of at least ${min}`;
  if (max !== undefined) return `${a} ${noun} of at most ${max}`;
  return `${a} ${noun}`;
}

/** A number within bounds; the bounds also word the error and the docs ("an integer of at least 1"). */
export function number(o: WithDefault<number> & NumberOptions): Spec<number>;
export function number(o: Options<number> & NumberOptions): Spec<number | undefined>;
export function number(o: Options<number> & NumberOptions): Spec<number | undefined> {
  const expects = numberPhrase(o);
  return spec(o, "number", expects, (raw) => {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : Number.NaN;
    const fits =
      Number.isFinite(n) &&
      (!o.integer || Number.isInteger(n)) &&
      (!o.positive || n > 0) &&
      (o.min === undefined || n >= o.min) &&
      (o.max === undefined || n <= o.max);
    if (!fits) throw must(expects);
    return n;
  });
}

/** A TCP port; 0 takes any free one. */
export function port(o: WithDefault<number>): Spec<number> {
  return number({ ...o, integer: true, min: 0, max: 65535 });
}

/** On the command line `--flag` alone is true; `--flag=false` or `--flag false` sets it. */
export function boolean(o: WithDefault<boolean>): Spec<boolean> {
  return spec(o, "boolean", "true or false", (raw) => {
    if (raw === true || raw === "true") return true;
    if (raw === false || raw === "false") return false;
    throw must("true or false");
  });
}

/** One of a few words. */
export function oneOf<const V extends string>(values: readonly V[], o: WithDefault<V>): Spec<V>;
export function oneOf<const V extends string>(values: readonly V[], o: Options<V>): Spec<V | undefined>;
export function oneOf<const V extends string>(values: readonly V[], o: Options<V>): Spec<V | undefined> {
  const expects = `one of ${values.join(", ")}`;
  return spec(o, "enum", expects, (raw) => {
    if (!values.includes(raw as V)) throw must(expects);
    return raw as V;
  });
}

/** Comma-separated in the environment and flags, a list or a comma-separated string in a file; "" is the empty list. */
export function list(o: WithDefault<string[]>): Spec<string[]>;
export function list(o: Options<string[]>): Spec<string[] | undefined>;
export function list(o: Options<string[]>): Spec<string[] | undefined> {
  const expects = "a comma-separated list";
  return spec(o, "list", expects, (raw) => {
    const items = typeof raw === "string" ? raw.split(",") : Array.isArray(raw) ? raw : undefined;
    if (!items?.every((i) => typeof i === "string")) throw must(expects);
    return items.map((i) => i.trim()).filter(Boolean);
  });
}

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/** LOG_LEVEL, which every program reads. */
export const logLevel = (fallback: (typeof logLevels)[number] = "info") =>
  oneOf(logLevels, { env: "LOG_LEVEL", default: fallback, doc: "The least severe log lines written." });

// ---- Loading ----

/**
 * An empty value (an environment variable set to "", `--flag=`) counts as not
 * given: in manifests and shells it means "unset" far more often than "empty".
 * Only a list takes it, as the empty list (GATEWAY_ALLOWED_ORIGINS= allows none).
 */
const given = (e: Entry, raw: unknown) => raw !== undefined && raw !== null && (raw !== "" || e.spec.kind === "list");

function label(program: string, e: Entry): string {
  const names = [e.flags[0] && `--${e.flags[0]}`, e.spec.env[0]].filter(Boolean).join("/");
  return `${program}: ${e.file}${names ? ` (${names})` : ""}`;
}

/**
 * Boolean flags are taken out before parseArgs, which knows only `--flag`
 * for them: `--flag`, `--flag=v`, and `--flag v` when v is not a flag.
 */
function takeBooleans(args: readonly string[], booleans: Set<string>) {
  const rest: string[] = [];
  const values: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") {
      rest.push(...args.slice(i));
      break;
    }
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(a);
    if (!m?.[1] || !booleans.has(m[1])) {
      rest.push(a);
      continue;
    }
    const next = args[i + 1];
    if (m[2] !== undefined) values[m[1]] = m[2];
    else if (next !== undefined && !next.startsWith("-")) values[m[1]] = args[++i] as string;
    else values[m[1]] = "true";
  }
  return { rest, values };
}

/** The file's values by dotted path, and the paths no setting declares. */
function flatten(doc: unknown, paths: Set<string>): { values: Map<string, unknown>; unknown: string[] } {
  const values = new Map<string, unknown>();
  const unknown: string[] = [];
  const walk = (o: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (paths.has(path)) values.set(path, v);
      else if (v && typeof v === "object" && !Array.isArray(v) && [...paths].some((p) => p.startsWith(`${path}.`)))
        walk(v as Record<string, unknown>, path);
      else unknown.push(path);
    }
  };
  walk(doc as Record<string, unknown>, "");
  return { values, unknown };
}

/** Every setting at its default. */
export function defaults<S extends Specs>(program: Program<S>, env: Env = process.env): ConfigOf<S> {
  return Object.fromEntries(program.entries.map((e) => [e.key, e.spec.default(env)])) as ConfigOf<S>;
}

/**
 * Reads a program's configuration: defaults < file < environment < flags.
 * Throws ConfigError with every problem found, or HelpRequested for --help.
 */
export function loadConfig<S extends Specs>(
  program: Program<S>,
  argv: readonly string[] = process.argv.slice(2),
  env: Env = process.env,
): ConfigOf<S> {
  const own = argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv;
  if (own.includes("--help") || own.includes("-h")) throw new HelpRequested(helpText(program));
  const name = program.name;
  const booleans = new Set(program.entries.filter((e) => e.spec.kind === "boolean").flatMap((e) => e.flags));
  const { rest, values: boolFlags } = takeBooleans(argv, booleans);
  let flags: Record<string, string | undefined>;
  try {
    const options: Record<string, { type: "string" }> = { config: { type: "string" } };
    for (const f of program.entries.flatMap((e) => e.flags)) if (!booleans.has(f)) options[f] = { type: "string" };
    flags = { ...(parseArgs({ args: rest, options, strict: true }).values as Record<string, string>), ...boolFlags };
  } catch (err) {
    throw new ConfigError([`${name}: ${argError(err as Error & { code?: string })}`]);
  }

  const problems: string[] = [];
  const config = defaults(program, env) as Record<string, unknown>;
  const set = (e: Entry, raw: unknown) => {
    if (!given(e, raw)) return false;
    try {
      config[e.key] = e.spec.parse(raw);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      problems.push(`${label(name, e)}: ${err.message}, got ${JSON.stringify(raw)}`);
    }
    return true;
  };

  const file = flags.config || (program.configEnv ? env[program.configEnv] : undefined);
  if (file) {
    let doc: unknown;
    try {
      // Bun's own parser (not the yaml package: 7 MiB more in every process); JSON is YAML too.
      doc = Bun.YAML.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError([`${name}: config file ${file}: ${(err as Error).message}`]);
    }
    if (doc !== null && (typeof doc !== "object" || Array.isArray(doc)))
      throw new ConfigError([`${name}: config file ${file}: must be a mapping of settings`]);
    const { values, unknown } = flatten(doc ?? {}, new Set(program.entries.map((e) => e.file)));
    for (const path of unknown) problems.push(`${name}: config file ${file}: ${path}: no such setting`);
    for (const e of program.entries) set(e, values.get(e.file));
  }
  for (const e of program.entries) e.spec.env.some((v) => set(e, env[v]));
  for (const e of program.entries) e.flags.some((f) => set(e, flags[f]));

  if (!problems.length && program.check) {
    for (const p of program.check(config as ConfigOf<S>)) {
      const e = program.entries.find((x) => x.key === p.key) as Entry;
      const value = config[p.key];
      problems.push(`${label(name, e)}: ${p.message}${value === undefined ? "" : `, got ${JSON.stringify(value)}`}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return config as ConfigOf<S>;
}

/** parseArgs's errors, said shortly. */
function argError(err: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1];
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `${flag}: no such flag (see --help)`;
  if (err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL")
    return `unexpected argument ${JSON.stringify(/'([^']*)'/.exec(err.message)?.[1])}`;
  if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return `${flag}: needs a value (--flag=value)`;
  return err.message;
}

/** The settings, for --help. */
export function helpText<S extends Specs>(program: Program<S>): string {
  const file = `--config FILE${program.configEnv ? ` or ${program.configEnv}` : ""}`;
  const lines = [
    `usage: ${program.usage}`,
    program.summary,
    "",
    `Settings, as keys of a file (${file}, YAML or JSON), which the environment overrides, which flags override:`,
  ];
  for (const e of program.entries) {
    lines.push(
      `  ${[e.file, ...e.flags.map((f) => `--${f}`), ...e.spec.env].join(", ")}`,
      `      ${e.spec.doc} (${e.spec.expects}${e.spec.defaultDoc ? `; default ${e.spec.defaultDoc}` : ""})`,
    );
  }
  return lines.join("\n");
}

/** Runs a loader; --help prints to stdout and exits 0, problems go to stderr with exit code 2. */
export function loadOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(err.message);
      process.exit(0);
    }
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
}
