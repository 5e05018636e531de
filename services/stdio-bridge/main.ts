/**
 * mcp-stdio-bridge: runs a stdio MCP server behind Streamable HTTP, one
 * process per session. A stdio MCPServer's pod runs this in its container
 * (the conductor image carries it compiled to one file).
 *
 *   mcp-stdio-bridge [--port 8080] [--path /mcp] [--max-sessions 32] -- COMMAND [ARGS...]
 */
import { parseArgs } from "node:util";
import { createLogger } from "../../lib/log.ts";
import { StdioBridge } from "./bridge.ts";

const usage = "usage: mcp-stdio-bridge [--port 8080] [--path /mcp] [--max-sessions 32] -- COMMAND [ARGS...]";

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const command = dash >= 0 ? argv.slice(dash + 1) : [];
let values: { port: string; path: string; "max-sessions": string; help: boolean };
try {
  values = parseArgs({
    args: own,
    options: {
      port: { type: "string", default: process.env.PORT ?? "8080" },
      path: { type: "string", default: "/mcp" },
      "max-sessions": { type: "string", default: "32" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  }).values as typeof values;
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const port = Number(values.port);
const maxSessions = Number(values["max-sessions"]);
if (!command[0] || !Number.isInteger(port) || port < 0 || port > 65535 || !(maxSessions >= 1)) {
  console.error(usage);
  process.exit(2);
}

const log = createLogger({ service: "mcp-stdio-bridge", level: process.env.LOG_LEVEL ?? "info" });
const bridge = new StdioBridge({
  command: command[0],
  args: command.slice(1),
  path: values.path,
  maxSessions,
  env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
  log,
});
// No idle timeout: an SSE stream may stay quiet for long.
const server = Bun.serve({ port, hostname: "0.0.0.0", idleTimeout: 0, fetch: bridge.fetch });
log.info({ port: server.port, path: values.path, command }, "Bridging stdio MCP server to Streamable HTTP");
console.error(`listening on ${server.port}`);

const shutdown = async () => {
  await bridge.close();
  await server.stop(true);
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
