/**
 * The settings the CLI's commands share: where the gateway and the scheduler
 * are, and the gateway's token. Each is a flag of the commands that use it,
 * else its environment variable, else the default, checked here in the one
 * style every program's settings are (lib/config), and listed with them in
 * docs/operations.md#configuration. A bad one is a usage error (exit 2).
 */
import { ConfigError, type ConfigOf, defineProgram, loadConfig, string } from "../../lib/config/config.ts";
import { UsageError } from "./errors.ts";

/** An http(s) URL, as the gateway's endpoint must be. */
const httpUrl = (s: string): string | undefined => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return "must be a URL: http://host:port/mcp";
  }
  return url.protocol === "http:" || url.protocol === "https:" ? undefined : "must be an http or https URL";
};

/** host:port, as gRPC dials it; the port from 1 to 65535. */
const hostPort = (s: string): string | undefined => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d+)$/.exec(s);
  const port = Number(m?.[2]);
  return m && port >= 1 && port <= 65_535 ? undefined : "must be host:port, with a port from 1 to 65535";
};

export const cliProgram = defineProgram({
  name: "conductor",
  usage: "conductor <command> [flags]",
  summary:
    "The command-line client (bin/conductor): what its commands share. Each is a flag of the commands that use it.",
  settings: {
    gateway: string({
      env: "CONDUCTOR_GATEWAY",
      default: "http://127.0.0.1:8080/mcp",
      doc: "The gateway's MCP endpoint (conductor call).",
      check: httpUrl,
    }),
    token: string({
      env: "CONDUCTOR_TOKEN",
      doc: "A bearer token for the gateway (conductor call).",
    }),
    scheduler: string({
      env: "CONDUCTOR_SCHEDULER",
      default: "127.0.0.1:9090",
      doc: "The scheduler's gRPC address (conductor whatif).",
      check: hostPort,
    }),
  },
});

export type CliSettings = ConfigOf<typeof cliProgram.settings>;

/**
 * The shared settings for `command`: the flags it was given (undefined or ""
 * when not) over the environment over the defaults. Throws UsageError naming
 * the flag or variable that is wrong.
 */
export function cliSettings(
  command: string,
  flags: Partial<Record<keyof CliSettings, string | undefined>>,
  env: Record<string, string | undefined> = process.env,
): CliSettings {
  const argv = Object.entries(flags).flatMap(([k, v]) => (v ? [`--${k}=${v}`] : []));
  try {
    return loadConfig(cliProgram, argv, env);
  } catch (err) {
    if (err instanceof ConfigError)
      throw new UsageError(err.problems.map((p) => p.replace(/^conductor:/, `${command}:`)).join("\n"));
    throw err;
  }
}
