/**
 * The authorizer process: the apiserver's authorization webhook for agents'
 * Task reads (ADR 0011, docs/deployment.md#the-agents-task-authorizer).
 *   bun services/authorizer/main.ts --tls-cert-file tls.crt --tls-key-file tls.key [--port 8443]
 * Settings: config.ts. It needs no Kubernetes credentials: every answer
 * comes from the review alone.
 */
import { readFileSync } from "node:fs";
import { loadConfig, loadOrExit } from "../../lib/config/config.ts";
import { startOpsServer } from "../../lib/http/ops-server.ts";
import { createLogger } from "../../lib/log.ts";
import { stopOnSignal } from "../../lib/shutdown.ts";
import { authorizerProgram } from "./config.ts";
import { AuthorizerMetrics } from "./metrics.ts";
import { serveAuthorizer } from "./server.ts";

const config = loadOrExit(() => loadConfig(authorizerProgram));
const log = createLogger({ service: "authorizer", level: config.logLevel });

// The serving certificate is read once: after the Secret is renewed, restart the pods.
let tls: { cert: string; key: string };
try {
  tls = {
    cert: readFileSync(config.tlsCertFile as string, "utf8"),
    key: readFileSync(config.tlsKeyFile as string, "utf8"),
  };
} catch (err) {
  log.fatal({ err }, "Could not read the serving certificate");
  process.exit(1);
}

const metrics = new AuthorizerMetrics();
const srv = serveAuthorizer({ port: config.port, hostname: config.host, tls, log, metrics });
const ops =
  config.metricsPort > 0
    ? startOpsServer({ port: config.metricsPort, hostname: config.host, registry: metrics.registry, ready: () => true })
    : undefined;
log.info({ port: srv.port, metricsPort: ops?.port }, "Authorizer listening on /authorize");

stopOnSignal(log, async () => {
  await srv.stop();
  await ops?.stop();
});
