/**
 * The gateway over stdio, for desktop clients that launch a command: the
 * same tools and the same Task-backed calls as the HTTP endpoint, for one
 * local user. Logs go to stderr; stdout carries only MCP.
 *   bun services/gateway/stdio.ts --namespace mcp-system
 * Settings: config.ts (stdioProgram).
 */
import { randomBytes } from "node:crypto";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { loadConfig, loadOrExit } from "../../lib/config/config.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createAuditLogger, createLogger } from "../../lib/log.ts";
import { startServiceTracing, tracedServices } from "../../lib/tracing.ts";
import { stdioProgram } from "./config.ts";
import { Gateway } from "./gateway.ts";

const config = loadOrExit(() => loadConfig(stdioProgram));
const log = createLogger({ service: "gateway-stdio", level: config.logLevel, fd: 2 });
// One process, one client, no HTTP sessions: no shared session key or subscriptions to touch.
const tracing = await startServiceTracing(tracedServices.gateway, log);
const gateway = new Gateway({
  conn: KubeConnection.fromOptions(),
  namespace: config.namespace,
  log,
  audit: createAuditLogger("gateway-stdio", config.auditLog),
  sessions: { key: { key: randomBytes(32) }, shareSubscriptions: false },
});
await gateway.start();
const server = await gateway.createServer("stdio");
await server.connect(new StdioServerTransport());
const stop = async () => {
  await server.close();
  await gateway.stop();
  await tracing?.shutdown();
  process.exit(0);
};
process.stdin.on("close", stop);
process.on("SIGTERM", stop);
