/**
 * The gateway's request checks, each a Hono middleware: bearer tokens mapped
 * to client identities (with RFC 9728 metadata for OAuth-aware clients),
 * Origin and Host validation against DNS rebinding, and a per-client rate
 * limit. Token comparison is constant-time.
 */
import { timingSafeEqual } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Context, MiddlewareHandler } from "hono";

/** Client identity → token. */
export type TokenTable = Map<string, string>;

/**
 * Reads tokens from a mounted Secret: one file per client, named after the
 * client, holding its token (Kubernetes mounts each Secret key as a file).
 */
export function readTokenDir(dir: string): TokenTable {
  const table: TokenTable = new Map();
  for (const name of readdirSync(dir)) {
    if (name.startsWith(".")) continue; // ..data and friends from the projected volume
    const token = readFileSync(join(dir, name), "utf8").trim();
    if (token) table.set(name, token);
  }
  return table;
}

function identify(table: TokenTable, token: string): string | undefined {
  const given = Buffer.from(token);
  let found: string | undefined;
  for (const [client, t] of table) {
    const want = Buffer.from(t);
    // Compare every entry, and in constant time, so timing says nothing.
    if (want.length === given.length && timingSafeEqual(want, given)) found = client;
  }
  return found;
}

export const metadataPath = "/.well-known/oauth-protected-resource";

export interface AuthOptions {
  tokens: TokenTable;
  /** Authorization servers to advertise in the RFC 9728 metadata, if any. */
  authorizationServers?: string[];
}

/** Requires a known bearer token; sets c.get("client") to the client's identity. */
export function bearerAuth({ tokens }: AuthOptions): MiddlewareHandler<{ Variables: { client: string } }> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const client = match ? identify(tokens, match[1] as string) : undefined;
    if (!client) {
      const base = new URL(c.req.url).origin;
      const challenge = `Bearer resource_metadata="${base}${metadataPath}"${match ? ', error="invalid_token", error_description="the token is not valid"' : ""}`;
      return c.json(
        {
          jsonrpc: "2.0",
          error: {
            code: -32001,
            message: match ? "Unauthorized: invalid token" : "Unauthorized: a bearer token is required",
          },
          id: null,
        },
        401,
        { "WWW-Authenticate": challenge },
      );
    }
    c.set("client", client);
    await next();
  };
}

/** RFC 9728 protected-resource metadata. */
export function protectedResourceMetadata(c: Context, opts: AuthOptions) {
  const base = new URL(c.req.url).origin;
  return {
    resource: `${base}/mcp`,
    ...(opts.authorizationServers?.length ? { authorization_servers: opts.authorizationServers } : {}),
    bearer_methods_supported: ["header"],
    resource_name: "MCP Conductor gateway",
  };
}

const matchesPattern = (value: string, pattern: string) =>
  pattern.endsWith(":*") ? value.startsWith(pattern.slice(0, -1)) || value === pattern.slice(0, -2) : value === pattern;

/**
 * Refuses (403) a request whose Origin is present and not allowed, or whose
 * Host is not allowed when a Host list is set: a browser page elsewhere must
 * not reach a gateway through DNS rebinding. Patterns may end in ":*".
 */
export function originCheck(opts: { allowedOrigins: string[]; allowedHosts?: string[] }): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin && !opts.allowedOrigins.some((p) => matchesPattern(origin, p))) {
      return c.json(
        { jsonrpc: "2.0", error: { code: -32000, message: `Forbidden: origin ${origin} is not allowed` }, id: null },
        403,
      );
    }
    const host = c.req.header("host") ?? "";
    if (opts.allowedHosts?.length && !opts.allowedHosts.some((p) => matchesPattern(host, p))) {
      return c.json(
        { jsonrpc: "2.0", error: { code: -32000, message: `Forbidden: host ${host} is not allowed` }, id: null },
        403,
      );
    }
    await next();
  };
}

/**
 * A token bucket per client: `ratePerSecond` sustained, `burst` at once.
 * Over the limit: 429 with Retry-After in whole seconds.
 */
export function rateLimit(opts: {
  ratePerSecond: number;
  burst: number;
  now?: () => number;
}): MiddlewareHandler<{ Variables: { client: string } }> {
  const now = opts.now ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return async (c, next) => {
    const key = c.get("client") ?? c.req.header("x-forwarded-for") ?? "anonymous";
    const t = now();
    const b = buckets.get(key) ?? { tokens: opts.burst, at: t };
    b.tokens = Math.min(opts.burst, b.tokens + ((t - b.at) / 1000) * opts.ratePerSecond);
    b.at = t;
    if (b.tokens < 1) {
      buckets.set(key, b);
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / opts.ratePerSecond));
      return c.json({ jsonrpc: "2.0", error: { code: -32000, message: "Too many requests" }, id: null }, 429, {
        "Retry-After": String(retryAfter),
      });
    }
    b.tokens -= 1;
    buckets.set(key, b);
    await next();
  };
}
