// The rate limiter's key and its bounded state (services/gateway/security.ts).
import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { rateLimit, TrustedProxies } from "../security.ts";
import type { AuthEnv } from "./authenticator.ts";
import type { Identity } from "./types.ts";

/** A request as Bun serves it: the Hono env is the server, whose requestIP names the peer. */
const request = (a: Hono<AuthEnv>, peer: string, headers: Record<string, string> = {}) =>
  a.fetch(new Request("http://gw/mcp", { headers }), { requestIP: () => ({ address: peer, family: "IPv4", port: 1 }) });

function limited(opts: {
  trustedProxies?: string[];
  maxKeys?: number;
  identity?: (c: Request) => Identity | undefined;
}) {
  const limiter = rateLimit({ ratePerSecond: 1, burst: 1, now: () => 0, ...opts });
  const a = new Hono<AuthEnv>();
  a.use("*", async (c, next) => {
    const id = opts.identity?.(c.req.raw);
    if (id) c.set("identity", id);
    await next();
  });
  a.use("*", limiter);
  a.get("*", (c) => c.text("ok"));
  return { a, limiter };
}

describe("rate-limit key", () => {
  test("X-Forwarded-For from an untrusted peer is ignored: the peer is the key", async () => {
    const { a } = limited({});
    expect((await request(a, "10.0.0.5", { "x-forwarded-for": "1.1.1.1" })).status).toBe(200);
    // A new spoofed address does not buy a new bucket.
    expect((await request(a, "10.0.0.5", { "x-forwarded-for": "2.2.2.2" })).status).toBe(429);
    expect((await request(a, "10.0.0.6")).status).toBe(200);
  });

  test("X-Forwarded-For from a trusted proxy names the caller (right-most untrusted hop)", async () => {
    const { a } = limited({ trustedProxies: ["10.0.0.0/8"] });
    expect((await request(a, "10.0.0.5", { "x-forwarded-for": "9.9.9.9, 1.1.1.1" })).status).toBe(200);
    expect((await request(a, "10.0.0.7", { "x-forwarded-for": "1.1.1.1" })).status).toBe(429);
    // the caller prepending a made-up hop changes nothing: 1.1.1.1 is still the right-most untrusted
    expect((await request(a, "10.0.0.5", { "x-forwarded-for": "8.8.8.8, 1.1.1.1, 10.0.0.9" })).status).toBe(429);
    expect((await request(a, "10.0.0.5", { "x-forwarded-for": "2.2.2.2" })).status).toBe(200);
  });

  test("an authenticated caller is keyed by identity, wherever it comes from", async () => {
    const identity = (r: Request): Identity | undefined =>
      r.headers.get("x-user")
        ? { client: r.headers.get("x-user") as string, method: "static", groups: [], scopes: [] }
        : undefined;
    const { a } = limited({ identity });
    expect((await request(a, "10.0.0.1", { "x-user": "alice" })).status).toBe(200);
    expect((await request(a, "10.0.0.2", { "x-user": "alice" })).status).toBe(429);
    expect((await request(a, "10.0.0.1", { "x-user": "bob" })).status).toBe(200);
  });

  test("trusted proxies take CIDRs of both families, and refuse garbage", () => {
    const t = new TrustedProxies(["10.0.0.0/8", "fd00::/8", "192.168.1.1"]);
    expect([
      t.has("10.1.2.3"),
      t.has("::ffff:10.1.2.3"),
      t.has("fd12::1"),
      t.has("192.168.1.1"),
      t.has("11.0.0.1"),
    ]).toEqual([true, true, true, true, false]);
    expect(() => new TrustedProxies(["not-an-ip"])).toThrow();
    expect(() => new TrustedProxies(["10.0.0.0/33"])).toThrow();
  });
});

describe("bounded state", () => {
  test("many distinct callers keep at most maxKeys buckets", async () => {
    const { a, limiter } = limited({ maxKeys: 100 });
    for (let i = 0; i < 5000; i++) await request(a, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(limiter.size).toBe(100);
  });

  test("the most recently seen caller keeps its bucket", async () => {
    const { a, limiter } = limited({ maxKeys: 3 });
    expect((await request(a, "10.0.0.1")).status).toBe(200);
    for (const ip of ["10.0.0.2", "10.0.0.3"]) await request(a, ip);
    expect((await request(a, "10.0.0.1")).status).toBe(429); // touched: most recent now
    await request(a, "10.0.0.4"); // evicts 10.0.0.2, the least recently seen
    expect(limiter.size).toBe(3);
    expect((await request(a, "10.0.0.1")).status).toBe(429);
  });
});
