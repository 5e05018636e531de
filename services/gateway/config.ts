/**
 * The settings of the gateway over HTTP (main.ts) and over stdio (stdio.ts);
 * docs/operations.md#configuration lists them, docs/clients.md#authentication
 * says how to choose the callers'.
 */
import {
  boolean,
  type ConfigOf,
  defineProgram,
  type Env,
  list,
  loadConfig,
  logLevel,
  number,
  oneOf,
  port,
  string,
} from "../../lib/config/config.ts";
import { defaultAllowedOrigins } from "./gateway.ts";
import { TrustedProxies } from "./security.ts";

const positive = (env: string, fallback: number, doc: string) =>
  number({ env, default: fallback, positive: true, doc });

export const gatewayProgram = defineProgram({
  name: "gateway",
  usage: "bun services/gateway/main.ts [flags]",
  summary:
    "MCP over Streamable HTTP for one domain. Who may call: --tokens-dir, --issuers or --kubernetes-tokens (at least one, or --allow-unauthenticated, else /mcp refuses every request).",
  configEnv: "GATEWAY_CONFIG",
  settings: {
    namespace: string({
      env: "NAMESPACE",
      default: "mcp-system",
      doc: "The namespace (domain) whose tools it serves.",
    }),
    port: port({ env: "GATEWAY_PORT", default: 8080, doc: "The port of /mcp and the probes; it serves no metrics." }),
    host: string({ env: "GATEWAY_HOST", default: "0.0.0.0", doc: "The address to listen on." }),
    metricsPort: port({ env: "GATEWAY_METRICS_PORT", default: 9102, doc: "The port of /metrics and the probes." }),
    tokensDir: string({
      env: "GATEWAY_TOKENS_DIR",
      doc: "Static tokens: a mounted Secret, one file per client holding its token; read again when it changes.",
    }),
    issuers: list({
      env: ["GATEWAY_ISSUERS", "GATEWAY_AUTHORIZATION_SERVERS"],
      flag: ["issuers", "authorization-servers"],
      default: [],
      defaultDoc: "none",
      doc: "OAuth authorization servers (issuer URLs) whose JWT access tokens are accepted.",
      check: (urls) => (urls.every((u) => URL.canParse(u)) ? undefined : "must be issuer URLs"),
    }),
    kubernetesTokens: oneOf(["jwks", "tokenreview"], {
      env: "GATEWAY_KUBERNETES_TOKENS",
      doc: "Accept service-account tokens for the resource URI, checked by the apiserver's OIDC keys (jwks) or a TokenReview.",
    }),
    resource: string({
      env: "GATEWAY_RESOURCE",
      doc: "The gateway's resource URI, the audience tokens must name; required with issuers or Kubernetes tokens.",
      check: (r) => (URL.canParse(r) ? undefined : "must be a URL"),
    }),
    requiredScopes: list({ env: "GATEWAY_REQUIRED_SCOPES", doc: "Scopes an OAuth token must carry." }),
    allowUnauthenticated: boolean({
      env: "GATEWAY_ALLOW_UNAUTHENTICATED",
      default: false,
      doc: "Open mode, for local use only: callers without a token are served as anonymous.",
    }),
    authorization: oneOf(["rbac", "none"], {
      env: "GATEWAY_AUTHORIZATION",
      defaultDoc: "rbac; none with --allow-unauthenticated",
      doc: "Who may call which tool: rbac, when RBAC lets the caller `call` tools.mcp.io/<tool>; none, anyone anything.",
    }),
    authorizationTtlSeconds: positive("GATEWAY_AUTHORIZATION_TTL_SECONDS", 10, "How long an RBAC decision is trusted."),
    plans: boolean({
      env: "GATEWAY_PLANS",
      default: true,
      doc: "Offer the tool conductor__run_plan, which runs a Plan of this gateway's tools (docs/plans.md).",
    }),
    bindCalls: boolean({
      env: "GATEWAY_BIND_CALLS",
      default: true,
      doc: "Place each call on an agent with room and create its Task bound to it (one status write fewer); false leaves placement to the controller.",
    }),
    maxTasksInFlightPerCaller: positive(
      "GATEWAY_MAX_TASKS_IN_FLIGHT_PER_CALLER",
      100,
      "A caller's unfinished Tasks at most, across replicas.",
    ),
    trustedProxies: list({
      env: "GATEWAY_TRUSTED_PROXIES",
      default: [],
      defaultDoc: "none",
      doc: "Proxies (CIDRs) whose X-Forwarded-For is believed for the rate limit.",
      check: (cidrs) => {
        try {
          new TrustedProxies(cidrs);
        } catch (err) {
          return (err as Error).message;
        }
      },
    }),
    allowedOrigins: list({
      env: "GATEWAY_ALLOWED_ORIGINS",
      default: defaultAllowedOrigins,
      doc: "Origins a browser may call from; a pattern may end in :*.",
    }),
    allowedHosts: list({ env: "GATEWAY_ALLOWED_HOSTS", defaultDoc: "any", doc: "Host header values accepted." }),
    ratePerSecond: positive("GATEWAY_RATE_PER_SECOND", 50, "Requests per second per caller, on average."),
    burst: positive("GATEWAY_BURST", 100, "Requests per caller at once, above the rate."),
    maxBodyBytes: positive("GATEWAY_MAX_BODY_BYTES", 1024 * 1024, "The largest request body."),
    sessionKeyFile: string({
      env: "GATEWAY_SESSION_KEY_FILE",
      defaultDoc: "the Secret mcp-gateway-session-key, created when missing",
      doc: "The key that seals session ids (32 bytes, raw, hex or base64), shared by the replicas (docs/adr/0007).",
    }),
    sessionTtlSeconds: positive("GATEWAY_SESSION_TTL_SECONDS", 24 * 60 * 60, "How long a 2025 session lives."),
    auditLog: string({
      env: "GATEWAY_AUDIT_LOG",
      default: "stdout",
      doc: 'Where the audit record of each federated tool call goes (the controller records agents\' calls): "stdout" (JSON lines with "log":"audit"), "stderr", a file path, or "off".',
    }),
    logLevel: logLevel(),
  },
  check: (c) =>
    (c.issuers.length || c.kubernetesTokens) && !c.resource
      ? [{ key: "resource", message: "is required with --issuers or --kubernetes-tokens" }]
      : [],
});

export type GatewayConfig = Omit<ConfigOf<typeof gatewayProgram.settings>, "authorization"> & {
  authorization: "rbac" | "none";
};

export function loadGatewayConfig(argv?: readonly string[], env?: Env): GatewayConfig {
  const c = loadConfig(gatewayProgram, argv, env);
  // Open mode is for local use: unless asked for, it checks no tools either.
  return { ...c, authorization: c.authorization ?? (c.allowUnauthenticated ? "none" : "rbac") };
}

export const stdioProgram = defineProgram({
  name: "gateway-stdio",
  usage: "bun services/gateway/stdio.ts [--namespace mcp-system]",
  summary: "The gateway over stdio, for one local user; it reads $KUBECONFIG and logs to stderr.",
  settings: {
    namespace: string({
      env: "NAMESPACE",
      default: "mcp-system",
      doc: "The namespace (domain) whose tools it serves.",
    }),
    auditLog: string({
      env: "GATEWAY_AUDIT_LOG",
      default: "stderr",
      doc: 'Where the audit record of each federated tool call goes: "stderr", a file path, or "off" (stdout carries MCP).',
      check: (v) => (v === "stdout" ? "cannot be stdout, which carries MCP" : undefined),
    }),
    // stdout carries MCP and a desktop client shows stderr: only warnings by default.
    logLevel: logLevel("warn"),
  },
});
