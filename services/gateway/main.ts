/**
 * The gateway process: MCP over Streamable HTTP for one domain.
 *   bun services/gateway/main.ts --namespace mcp-system --port 8080
 */
import { parseArgs } from "node:util";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createLogger } from "../../lib/log.ts";
import { Gateway, serveGateway } from "./gateway.ts";

const { values } = parseArgs({
  options: {
    namespace: { type: "string", default: process.env.NAMESPACE ?? "mcp-system" },
    port: { type: "string", default: process.env.GATEWAY_PORT ?? "8080" },
    host: { type: "string", default: process.env.GATEWAY_HOST ?? "0.0.0.0" },
  },
});
const log = createLogger({ service: "gateway" });
const gateway = new Gateway({ conn: KubeConnection.fromOptions(), namespace: values.namespace, log });
await gateway.start();
const server = serveGateway(gateway, { port: Number(values.port), hostname: values.host });
log.info({ port: server.port, namespace: values.namespace }, "Gateway listening on /mcp");
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, async () => {
    await server.stop();
    await gateway.stop();
    process.exit(0);
  });
}
