import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import {
  bearerAuth,
  metadataPath,
  originCheck,
  protectedResourceMetadata,
  rateLimit,
  readTokenDir,
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
