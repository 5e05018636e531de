import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Context, Hono } from "hono";
import {
  bearerAuth,
  clientAddress,
  metadataPath,
  originCheck,
  peerAddress,
  protectedResourceMetadata,
  rateLimit,
  readTokenDir,
  TrustedProxies,
} from "./security.ts";

type Env = { Variables: { client: string } };
const tokens = new Map([
  ["alice", "token-alice-123"],
  ["bob", "token-bob-456"],
]);

function app() {
  const a = new Hono<Env>();
  a.get(metadataPath, (c) =>
    c.json(protectedResourceMetadata(c, { tokens, authorizationServers: ["https://auth.example.com"] })),
  );
  a.use(
    "/mcp",
    originCheck({
      allowedOrigins: ["https://app.example.com", "http://localhost:*"],
      allowedHosts: ["gw.example.com", "localhost:*"],
    }),
  );
  a.use("/mcp", bearerAuth({ tokens }));
  a.post("/mcp", (c) => c.json({ client: c.get("client") }));
  return a;
}

const post = (headers: Record<string, string>, host = "gw.example.com") =>
  app().request(`http://${host}/mcp`, { method: "POST", headers: { host, ...headers }, body: "{}" });

describe("bearerAuth", () => {
  test("maps a known token to its client", async () => {
    const res = await post({ Authorization: "Bearer token-bob-456" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ client: "bob" });
  });
  test("401 without a token, pointing at the RFC 9728 metadata", async () => {
    const res = await post({});
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="http://gw.example.com${metadataPath}"`);
  });
  test("401 with error=invalid_token for a wrong token", async () => {
    const res = await post({ Authorization: "Bearer token-alice-124" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });
  test("serves protected-resource metadata", async () => {
    const res = await app().request(`http://gw.example.com${metadataPath}`);
    expect(await res.json()).toEqual({
      resource: "http://gw.example.com/mcp",
      authorization_servers: ["https://auth.example.com"],
      bearer_methods_supported: ["header"],
      resource_name: "MCP Conductor gateway",
    });
  });
  test("reads tokens from a mounted Secret folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "tokens-"));
    writeFileSync(join(dir, "alice"), "secret-a\n");
    writeFileSync(join(dir, "..data"), "ignored");
    expect(readTokenDir(dir)).toEqual(new Map([["alice", "secret-a"]]));
  });
});

describe("originCheck", () => {
  test.each([
    { name: "no Origin (not a browser)", headers: {}, host: "gw.example.com", want: 401 },
    { name: "an allowed Origin", headers: { Origin: "https://app.example.com" }, host: "gw.example.com", want: 401 },
    { name: "localhost on any port", headers: { Origin: "http://localhost:6274" }, host: "localhost:8080", want: 401 },
    { name: "a foreign Origin", headers: { Origin: "https://evil.example" }, host: "gw.example.com", want: 403 },
    { name: "a rebound Host", headers: {}, host: "evil.example", want: 403 },
  ])("$name → $want", async ({ headers, host, want }) => {
    // 401 means it passed the origin check and reached authentication.
    expect((await post(headers as Record<string, string>, host)).status).toBe(want);
  });
});

describe("rateLimit", () => {
  test("allows the burst, then answers 429 with Retry-After, then refills", async () => {
    let now = 0;
    const a = new Hono<Env>();
    a.use("*", rateLimit({ ratePerSecond: 2, burst: 3, now: () => now }));
    a.get("/", (c) => c.text("ok"));
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await a.request("/")).status);
    expect(codes).toEqual([200, 200, 200, 429]);
    const limited = await a.request("/");
    expect(limited.headers.get("retry-after")).toBe("1");
    now += 1000; // two tokens back
    expect((await a.request("/")).status).toBe(200);
  });
});

describe("originCheck: patterns and answers", () => {
  const check = (opts: { allowedOrigins: string[]; allowedHosts?: string[] }) => {
    const a = new Hono();
    a.use("*", originCheck(opts));
    a.get("*", (c) => c.text("ok"));
    return (headers: Record<string, string>) => a.request("http://gw/mcp", { headers });
  };

  test.each([
    { origin: "http://localhost", want: 200 }, // the ":*" pattern covers no port too
    { origin: "http://localhost:6274", want: 200 },
    { origin: "http://localhostx", want: 403 },
    { origin: "https://app.example.com", want: 200 },
    { origin: "https://app.example.co", want: 403 },
    { origin: "https://app.example.com.evil", want: 403 },
  ])("Origin $origin → $want", async ({ origin, want }) => {
    const req = check({ allowedOrigins: ["https://app.example.com", "http://localhost:*"] });
    expect((await req({ origin })).status).toBe(want);
  });

  test("the refusals are JSON-RPC errors naming what was refused", async () => {
    const req = check({ allowedOrigins: ["https://app.example.com"], allowedHosts: ["gw.example.com"] });
    const origin = await req({ origin: "https://evil.example", host: "gw.example.com" });
    expect(origin.status).toBe(403);
    expect(await origin.json()).toEqual({
      jsonrpc: "2.0",
      error: { code: -32000, message: "Forbidden: origin https://evil.example is not allowed" },
      id: null,
    });
    const host = await req({ host: "evil.example" });
    expect(await host.json()).toEqual({
      jsonrpc: "2.0",
      error: { code: -32000, message: "Forbidden: host evil.example is not allowed" },
      id: null,
    });
    const noHost = await req({});
    expect(noHost.status).toBe(403);
    expect(((await noHost.json()) as { error: { message: string } }).error.message).toBe(
      "Forbidden: host  is not allowed",
    );
  });

  test("without a Host list any Host passes", async () => {
    const req = check({ allowedOrigins: [] });
    expect((await req({ host: "anything.example" })).status).toBe(200);
    expect((await req({ origin: "https://x.example" })).status).toBe(403);
  });
});

/** Just enough of a Hono context for the address functions: the Bun server's requestIP and the headers. */
const ctx = (peer: string | undefined, headers: Record<string, string> = {}) =>
  ({
    env: peer === undefined ? {} : { requestIP: () => ({ address: peer }) },
    req: { raw: new Request("http://gw/mcp", { headers }), header: (n: string) => headers[n.toLowerCase()] },
  }) as unknown as Context;

describe("peerAddress and clientAddress", () => {
  test("an IPv4-mapped IPv6 peer is its IPv4 address; an unknown peer is undefined", () => {
    expect(peerAddress(ctx("::ffff:192.168.100.200"))).toBe("192.168.100.200");
    expect(peerAddress(ctx("::FFFF:10.0.0.1"))).toBe("10.0.0.1");
    expect(peerAddress(ctx("fd00::1"))).toBe("fd00::1");
    expect(peerAddress(ctx(undefined))).toBeUndefined();
    expect(peerAddress({ req: { raw: new Request("http://gw/") } } as unknown as Context)).toBeUndefined();
    const throwing = {
      env: {
        requestIP: () => {
          throw new Error("closed");
        },
      },
      req: { raw: new Request("http://gw/") },
    };
    expect(peerAddress(throwing as unknown as Context)).toBeUndefined();
  });

  const trusted = new TrustedProxies(["10.0.0.0/8"]);
  test.each([
    {
      name: "an untrusted peer's X-Forwarded-For is ignored",
      peer: "192.168.1.1",
      xff: "1.1.1.1",
      want: "192.168.1.1",
    },
    { name: "a trusted peer without X-Forwarded-For", peer: "10.0.0.5", xff: undefined, want: "10.0.0.5" },
    { name: "the right-most untrusted hop", peer: "10.0.0.5", xff: "8.8.8.8, 1.1.1.1, 10.0.0.9", want: "1.1.1.1" },
    { name: "empty entries are skipped", peer: "10.0.0.5", xff: "1.1.1.1, ", want: "1.1.1.1" },
    { name: "a garbled hop stops the walk", peer: "10.0.0.5", xff: "1.1.1.1, garbage", want: "10.0.0.5" },
    { name: "a garbled first hop too", peer: "10.0.0.5", xff: "garbage, 10.0.0.9", want: "10.0.0.5" },
    { name: "all hops trusted: the first", peer: "10.0.0.5", xff: "10.0.0.8, 10.0.0.9", want: "10.0.0.8" },
    { name: "a mapped hop", peer: "10.0.0.5", xff: "::ffff:1.2.3.4", want: "1.2.3.4" },
  ])("$name", ({ peer, xff, want }) => {
    expect(clientAddress(ctx(peer, xff === undefined ? {} : { "x-forwarded-for": xff }), trusted)).toBe(want);
  });

  test("no peer: undefined; no trusted proxies: the peer", () => {
    expect(clientAddress(ctx(undefined, { "x-forwarded-for": "1.1.1.1" }), trusted)).toBeUndefined();
    expect(clientAddress(ctx("10.0.0.5", { "x-forwarded-for": "1.1.1.1" }), new TrustedProxies())).toBe("10.0.0.5");
  });
});

describe("TrustedProxies: what it takes", () => {
  test.each([
    { cidr: " 10.0.0.0/8 ", has: "10.9.9.9", want: true },
    { cidr: "10.0.0.0/0", has: "99.1.1.1", want: true },
    { cidr: "fd00::1", has: "fd00::2", want: false },
    { cidr: "fd00::1", has: "fd00::1", want: true },
    { cidr: "fd00::/128", has: "fd00::", want: true },
    { cidr: "10.0.0.0/8", has: "not-an-ip", want: false },
    { cidr: "10.0.0.0/8", has: "", want: false },
  ])("$cidr has $has: $want", ({ cidr, has, want }) => {
    expect(new TrustedProxies([cidr]).has(has)).toBe(want);
  });

  test.each([
    { cidr: "not-an-ip", message: 'not an IP address or CIDR: "not-an-ip"' },
    { cidr: "10.0.0.0/33", message: 'not a CIDR: "10.0.0.0/33"' },
    { cidr: "10.0.0.0/-1", message: 'not a CIDR: "10.0.0.0/-1"' },
    { cidr: "10.0.0.0/8.5", message: 'not a CIDR: "10.0.0.0/8.5"' },
    { cidr: "10.0.0.0/x", message: 'not a CIDR: "10.0.0.0/x"' },
    { cidr: "fd00::/129", message: 'not a CIDR: "fd00::/129"' },
  ])("refuses $cidr", ({ cidr, message }) => {
    expect(() => new TrustedProxies([cidr])).toThrow(new Error(message));
  });
});

describe("rateLimit: refill, Retry-After and keys", () => {
  const limiter = (opts: { ratePerSecond: number; burst: number }, identity?: { client: string; method: string }) => {
    const clock = { now: 10_000 };
    const a = new Hono();
    a.use("*", async (c, next) => {
      if (identity) c.set("identity" as never, { ...identity, groups: [], scopes: [] } as never);
      await next();
    });
    a.use("*", rateLimit({ ...opts, now: () => clock.now }) as never);
    a.get("*", (c) => c.text("ok"));
    const req = (peer = "10.0.0.1") =>
      a.fetch(new Request("http://gw/mcp"), { requestIP: () => ({ address: peer, family: "IPv4", port: 1 }) });
    return { clock, req };
  };

  test("tokens come back at the rate, not faster, and Retry-After says when the next one is whole", async () => {
    const { clock, req } = limiter({ ratePerSecond: 0.25, burst: 1 });
    expect((await req()).status).toBe(200);
    const limited = await req();
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("4");
    expect(await limited.json()).toEqual({
      jsonrpc: "2.0",
      error: { code: -32000, message: "Too many requests" },
      id: null,
    });
    clock.now += 2000; // half a token
    const half = await req();
    expect(half.status).toBe(429);
    expect(half.headers.get("retry-after")).toBe("2");
    clock.now += 2000;
    expect((await req()).status).toBe(200);
  });

  test("a tenth of a second is a tenth of a second's tokens", async () => {
    const { clock, req } = limiter({ ratePerSecond: 1, burst: 2 });
    expect((await req()).status).toBe(200);
    expect((await req()).status).toBe(200);
    clock.now += 100;
    expect((await req()).status).toBe(429);
    clock.now += 900;
    expect((await req()).status).toBe(200);
  });

  test("the anonymous caller is keyed by address, not shared", async () => {
    const { req } = limiter({ ratePerSecond: 1, burst: 1 }, { client: "anonymous", method: "anonymous" });
    expect((await req("10.0.0.1")).status).toBe(200);
    expect((await req("10.0.0.2")).status).toBe(200);
    expect((await req("10.0.0.1")).status).toBe(429);
  });
});
