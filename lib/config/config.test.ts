import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  boolean,
  ConfigError,
  defaults,
  defineProgram,
  HelpRequested,
  helpText,
  list,
  loadConfig,
  number,
  oneOf,
  port,
  string,
} from "./config.ts";

const program = defineProgram({
  name: "demo",
  usage: "demo [flags]",
  summary: "A program to test the loader with.",
  configEnv: "DEMO_CONFIG",
  settings: {
    name: string({ env: ["DEMO_NAME", "OLD_NAME"], flag: ["name", "old-name"], default: "n", doc: "A name." }),
    host: string({ env: "DEMO_HOST", doc: "No default." }),
    port: port({ env: "DEMO_PORT", default: 80, doc: "A port." }),
    ratio: number({ env: "DEMO_RATIO", default: 1, positive: true, doc: "Above zero." }),
    workers: number({ env: "DEMO_WORKERS", default: 2, integer: true, min: 1, doc: "At least one." }),
    verbose: boolean({ env: "DEMO_VERBOSE", default: false, doc: "A switch." }),
    mode: oneOf(["fast", "safe"], { env: "DEMO_MODE", default: "safe", doc: "An enum." }),
    tags: list({ env: "DEMO_TAGS", default: ["a"], doc: "A list." }),
    url: string({ env: "DEMO_URL", doc: "Checked.", check: (u) => (URL.canParse(u) ? undefined : "must be a URL") }),
    depth: number({ env: "DEMO_DEPTH", default: 3, integer: true, min: 0, file: "limits.depth", doc: "Nested." }),
    pod: string({ flag: false, default: (env) => env.POD ?? "none", doc: "From env at default time." }),
  },
  check: (c) => (c.mode === "fast" && c.verbose ? [{ key: "verbose", message: "cannot be true in fast mode" }] : []),
});

function file(text: string, name = "config.yaml"): string {
  const path = join(mkdtempSync(join(tmpdir(), "config-")), name);
  writeFileSync(path, text);
  return path;
}

describe("loadConfig", () => {
  test("defaults, then the file, then the environment, then flags", () => {
    const path = file("name: file\nport: 81\nratio: 2\nlimits:\n  depth: 9\ntags: [x, y]\n");
    expect(loadConfig(program, ["--config", path], {})).toMatchObject({
      name: "file",
      port: 81,
      depth: 9,
      tags: ["x", "y"],
    });
    const c = loadConfig(program, ["--config", path, "--port=83"], { DEMO_NAME: "env", DEMO_PORT: "82" });
    expect(c).toMatchObject({ name: "env", port: 83, ratio: 2, depth: 9, workers: 2, host: undefined });
    expect(loadConfig(program, [], { DEMO_CONFIG: path }).name).toBe("file");
    expect(loadConfig(program, [`--config=${file('{"name": "json"}', "c.json")}`], { DEMO_CONFIG: path }).name).toBe(
      "json",
    );
  });

  test("aliases: the first name given wins, in the environment and on the command line", () => {
    expect(loadConfig(program, [], { OLD_NAME: "old" }).name).toBe("old");
    expect(loadConfig(program, [], { OLD_NAME: "old", DEMO_NAME: "new" }).name).toBe("new");
    expect(loadConfig(program, ["--old-name=old"], { DEMO_NAME: "env" }).name).toBe("old");
    expect(loadConfig(program, ["--old-name=old", "--name=new"], {}).name).toBe("new");
  });

  test("an empty value is not given, except for a list", () => {
    const c = loadConfig(program, ["--port="], { DEMO_NAME: "", DEMO_TAGS: "", DEMO_VERBOSE: "" });
    expect(c).toMatchObject({ name: "n", port: 80, tags: [], verbose: false });
  });

  test("a default may depend on the environment", () => {
    expect(defaults(program, { POD: "p-1" }).pod).toBe("p-1");
    expect(loadConfig(program, [], {}).pod).toBe("none");
  });

  test.each([
    { given: ["--verbose"], want: true },
    { given: ["--verbose", "--port=1"], want: true },
    { given: ["--verbose=false"], want: false },
    { given: ["--verbose", "false"], want: false },
    { given: ["--verbose", "true", "--port", "1"], want: true },
    { given: [], want: false },
  ])("boolean flag $given", ({ given, want }) => {
    expect(loadConfig(program, given, {}).verbose).toBe(want);
  });

  test.each([
    { name: "a port", given: { DEMO_PORT: "8080" }, want: { port: 8080 } },
    { name: "port 0", given: { DEMO_PORT: "0" }, want: { port: 0 } },
    { name: "a fraction above zero", given: { DEMO_RATIO: "0.5" }, want: { ratio: 0.5 } },
    { name: "the enum", given: { DEMO_MODE: "fast" }, want: { mode: "fast" } },
    { name: "a list, trimmed", given: { DEMO_TAGS: " a, b ,,c" }, want: { tags: ["a", "b", "c"] } },
    { name: "a boolean", given: { DEMO_VERBOSE: "true" }, want: { verbose: true } },
    { name: "a checked string", given: { DEMO_URL: "http://x/mcp" }, want: { url: "http://x/mcp" } },
  ])("accepts $name", ({ given, want }) => {
    expect(loadConfig(program, [], given)).toMatchObject(want);
  });

  test.each([
    {
      name: "a port out of range",
      env: { DEMO_PORT: "70000" },
      says: 'port (--port/DEMO_PORT): must be an integer from 0 to 65535, got "70000"',
    },
    {
      name: "a non-number",
      env: { DEMO_PORT: "http" },
      says: 'port (--port/DEMO_PORT): must be an integer from 0 to 65535, got "http"',
    },
    {
      name: "zero where positive",
      env: { DEMO_RATIO: "0" },
      says: "ratio (--ratio/DEMO_RATIO): must be a positive number",
    },
    {
      name: "a fraction for an integer",
      env: { DEMO_WORKERS: "1.5" },
      says: "workers (--workers/DEMO_WORKERS): must be an integer of at least 1",
    },
    {
      name: "below the minimum",
      env: { DEMO_WORKERS: "0" },
      says: 'workers (--workers/DEMO_WORKERS): must be an integer of at least 1, got "0"',
    },
    {
      name: "a bad boolean",
      env: { DEMO_VERBOSE: "yes" },
      says: "verbose (--verbose/DEMO_VERBOSE): must be true or false",
    },
    {
      name: "a bad enum",
      env: { DEMO_MODE: "slow" },
      says: 'mode (--mode/DEMO_MODE): must be one of fast, safe, got "slow"',
    },
    { name: "a failed check", env: { DEMO_URL: "nope" }, says: 'url (--url/DEMO_URL): must be a URL, got "nope"' },
    {
      name: "a cross-setting rule",
      env: { DEMO_MODE: "fast", DEMO_VERBOSE: "true" },
      says: "verbose (--verbose/DEMO_VERBOSE): cannot be true in fast mode, got true",
    },
  ])("rejects $name", ({ env, says }) => {
    expect(() => loadConfig(program, [], env)).toThrow(`demo: ${says}`);
  });

  test("collects every problem, one line each, in one style", () => {
    let err: unknown;
    try {
      loadConfig(program, ["--workers=0"], { DEMO_PORT: "x", DEMO_MODE: "slow" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'demo: port (--port/DEMO_PORT): must be an integer from 0 to 65535, got "x"',
      'demo: mode (--mode/DEMO_MODE): must be one of fast, safe, got "slow"',
      'demo: workers (--workers/DEMO_WORKERS): must be an integer of at least 1, got "0"',
    ]);
  });

  test.each([
    { name: "an unknown flag", argv: ["--bogus=1"], says: "demo: --bogus: no such flag (see --help)" },
    { name: "a flag without its value", argv: ["--port"], says: "demo: --port: needs a value" },
    { name: "a stray argument", argv: ["serve"], says: 'demo: unexpected argument "serve"' },
    {
      name: "a key no setting has",
      argv: ["--config", file("limits:\n  width: 1\nnmae: x\n")],
      says: "limits.width: no such setting",
    },
    {
      name: "a wrong type in the file",
      argv: ["--config", file("port: [1]\ntags: 3\n")],
      says: "demo: tags (--tags/DEMO_TAGS): must be a comma-separated list, got 3",
    },
    { name: "a file that is not a mapping", argv: ["--config", file("- a\n")], says: "must be a mapping of settings" },
    {
      name: "a missing file",
      argv: ["--config", "/nonexistent/c.yaml"],
      says: "demo: config file /nonexistent/c.yaml: ",
    },
  ])("rejects $name", ({ argv, says }) => {
    expect(() => loadConfig(program, argv, {})).toThrow(says);
  });

  test("--help (or -h) asks for the settings, whatever else is wrong", () => {
    expect(() => loadConfig(program, ["--bogus", "-h"], {})).toThrow(HelpRequested);
    const help = helpText(program);
    expect(help).toStartWith("usage: demo [flags]\nA program to test the loader with.");
    expect(help).toContain("--config FILE or DEMO_CONFIG");
    expect(help).toContain("  limits.depth, --depth, DEMO_DEPTH\n");
    expect(help).toContain("  name, --name, --old-name, DEMO_NAME, OLD_NAME\n      A name. (a string; default n)");
    expect(help).toContain("  port, --port, DEMO_PORT\n      A port. (an integer from 0 to 65535; default 80)");
  });

  test("a flag declared twice is a programming error", () => {
    expect(() =>
      defineProgram({
        name: "bad",
        usage: "",
        summary: "",
        settings: { a: string({ doc: "" }), b: string({ flag: "a", doc: "" }) },
      }),
    ).toThrow("--a is declared twice");
    expect(() =>
      defineProgram({ name: "bad", usage: "", summary: "", settings: { help: boolean({ default: false, doc: "" }) } }),
    ).toThrow("--help is declared twice");
  });
});
