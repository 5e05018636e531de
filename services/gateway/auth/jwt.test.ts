import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { type AuthEnv, authenticate, metadataPath, protectedResourceMetadata } from "./authenticator.ts";
import { JwtVerifier } from "./jwt.ts";

// A local authorization server: RFC 8414 metadata and a JWKS on loopback, counting JWKS fetches.
const audience = "https://gw.example.com/mcp";
type Key = { kid: string; privateKey: CryptoKey; jwk: JWK };
const makeKey = async (kid: string): Promise<Key> => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
};
let server: ReturnType<typeof Bun.serve>;
let issuer: string;
let published: Key[] = [];
let jwksFetches = 0;
let k1: Key;
let k2: Key;
let k3: Key;

beforeAll(async () => {
  [k1, k2, k3] = await Promise.all([makeKey("k1"), makeKey("k2"), makeKey("k3")]);
  published = [k1];
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/.well-known/oauth-authorization-server")
        return Response.json({ issuer, jwks_uri: `${issuer}/jwks` });
      if (path === "/jwks") {
        jwksFetches++;
        return Response.json({ keys: published.map((k) => k.jwk) });
      }
      return new Response("not found", { status: 404 });
    },
  });
  issuer = `http://127.0.0.1:${server.port}`;
});
afterAll(() => server.stop(true));

const now = () => Math.floor(Date.now() / 1000);
async function sign(key: Key, claims: JWTPayload = {}) {
  return new SignJWT({ sub: "user-1", scope: "mcp:tools mcp:read", ...claims })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
    .setIssuer((claims.iss as string) ?? issuer)
    .setAudience((claims.aud as string) ?? audience)
    .setIssuedAt()
    .setExpirationTime((claims.exp as number) ?? now() + 300)
    .sign(key.privateKey);
}

function app(verifier: JwtVerifier, requiredScopes?: string[]) {
  const a = new Hono<AuthEnv>();
  const opts = { resource: audience, authorizationServers: verifier.issuers, requiredScopes };
  a.get(metadataPath, (c) => c.json(protectedResourceMetadata(c, opts)));
  a.use("/mcp", authenticate({ ...opts, verifiers: [verifier] }));
  a.post("/mcp", (c) => c.json(c.get("identity")));
  return a;
}
const call = (a: Hono<AuthEnv>, token?: string) =>
  a.request("http://gw.example.com/mcp", {
    method: "POST",
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    body: "{}",
  });

describe("JWT access tokens", () => {
  test("a valid token from a trusted issuer is accepted, its sub and scopes the identity", async () => {
    const v = new JwtVerifier({ issuers: [{ issuer }], audience });
    const res = await call(app(v), await sign(k1));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      client: "user-1",
      method: "oauth",
      scopes: ["mcp:tools", "mcp:read"],
      issuer,
    });
  });

  test.each([
    ["a wrong issuer", { iss: "https://evil.example.com" }, "the token is not valid"],
    ["a wrong audience", { aud: "https://other.example.com/mcp" }, "the token is for another audience"],
    ["an expired token", { exp: now() - 120 }, "the token has expired"],
    ["nbf in the future", { nbf: now() + 600 }, "the token is not valid yet"],
  ])("%s → 401 invalid_token", async (_, claims, description) => {
    const v = new JwtVerifier({ issuers: [{ issuer, jwksUri: `${issuer}/jwks` }], audience });
    const res = await call(app(v), await sign(k1, claims as JWTPayload));
    expect(res.status).toBe(401);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain(`resource_metadata="https://gw.example.com${metadataPath}"`);
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain(`error_description="${description}"`);
  });

  test("a signature by a key the issuer does not publish → 401", async () => {
    const v = new JwtVerifier({ issuers: [{ issuer }], audience });
    const forged = await sign({ ...k3, kid: "k1" });
    expect((await call(app(v), forged)).status).toBe(401);
  });

  test("no token → 401 without an error, pointing at the metadata", async () => {
    const v = new JwtVerifier({ issuers: [{ issuer }], audience });
    const res = await call(app(v));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer resource_metadata="https://gw.example.com${metadataPath}"`,
    );
  });

  test("a missing scope → 403 insufficient_scope naming the required scope", async () => {
    const v = new JwtVerifier({ issuers: [{ issuer }], audience });
    const a = app(v, ["mcp:tools", "mcp:admin"]);
    const res = await call(a, await sign(k1));
    expect(res.status).toBe(403);
    const challenge = res.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:tools mcp:admin"');
    expect((await call(a, await sign(k1, { scope: "mcp:tools mcp:admin" }))).status).toBe(200);
  });

  test("an unknown kid fetches the JWKS again, once", async () => {
    published = [k1];
    const v = new JwtVerifier({ issuers: [{ issuer }], audience, cooldownMs: 300 });
    const a = app(v);
    const before = jwksFetches;
    expect((await call(a, await sign(k1))).status).toBe(200);
    expect((await call(a, await sign(k1))).status).toBe(200);
    expect(jwksFetches - before).toBe(1); // cached
    published = [k1, k2]; // the issuer rotates in a new key
    await Bun.sleep(350); // past the cooldown since the last fetch
    expect((await call(a, await sign(k2))).status).toBe(200);
    expect(jwksFetches - before).toBe(2);
    // Another unknown kid within the cooldown is refused without a fetch: a stream
    // of made-up kids cannot make the gateway hammer the issuer.
    const res = await call(a, await sign(k3));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("unknown key");
    expect(jwksFetches - before).toBe(2);
    published = [k1];
  });

  test("the metadata names exactly the trusted issuers and the resource", async () => {
    const v = new JwtVerifier({ issuers: [{ issuer }], audience });
    const res = await app(v, ["mcp:tools"]).request(`http://gw.example.com${metadataPath}`);
    expect(await res.json()).toEqual({
      resource: audience,
      authorization_servers: [issuer],
      scopes_supported: ["mcp:tools"],
      bearer_methods_supported: ["header"],
      resource_name: "MCP Conductor gateway",
    });
  });

  test("with several issuers, the client name carries the issuer (subjects may collide)", async () => {
    const v = new JwtVerifier({ issuers: [{ issuer }, { issuer: "https://other.example.com" }], audience });
    const res = await call(app(v), await sign(k1));
    expect(((await res.json()) as { client: string }).client).toBe(`${issuer}#user-1`);
  });
});
