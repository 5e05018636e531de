/**
 * The stdio bridge's settings (docs/operations.md#configuration). It runs in
 * an MCPServer's pod, whose environment is the server's own: only PORT and
 * LOG_LEVEL are read from it.
 */
import {
  ConfigError,
  type ConfigOf,
  defineProgram,
  type Env,
  loadConfig,
  logLevel,
  number,
  port,
  string,
} from "../../lib/config/config.ts";

export const bridgeProgram = defineProgram({
  name: "mcp-stdio-bridge",
  usage: "mcp-stdio-bridge [--port 8080] [--path /mcp] [--max-sessions 32] -- COMMAND [ARGS...]",
  summary: "Runs a stdio MCP server behind Streamable HTTP, one process per session.",
  settings: {
    port: port({ env: "PORT", default: 8080, doc: "The HTTP port." }),
    path: string({
      default: "/mcp",
      doc: "The MCP endpoint's path.",
      check: (p) => (p.startsWith("/") ? undefined : "must start with /"),
    }),
    maxSessions: number({ default: 32, integer: true, min: 1, doc: "Sessions (server processes) at once at most." }),
    logLevel: logLevel(),
  },
});

export type BridgeConfig = ConfigOf<typeof bridgeProgram.settings> & { command: string; args: string[] };

/** The bridge's own flags come before `--`, the server's command after it. */
export function loadBridgeConfig(argv: readonly string[] = process.argv.slice(2), env?: Env): BridgeConfig {
  const dash = argv.indexOf("--");
  const [command, ...args] = dash >= 0 ? argv.slice(dash + 1) : [];
  const config = loadConfig(bridgeProgram, dash >= 0 ? argv.slice(0, dash) : argv, env);
  if (!command) throw new ConfigError([`${bridgeProgram.name}: no command to run: usage: ${bridgeProgram.usage}`]);
  return { ...config, command, args };
}
