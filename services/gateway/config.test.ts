import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../lib/config/config.ts";
import { loadGatewayConfig, stdioProgram } from "./config.ts";
import { defaultAllowedOrigins } from "./gateway.ts";

const resource = { GATEWAY_RESOURCE: "http://gw/mcp" };

describe("the gateway's configuration", () => {
  test("defaults", () => {
    expect(loadGatewayConfig([], {})).toEqual({
      namespace: "mcp-system",
      port: 8080,
      host: "0.0.0.0",
      metricsPort: 9102,
      tokensDir: undefined,
      issuers: [],
      kubernetesTokens: undefined,
      resource: undefined,
      requiredScopes: undefined,
      allowUnauthenticated: false,
      authorization: "rbac",
      authorizationTtlSeconds: 10,
      plans: true,
      bindCalls: true,
      maxTasksInFlightPerCaller: 100,
      trustedProxies: [],
      allowedOrigins: defaultAllowedOrigins,
      allowedHosts: undefined,
      ratePerSecond: 50,
      burst: 100,
      maxBodyBytes: 1024 * 1024,
      sessionKeyFile: undefined,
      sessionTtlSeconds: 86400,
      auditLog: "stdout",
      logLevel: "info",
    });
  });

  test.each([
    {
      name: "open mode implies no tool checks",
      argv: ["--allow-unauthenticated"],
      env: {},
      want: { authorization: "none" },
    },
    {
      name: "open mode from the environment",
      argv: [],
      env: { GATEWAY_ALLOW_UNAUTHENTICATED: "true" },
      want: { allowUnauthenticated: true, authorization: "none" },
    },
    {
      name: "open mode with RBAC asked for",
      argv: ["--allow-unauthenticated", "--authorization=rbac"],
      env: {},
      want: { authorization: "rbac" },
    },
    {
      name: "no tool checks asked for",
      argv: [],
      env: { GATEWAY_AUTHORIZATION: "none" },
      want: { authorization: "none" },
    },
    {
      name: "issuers, by the old name",
      argv: [],
      env: { ...resource, GATEWAY_AUTHORIZATION_SERVERS: "https://a, https://b" },
      want: { issuers: ["https://a", "https://b"] },
    },
    {
      name: "issuers, the new name first",
      argv: [],
      env: { ...resource, GATEWAY_ISSUERS: "https://new", GATEWAY_AUTHORIZATION_SERVERS: "https://old" },
      want: { issuers: ["https://new"] },
    },
    {
      name: "issuers by the old flag",
      argv: ["--authorization-servers=https://a", "--resource=http://gw/mcp"],
      env: {},
      want: { issuers: ["https://a"] },
    },
    {
      name: "Kubernetes tokens with a resource",
      argv: ["--kubernetes-tokens=jwks"],
      env: resource,
      want: { kubernetesTokens: "jwks", resource: "http://gw/mcp" },
    },
    { name: "no origins at all", argv: [], env: { GATEWAY_ALLOWED_ORIGINS: "" }, want: { allowedOrigins: [] } },
    {
      name: "trusted proxies",
      argv: ["--trusted-proxies=10.0.0.0/8,::1"],
      env: {},
      want: { trustedProxies: ["10.0.0.0/8", "::1"] },
    },
    { name: "fractional rates", argv: ["--rate-per-second=0.5"], env: {}, want: { ratePerSecond: 0.5 } },
    { name: "any free metrics port", argv: ["--metrics-port=0"], env: {}, want: { metricsPort: 0 } },
    { name: "the namespace", argv: [], env: { NAMESPACE: "d1" }, want: { namespace: "d1" } },
  ])("accepts $name", ({ argv, env, want }) => {
    expect(loadGatewayConfig(argv, env)).toMatchObject(want);
  });

  test.each([
    {
      name: "issuers without a resource",
      argv: ["--issuers=https://a"],
      env: {},
      says: "gateway: resource (--resource/GATEWAY_RESOURCE): is required with --issuers or --kubernetes-tokens",
    },
    {
      name: "Kubernetes tokens without a resource",
      argv: ["--kubernetes-tokens=tokenreview"],
      env: {},
      says: "is required",
    },
    {
      name: "an unknown token check",
      argv: ["--kubernetes-tokens=oidc"],
      env: resource,
      says: 'gateway: kubernetesTokens (--kubernetes-tokens/GATEWAY_KUBERNETES_TOKENS): must be one of jwks, tokenreview, got "oidc"',
    },
    {
      name: "a resource that is not a URL",
      argv: ["--resource=gw"],
      env: {},
      says: 'gateway: resource (--resource/GATEWAY_RESOURCE): must be a URL, got "gw"',
    },
    { name: "an issuer that is not a URL", argv: ["--issuers=a b"], env: resource, says: "must be issuer URLs" },
    { name: "an unknown authorization", argv: ["--authorization=acl"], env: {}, says: "must be one of rbac, none" },
    { name: "a bad CIDR", argv: [], env: { GATEWAY_TRUSTED_PROXIES: "10.0.0.0/99" }, says: "trustedProxies" },
    {
      name: "a rate of 0",
      argv: [],
      env: { GATEWAY_RATE_PER_SECOND: "0" },
      says: 'gateway: ratePerSecond (--rate-per-second/GATEWAY_RATE_PER_SECOND): must be a positive number, got "0"',
    },
    { name: "a bad port", argv: ["--port=http"], env: {}, says: "port (--port/GATEWAY_PORT): must be an integer" },
    { name: "a bad open-mode switch", argv: [], env: { GATEWAY_ALLOW_UNAUTHENTICATED: "yes" }, says: "true or false" },
    { name: "a bad log level", argv: [], env: { LOG_LEVEL: "loud" }, says: "logLevel (--log-level/LOG_LEVEL)" },
  ])("rejects $name", ({ argv, env, says }) => {
    expect(() => loadGatewayConfig(argv, env)).toThrow(says);
  });
});

describe("the stdio gateway's configuration", () => {
  test.each([
    { given: [], env: {}, want: { namespace: "mcp-system", auditLog: "stderr", logLevel: "warn" } },
    {
      given: ["--namespace=a"],
      env: { NAMESPACE: "b", LOG_LEVEL: "error", GATEWAY_AUDIT_LOG: "off" },
      want: { namespace: "a", auditLog: "off", logLevel: "error" },
    },
  ])("$given $env", ({ given, env, want }) => {
    expect(loadConfig(stdioProgram, given, env)).toEqual(want);
  });

  test("keeps audit records off stdout, which carries MCP", () => {
    expect(() => loadConfig(stdioProgram, ["--audit-log=stdout"], {})).toThrow("cannot be stdout");
  });

  test("refuses what the HTTP gateway takes", () => {
    expect(() => loadConfig(stdioProgram, ["--port=1"], {})).toThrow("gateway-stdio: --port: no such flag");
  });
});
