/**
 * The gateway's request checks, each a Hono middleware: authentication
 * (services/gateway/auth: static tokens, JWTs of trusted issuers, Kubernetes
 * service-account tokens; RFC 9728 metadata for OAuth-aware clients), Origin
 * and Host validation against DNS rebinding, and a per-caller rate limit
 * keyed by the authenticated identity or the peer address (X-Forwarded-For
 * only from trusted proxies), with bounded state.
 */
import { BlockList, isIP } from "node:net";
import type { Context, MiddlewareHandler } from "hono";
import {
  type AuthEnv,
  authenticate,
  metadataPath,
  type ResourceMetadataOptions,
  protectedResourceMetadata as resourceMetadata,
} from "./auth/authenticator.ts";
import { StaticTokens, type TokenTable } from "./auth/static-tokens.ts";

export { readTokenDir, type TokenTable } from "./auth/static-tokens.ts";
export { metadataPath };

export interface AuthOptions {
  tokens: TokenTable;
  /** Authorization servers to advertise in the RFC 9728 metadata, if any. */
  authorizationServers?: string[];
}

/** RFC 9728 protected-resource metadata (a static-token table, if given, is not part of it). */
export function protectedResourceMetadata(c: Context, opts: ResourceMetadataOptions & { tokens?: TokenTable }) {
  const { tokens: _, ...rest } = opts;
  return resourceMetadata(c, rest);
}

/** Requires a known static bearer token; sets c.get("client") to the client's identity. */
export function bearerAuth({ tokens }: AuthOptions): MiddlewareHandler<AuthEnv> {
  return authenticate({ verifiers: [new StaticTokens({ table: tokens })] });
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

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) as the IPv4 address it is. */
const plain = (addr: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(addr) ? addr.slice(7) : addr);

/** CIDRs (or single addresses) of proxies whose X-Forwarded-For is believed. */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(cidrs: string[] = []) {
    for (const cidr of cidrs) {
      const [addr = "", bits] = cidr.trim().split("/");
      const family = isIP(addr);
      if (!family) throw new Error(`not an IP address or CIDR: ${JSON.stringify(cidr)}`);
      const type = family === 4 ? "ipv4" : "ipv6";
      const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128))
        throw new Error(`not a CIDR: ${JSON.stringify(cidr)}`);
      this.list.addSubnet(addr, prefix, type);
    }
    this.empty = cidrs.length === 0;
  }

  has(addr: string): boolean {
    const a = plain(addr);
    const family = isIP(a);
    return family !== 0 && this.list.check(a, family === 4 ? "ipv4" : "ipv6");
  }
}

/** The peer's address as Bun's server sees it (the Hono env is the Bun server), if known. */
export function peerAddress(c: Context): string | undefined {
  const server = c.env as { requestIP?: (req: Request) => { address: string } | null } | undefined;
  try {
    const ip = server?.requestIP?.(c.req.raw)?.address;
    return ip ? plain(ip) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The caller's address: the peer, or, when the peer is a trusted proxy, the
 * right-most X-Forwarded-For entry that is not a trusted proxy itself.
 */
export function clientAddress(c: Context, trusted: TrustedProxies): string | undefined {
  const peer = peerAddress(c);
  if (!peer || trusted.empty || !trusted.has(peer)) return peer;
  const hops = (c.req.header("x-forwarded-for") ?? "")
    .split(",")
    .map((s) => plain(s.trim()))
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (!isIP(hop)) return peer; // a forged or garbled entry: go no further than what is known
    if (!trusted.has(hop)) return hop;
  }
  return hops[0] ?? peer;
}

export interface RateLimitOptions {
  ratePerSecond: number;
  burst: number;
  now?: () => number;
  /** Proxies (CIDRs) whose X-Forwarded-For names the caller; none by default. */
  trustedProxies?: string[];
  /** Callers tracked at most (default 10 000); the least recently seen go first. */
  maxKeys?: number;
}

export type RateLimiter = MiddlewareHandler<AuthEnv> & { readonly size: number };

/**
 * A token bucket per caller: `ratePerSecond` sustained, `burst` at once.
 * Over the limit: 429 with Retry-After in whole seconds. The caller is the
 * authenticated identity, else its address (see clientAddress). At most
 * `maxKeys` buckets are kept, least recently used evicted first (a bucket
 * refilled to the burst is the same as none, so these are usually idle).
 */
export function rateLimit(opts: RateLimitOptions): RateLimiter {
  const now = opts.now ?? Date.now;
  const trusted = new TrustedProxies(opts.trustedProxies);
  const maxKeys = opts.maxKeys ?? 10_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const handler: MiddlewareHandler<AuthEnv> = async (c, next) => {
    const identity = c.get("identity");
    const key =
      identity && identity.method !== "anonymous"
        ? `id:${identity.client}`
        : `ip:${clientAddress(c, trusted) ?? "unknown"}`;
    const t = now();
    const b = buckets.get(key) ?? { tokens: opts.burst, at: t };
    buckets.delete(key); // re-inserted below: the Map's order is least recently used first
    b.tokens = Math.min(opts.burst, b.tokens + ((t - b.at) / 1000) * opts.ratePerSecond);
    b.at = t;
    const limited = b.tokens < 1;
    if (!limited) b.tokens -= 1;
    buckets.set(key, b);
    while (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value as string);
    if (limited) {
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / opts.ratePerSecond));
      return c.json({ jsonrpc: "2.0", error: { code: -32000, message: "Too many requests" }, id: null }, 429, {
        "Retry-After": String(retryAfter),
      });
    }
    await next();
  };
  return Object.defineProperty(handler, "size", { get: () => buckets.size }) as RateLimiter;
}
