import { describe, expect, test } from "bun:test";
import type { KubeConnection } from "../../../lib/kube/connection.ts";
import { TokenReviewVerifier } from "./token-review.ts";

const audience = "http://mcp-gateway.ns.svc:8080/mcp";
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
/** Shaped like a service-account JWT; the fake apiserver below decides whether it is good. */
const token = (claims: Record<string, unknown>) => `${b64({ alg: "RS256" })}.${b64(claims)}.sig`;

function fakeApiserver() {
  const sent: { token: string; audiences: string[] }[] = [];
  const conn = {
    async request(_method: string, path: string, init: { body: { spec: { token: string; audiences: string[] } } }) {
      expect(path).toBe("/apis/authentication.k8s.io/v1/tokenreviews");
      sent.push(init.body.spec);
      const good = init.body.spec.token.endsWith(".sig");
      return {
        status: good
          ? {
              authenticated: true,
              user: { username: "system:serviceaccount:ns:caller", groups: ["system:serviceaccounts"] },
              audiences: init.body.spec.audiences,
            }
          : { authenticated: false, error: "invalid" },
      };
    },
  } as unknown as KubeConnection;
  return { conn, sent };
}

describe("TokenReview", () => {
  test("asks the apiserver with the gateway's audience, caches the answer until min(exp, ttl)", async () => {
    const { conn, sent } = fakeApiserver();
    let now = 1_000_000_000_000;
    const v = new TokenReviewVerifier(conn, { audience, ttlMs: 60_000, now: () => now });
    const long = token({ aud: [audience], exp: now / 1000 + 3600 });
    expect(await v.verify(long)).toMatchObject({
      identity: { client: "system:serviceaccount:ns:caller", method: "kubernetes" },
    });
    expect(sent).toEqual([{ token: long, audiences: [audience] }]);
    await v.verify(long);
    expect(sent.length).toBe(1); // cached
    now += 61_000; // past the ttl
    await v.verify(long);
    expect(sent.length).toBe(2);
    const short = token({ aud: [audience], exp: now / 1000 + 5 });
    await v.verify(short);
    now += 6_000; // past the token's exp, well inside the ttl
    await v.verify(short);
    expect(sent.length).toBe(4);
  });

  test("refusals are not cached as identities; tokens for another audience are not sent", async () => {
    const { conn, sent } = fakeApiserver();
    const v = new TokenReviewVerifier(conn, { audience });
    expect(await v.verify(`${token({ aud: [audience] })}x`)).toEqual({
      error: "the token is not valid for this gateway",
    });
    expect(await v.verify(token({ aud: ["https://elsewhere"] }))).toBeUndefined();
    expect(await v.verify("not-a-jwt")).toBeUndefined();
    expect(sent.length).toBe(1);
    expect(v.cached).toBe(0);
  });

  test("the cache is bounded", async () => {
    const { conn } = fakeApiserver();
    const v = new TokenReviewVerifier(conn, { audience, maxEntries: 10 });
    for (let i = 0; i < 50; i++) await v.verify(token({ aud: audience, jti: i }));
    expect(v.cached).toBe(10);
  });
});
