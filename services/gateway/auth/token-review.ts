/**
 * Kubernetes tokens checked by the apiserver itself: a TokenReview with the
 * gateway's resource URI as the audience. Unlike a JWKS check it notices a
 * token whose pod or ServiceAccount is gone before the token expires, at the
 * price of an apiserver call per new token and the right to create
 * TokenReviews (cluster-scoped: docs/deployment.md). Positive answers are
 * cached by the token's SHA-256, until the token's exp or `ttlMs`, whichever
 * comes first, for at most `maxEntries` tokens (the least recently used go
 * first). Only what looks like a JWT naming the audience is sent, so
 * arbitrary strings do not reach the apiserver.
 */
import { createHash } from "node:crypto";
import type { KubeConnection } from "../../../lib/kube/connection.ts";
import { TtlCache } from "../../../lib/ttl-cache.ts";
import { unverifiedClaims } from "./jwt.ts";
import type { Identity, TokenVerifier, Verdict } from "./types.ts";

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; groups?: string[] };
  audiences?: string[];
  error?: string;
}

export interface TokenReviewOptions {
  audience: string;
  /** How long a positive answer is trusted (default 60 s). */
  ttlMs?: number;
  /** Cached tokens at most (default 10 000). */
  maxEntries?: number;
  now?: () => number;
}

export class TokenReviewVerifier implements TokenVerifier {
  readonly name = "kubernetes-tokenreview";
  private readonly cache: TtlCache<Identity>;
  private readonly now: () => number;
  /** TokenReviews sent, for tests and metrics. */
  reviews = 0;

  constructor(
    private readonly conn: KubeConnection,
    private readonly opts: TokenReviewOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.cache = new TtlCache(opts.maxEntries ?? 10_000, this.now);
  }

  get cached(): number {
    return this.cache.size;
  }

  async verify(token: string): Promise<Verdict> {
    const claims = unverifiedClaims(token);
    if (!claims) return undefined;
    const aud = typeof claims.aud === "string" ? [claims.aud] : (claims.aud ?? []);
    if (!aud.includes(this.opts.audience)) return undefined;
    const key = createHash("sha256").update(token).digest("hex");
    const t = this.now();
    const hit = this.cache.get(key);
    if (hit) return { identity: hit };
    this.reviews++;
    let status: TokenReviewStatus;
    try {
      const review = await this.conn.request<{ status?: TokenReviewStatus }>(
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenReview",
            spec: { token, audiences: [this.opts.audience] },
          },
        },
      );
      status = review.status ?? {};
    } catch {
      return { error: "the token could not be checked" };
    }
    const username = status.user?.username;
    if (!status.authenticated || !username || !(status.audiences ?? []).includes(this.opts.audience))
      return { error: "the token is not valid for this gateway" };
    const identity: Identity = {
      client: username,
      method: "kubernetes",
      groups: status.user?.groups ?? [],
      scopes: [],
      issuer: claims.iss,
      expiresAt: claims.exp,
    };
    const until = Math.min(t + (this.opts.ttlMs ?? 60_000), claims.exp ? claims.exp * 1000 : Number.POSITIVE_INFINITY);
    this.cache.set(key, identity, until);
    return { identity };
  }
}
