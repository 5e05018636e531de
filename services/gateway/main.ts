/**
 * The gateway process: MCP over Streamable HTTP for one domain.
 *   bun services/gateway/main.ts --namespace mcp-system --port 8080 --tokens-dir /var/run/secrets/gateway-tokens
 * Env: NAMESPACE, GATEWAY_PORT, GATEWAY_HOST, GATEWAY_TOKENS_DIR (a mounted
 * Secret: one file per client, holding its token), GATEWAY_ALLOWED_ORIGINS,
 * GATEWAY_ALLOWED_HOSTS, GATEWAY_AUTHORIZATION_SERVERS (comma lists),
 * GATEWAY_RATE_PER_SECOND, GATEWAY_BURST, GATEWAY_MAX_BODY_BYTES,
 * GATEWAY_SESSION_KEY_FILE (the key that seals session ids, 32 bytes raw, hex
 * or base64; without it the Secret mcp-gateway-session-key of the namespace,
 * created when missing), GATEWAY_SESSION_TTL_SECONDS (docs/adr/0007).
 */
import { parseArgs } from "node:util";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createLogger } from "../../lib/log.ts";
import { defaultAllowedOrigins, Gateway, serveGateway } from "./gateway.ts";
import { readTokenDir } from "./security.ts";

const env = process.env;
const { values } = parseArgs({
  options: {
    namespace: { type: "string", default: env.NAMESPACE ?? "mcp-system" },
    port: { type: "string", default: env.GATEWAY_PORT ?? "8080" },
    host: { type: "string", default: env.GATEWAY_HOST ?? "0.0.0.0" },
    "tokens-dir": { type: "string", default: env.GATEWAY_TOKENS_DIR },
    "allowed-origins": { type: "string", default: env.GATEWAY_ALLOWED_ORIGINS },
    "allowed-hosts": { type: "string", default: env.GATEWAY_ALLOWED_HOSTS },
    "authorization-servers": { type: "string", default: env.GATEWAY_AUTHORIZATION_SERVERS },
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
const positive = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`gateway: --${name} must be a positive number, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};

const log = createLogger({ service: "gateway" });
const gateway = new Gateway({
  conn: KubeConnection.fromOptions(),
  namespace: values.namespace,
  log,
  security: {
    tokens: values["tokens-dir"] ? readTokenDir(values["tokens-dir"]) : undefined,
    allowedOrigins: list(values["allowed-origins"]) ?? defaultAllowedOrigins,
    allowedHosts: list(values["allowed-hosts"]),
    authorizationServers: list(values["authorization-servers"]),
    ratePerSecond: positive("rate-per-second", values["rate-per-second"]),
    burst: positive("burst", values.burst),
    maxBodyBytes: positive("max-body-bytes", values["max-body-bytes"]),
  },
  sessions: {
    key: values["session-key-file"] ? { file: values["session-key-file"] } : undefined,
    ttlSeconds: positive("session-ttl-seconds", values["session-ttl-seconds"]),
  },
});
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
