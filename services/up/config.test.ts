import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../lib/config/config.ts";
import { upProgram } from "./config.ts";

describe("up's settings", () => {
  test.each([
    { argv: [], env: {}, want: { local: false, namespace: "mcp-system", node: false, domain: "data-processing" } },
    { argv: ["--local", "--namespace", "team-a"], env: {}, want: { local: true, namespace: "team-a" } },
    { argv: ["--node", "--domain=content"], env: { LOG_LEVEL: "info" }, want: { node: true, domain: "content" } },
    { argv: [], env: { NAMESPACE: "from-env", UP_LOCAL: "true" }, want: { namespace: "from-env", local: true } },
  ])("$argv $env", ({ argv, env, want }) => {
    expect(loadConfig(upProgram, argv, env)).toMatchObject(want);
  });

  test.each([
    { argv: ["--namespace", "Not_A_Name"], says: "namespace (--namespace/NAMESPACE): must be a namespace name" },
    {
      argv: ["--node", "--domain", "no-such-overlay"],
      says: "domain (--domain/UP_DOMAIN): must name an overlay in kustomize/overlays",
    },
    { argv: ["--node", "--local"], says: "and --node are two ways to run the conductor" },
    { argv: ["--nodes"], says: "--nodes: no such flag" },
  ])("refuses $argv", ({ argv, says }) => {
    expect(() => loadConfig(upProgram, argv, {})).toThrow(ConfigError);
    expect(() => loadConfig(upProgram, argv, {})).toThrow(says);
  });
});
