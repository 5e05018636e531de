/**
 * The gateway process: MCP over Streamable HTTP for one domain.
 *   bun services/gateway/main.ts --namespace mcp-system --port 8080 --tokens-dir /var/run/secrets/gateway-tokens
 *
 * Settings (flags, GATEWAY_* environment, a file): config.ts, listed in
 * docs/operations.md#configuration; who may call: docs/clients.md#authentication.
 */
import { loadOrExit } from "../../lib/config/config.ts";
import { startIdleCollection } from "../../lib/idle-collection.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createAuditLogger, createLogger } from "../../lib/log.ts";
import { stopOnSignal } from "../../lib/shutdown.ts";
import { startServiceTracing, tracedServices } from "../../lib/tracing.ts";
import { loadGatewayConfig } from "./config.ts";
import { Gateway, serveGatewayWithMetrics } from "./gateway.ts";

const config = loadOrExit(() => loadGatewayConfig());
const { allowUnauthenticated, authorization, kubernetesTokens, resource } = config;
const log = createLogger({ service: "gateway", level: config.logLevel });
const configured = [
  config.tokensDir && "static tokens",
  config.issuers.length && "OAuth JWTs",
  kubernetesTokens && `Kubernetes tokens (${kubernetesTokens})`,
].filter(Boolean);
if (allowUnauthenticated)
  log.warn(
    { auth: configured },
    "--allow-unauthenticated: /mcp serves callers without a token as anonymous; use it only locally",
  );
else if (!configured.length)
  log.warn("No authentication configured (--tokens-dir, --issuers, --kubernetes-tokens): /mcp refuses every request");
else log.info({ auth: configured, resource }, "Authentication configured");
if (authorization === "none") log.warn("--authorization=none: every caller may call every tool");
else log.info("Tool authorization by RBAC: verb call on tools.mcp.io/<tool> in the namespace");

const tracing = await startServiceTracing(tracedServices.gateway, log);
const gateway = new Gateway({
  conn: KubeConnection.fromOptions(),
  namespace: config.namespace,
  log,
  security: {
    tokensDir: config.tokensDir,
    issuers: config.issuers,
    kubernetesTokens,
    resource,
    requiredScopes: config.requiredScopes,
    allowUnauthenticated,
    trustedProxies: config.trustedProxies,
    allowedOrigins: config.allowedOrigins,
    allowedHosts: config.allowedHosts,
    ratePerSecond: config.ratePerSecond,
    burst: config.burst,
    maxBodyBytes: config.maxBodyBytes,
  },
  authorization,
  authorizationTtlMs: config.authorizationTtlSeconds * 1000,
  maxInFlightPerCaller: config.maxTasksInFlightPerCaller,
  bindCalls: config.bindCalls,
  plans: config.plans,
  audit: createAuditLogger("gateway", config.auditLog),
  sessions: {
    key: config.sessionKeyFile ? { file: config.sessionKeyFile } : undefined,
    ttlSeconds: config.sessionTtlSeconds,
  },
});
await gateway.start();
const server = serveGatewayWithMetrics(gateway, {
  port: config.port,
  hostname: config.host,
  metricsPort: config.metricsPort,
});
log.info(
  { port: server.port, metricsPort: server.metricsPort, namespace: config.namespace },
  "Gateway listening on /mcp",
);
// A burst of calls leaves its garbage in the heap until something allocates again (idle-collection.ts).
const idleCollection = startIdleCollection({ log, registry: gateway.metrics.registry });
stopOnSignal(log, async () => {
  idleCollection.stop();
  // First, so that the requests the stop cuts off leave their Tasks running.
  gateway.drain();
  await server.stop();
  await gateway.stop();
  await tracing?.shutdown();
});
