/**
 * The gateway process: MCP over Streamable HTTP for one domain.
 *   bun services/gateway/main.ts --namespace mcp-system --port 8080 --tokens-dir /var/run/secrets/gateway-tokens
 *
 * Who may call (docs/clients.md#authentication); at least one, or
 * --allow-unauthenticated, else /mcp refuses every request:
 *   GATEWAY_TOKENS_DIR (--tokens-dir)  static tokens: a mounted Secret, one file per client, holding its
 *                                      token; read again when the Secret changes
 *   GATEWAY_ISSUERS (--issuers)        OAuth authorization servers whose JWT access tokens are accepted
 *                                      (comma list of issuer URLs; GATEWAY_AUTHORIZATION_SERVERS is an alias)
 *   GATEWAY_KUBERNETES_TOKENS (--kubernetes-tokens)  service-account tokens for the resource URI:
 *                                      "jwks" (the apiserver's OIDC keys) or "tokenreview"
 *   GATEWAY_RESOURCE (--resource)      the gateway's resource URI, the audience tokens must name
 *   GATEWAY_REQUIRED_SCOPES (--required-scopes)  scopes an OAuth token must carry (comma list)
 *   GATEWAY_ALLOW_UNAUTHENTICATED=true (--allow-unauthenticated)  open mode, for local use only
 * Who may call which tool (docs/clients.md#tool-authorization):
 *   GATEWAY_AUTHORIZATION (--authorization)  "rbac" (default): a caller may call a tool when RBAC lets
 *                                      it `call` tools.mcp.io/<tool> in the namespace; "none": any caller
 *                                      may call any tool (the default in open mode)
 *   GATEWAY_AUTHORIZATION_TTL_SECONDS  how long an RBAC decision is trusted (default 10)
 *   GATEWAY_MAX_TASKS_IN_FLIGHT_PER_CALLER (--max-tasks-in-flight-per-caller)  a caller's unfinished
 *                                      Tasks at most, across replicas (default 100)
 * Also: NAMESPACE, GATEWAY_PORT, GATEWAY_HOST, GATEWAY_METRICS_PORT (/metrics
 * and the probes; default 9102; /mcp's port serves no metrics),
 * GATEWAY_TRUSTED_PROXIES (CIDRs whose X-Forwarded-For is believed),
 * GATEWAY_ALLOWED_ORIGINS, GATEWAY_ALLOWED_HOSTS (comma lists),
 * GATEWAY_RATE_PER_SECOND, GATEWAY_BURST, GATEWAY_MAX_BODY_BYTES,
 * GATEWAY_SESSION_KEY_FILE (the key that seals session ids, 32 bytes raw, hex
 * or base64; without it the Secret mcp-gateway-session-key of the namespace,
 * created when missing), GATEWAY_SESSION_TTL_SECONDS (docs/adr/0007).
 */
import { parseArgs } from "node:util";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createLogger } from "../../lib/log.ts";
import { defaultAllowedOrigins, Gateway, serveGatewayWithMetrics } from "./gateway.ts";
import { TrustedProxies } from "./security.ts";

const env = process.env;
const { values } = parseArgs({
  options: {
    namespace: { type: "string", default: env.NAMESPACE ?? "mcp-system" },
    port: { type: "string", default: env.GATEWAY_PORT ?? "8080" },
    host: { type: "string", default: env.GATEWAY_HOST ?? "0.0.0.0" },
    "metrics-port": { type: "string", default: env.GATEWAY_METRICS_PORT ?? "9102" },
    "tokens-dir": { type: "string", default: env.GATEWAY_TOKENS_DIR },
    issuers: { type: "string", default: env.GATEWAY_ISSUERS ?? env.GATEWAY_AUTHORIZATION_SERVERS },
    "authorization-servers": { type: "string" },
    "kubernetes-tokens": { type: "string", default: env.GATEWAY_KUBERNETES_TOKENS },
    resource: { type: "string", default: env.GATEWAY_RESOURCE },
    "required-scopes": { type: "string", default: env.GATEWAY_REQUIRED_SCOPES },
    "allow-unauthenticated": { type: "boolean", default: env.GATEWAY_ALLOW_UNAUTHENTICATED === "true" },
    authorization: { type: "string", default: env.GATEWAY_AUTHORIZATION },
    "authorization-ttl-seconds": { type: "string", default: env.GATEWAY_AUTHORIZATION_TTL_SECONDS ?? "10" },
    "max-tasks-in-flight-per-caller": { type: "string", default: env.GATEWAY_MAX_TASKS_IN_FLIGHT_PER_CALLER ?? "100" },
    "trusted-proxies": { type: "string", default: env.GATEWAY_TRUSTED_PROXIES },
    "allowed-origins": { type: "string", default: env.GATEWAY_ALLOWED_ORIGINS },
    "allowed-hosts": { type: "string", default: env.GATEWAY_ALLOWED_HOSTS },
    "rate-per-second": { type: "string", default: env.GATEWAY_RATE_PER_SECOND ?? "50" },
    burst: { type: "string", default: env.GATEWAY_BURST ?? "100" },
    "max-body-bytes": { type: "string", default: env.GATEWAY_MAX_BODY_BYTES ?? String(1024 * 1024) },
    "session-key-file": { type: "string", default: env.GATEWAY_SESSION_KEY_FILE },
    "session-ttl-seconds": { type: "string", default: env.GATEWAY_SESSION_TTL_SECONDS ?? String(24 * 60 * 60) },
  },
});
const list = (s: string | undefined) =>
  s
    ?.split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const fail = (message: string): never => {
  console.error(`gateway: ${message}`);
  process.exit(2);
};
const positive = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
};

const kubernetesTokens = values["kubernetes-tokens"] || undefined;
if (kubernetesTokens !== undefined && kubernetesTokens !== "jwks" && kubernetesTokens !== "tokenreview")
  fail(`--kubernetes-tokens must be jwks or tokenreview, got ${JSON.stringify(kubernetesTokens)}`);
const issuers = list(values.issuers ?? values["authorization-servers"]) ?? [];
const resource = values.resource || undefined;
if ((issuers.length || kubernetesTokens) && !resource)
  fail("--resource (GATEWAY_RESOURCE) is required with --issuers or --kubernetes-tokens");
if (resource && !URL.canParse(resource)) fail(`--resource must be a URL, got ${JSON.stringify(resource)}`);
const trustedProxies = list(values["trusted-proxies"]) ?? [];
try {
  new TrustedProxies(trustedProxies);
} catch (err) {
  fail(`--trusted-proxies: ${(err as Error).message}`);
}
const allowUnauthenticated = values["allow-unauthenticated"] === true;
// Open mode is for local use: unless asked for, it checks no tools either.
const authorization = values.authorization ?? (allowUnauthenticated ? "none" : "rbac");
if (authorization !== "rbac" && authorization !== "none")
  fail(`--authorization must be rbac or none, got ${JSON.stringify(authorization)}`);

const log = createLogger({ service: "gateway" });
const configured = [
  values["tokens-dir"] && "static tokens",
  issuers.length && "OAuth JWTs",
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

const gateway = new Gateway({
  conn: KubeConnection.fromOptions(),
  namespace: values.namespace,
  log,
  security: {
    tokensDir: values["tokens-dir"],
    issuers,
    kubernetesTokens: kubernetesTokens as "jwks" | "tokenreview" | undefined,
    resource,
    requiredScopes: list(values["required-scopes"]),
    allowUnauthenticated,
    trustedProxies,
    allowedOrigins: list(values["allowed-origins"]) ?? defaultAllowedOrigins,
    allowedHosts: list(values["allowed-hosts"]),
    ratePerSecond: positive("rate-per-second", values["rate-per-second"]),
    burst: positive("burst", values.burst),
    maxBodyBytes: positive("max-body-bytes", values["max-body-bytes"]),
  },
  authorization: authorization as "rbac" | "none",
  authorizationTtlMs: positive("authorization-ttl-seconds", values["authorization-ttl-seconds"]) * 1000,
  maxInFlightPerCaller: positive("max-tasks-in-flight-per-caller", values["max-tasks-in-flight-per-caller"]),
  sessions: {
    key: values["session-key-file"] ? { file: values["session-key-file"] } : undefined,
    ttlSeconds: positive("session-ttl-seconds", values["session-ttl-seconds"]),
  },
});
await gateway.start();
const metricsPort = Number(values["metrics-port"]);
if (!Number.isInteger(metricsPort) || metricsPort < 0)
  fail(`--metrics-port must be a port number, got ${values["metrics-port"]}`);
const server = serveGatewayWithMetrics(gateway, { port: Number(values.port), hostname: values.host, metricsPort });
log.info(
  { port: server.port, metricsPort: server.metricsPort, namespace: values.namespace },
  "Gateway listening on /mcp",
);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, async () => {
    // First, so that the requests the stop cuts off leave their Tasks running.
    gateway.drain();
    await server.stop();
    await gateway.stop();
    process.exit(0);
  });
}
