/**
 * The gateway over stdio, for desktop clients that launch a command: the
 * same tools and the same Task-backed calls as the HTTP endpoint, for one
 * local user. Logs go to stderr; stdout carries only MCP.
 *   bun services/gateway/stdio.ts --namespace mcp-system
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createLogger } from "../../lib/log.ts";
import { Gateway } from "./gateway.ts";

const { values } = parseArgs({
  options: { namespace: { type: "string", default: process.env.NAMESPACE ?? "mcp-system" } },
});
const log = createLogger({ service: "gateway-stdio", level: process.env.LOG_LEVEL ?? "warn", fd: 2 });
// One process, one client, no HTTP sessions: no shared session key or subscriptions to touch.
const gateway = new Gateway({
  conn: KubeConnection.fromOptions(),
  namespace: values.namespace,
  log,
  sessions: { key: { key: randomBytes(32) }, shareSubscriptions: false },
});
await gateway.start();
const server = gateway.createServer("stdio");
await server.connect(new StdioServerTransport());
const stop = async () => {
  await server.close();
  await gateway.stop();
  process.exit(0);
};
process.stdin.on("close", stop);
process.on("SIGTERM", stop);
