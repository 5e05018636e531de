/**
 * mcp-stdio-bridge: runs a stdio MCP server behind Streamable HTTP, one
 * process per session. A stdio MCPServer's pod runs this in its container
 * (the conductor image carries it compiled to one file).
 *
 *   mcp-stdio-bridge [--port 8080] [--path /mcp] [--max-sessions 32] -- COMMAND [ARGS...]
 */
import { loadOrExit } from "../../lib/config/config.ts";
import { createLogger } from "../../lib/log.ts";
import { StdioBridge } from "./bridge.ts";
import { loadBridgeConfig } from "./config.ts";

const config = loadOrExit(() => loadBridgeConfig());
const log = createLogger({ service: "mcp-stdio-bridge", level: config.logLevel });
const bridge = new StdioBridge({
  command: config.command,
  args: config.args,
  path: config.path,
  maxSessions: config.maxSessions,
  env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
  log,
});
// No idle timeout: an SSE stream may stay quiet for long.
const server = Bun.serve({ port: config.port, hostname: "0.0.0.0", idleTimeout: 0, fetch: bridge.fetch });
log.info(
  { port: server.port, path: config.path, command: [config.command, ...config.args] },
  "Bridging stdio MCP server to Streamable HTTP",
);
console.error(`listening on ${server.port}`);

const shutdown = async () => {
  await bridge.close();
  await server.stop(true);
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
