/**
 * JWT access tokens (RFC 9068 style) checked against issuers the gateway is
 * configured to trust, with jose: the signature against the issuer's JWKS
 * (fetched on first use, cached, fetched again when a token names a key id
 * it does not have, at most once per cooldown), `iss` exactly, `aud`
 * containing the gateway's resource URI, `exp` and `nbf` with a small clock
 * tolerance. Two kinds of issuer share it: OAuth authorization servers
 * (their JWKS found through RFC 8414 / OpenID discovery unless given) and the
 * Kubernetes apiserver, whose service-account tokens are checked against its
 * own OIDC discovery document and JWKS (read through the gateway's own
 * connection to the apiserver).
 */
import type { FetchImplementation, JWTPayload, JWTVerifyGetKey } from "jose";
import type { KubeConnection } from "../../../lib/kube/connection.ts";
import type { Identity, TokenVerifier, Verdict } from "./types.ts";

export interface JwtIssuer {
  /** The `iss` value, exactly. */
  issuer: string;
  /** Where its JWKS is; discovered from the issuer when not given. */
  jwksUri?: string;
}

export interface JwtVerifierOptions {
  issuers: JwtIssuer[];
  /** The gateway's resource URI: tokens must name it in `aud`. */
  audience: string;
  /** Seconds of clock skew allowed on exp and nbf (default 30). */
  clockToleranceSeconds?: number;
  /** The least time between two JWKS fetches for an unknown key id (default 30 s). */
  cooldownMs?: number;
  /** Fetches discovery documents and JWKS (default: fetch). */
  fetch?: FetchImplementation;
  /** "oauth" (default) or "kubernetes": how claims become an identity. */
  kind?: "oauth" | "kubernetes";
  /** The client name of an OAuth token (default: its `sub`, prefixed with the issuer when several are trusted). */
  clientOf?: (payload: JWTPayload) => string;
}

/**
 * jose, loaded with the first token to check (then from the module cache):
 * it costs an idle gateway about 3 MiB, and a gateway that trusts no issuer,
 * or has seen no token, needs none of it (bench/memory.ts).
 */
const jose = () => import("jose");

/**
 * The unverified claims of something shaped like a JWT (its payload, a JSON
 * object in base64url, as jose's decodeJwt reads it); undefined for anything
 * else. Only to find the issuer whose keys then verify it.
 */
export function unverifiedClaims(token: string): JWTPayload | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8"));
    return payload && typeof payload === "object" && !Array.isArray(payload) ? (payload as JWTPayload) : undefined;
  } catch {
    return undefined;
  }
}

const plainFetch: FetchImplementation = (url, opts) => fetch(url, opts);

/** The JWKS URI of an OAuth issuer, from RFC 8414 metadata or else OpenID discovery. */
async function discoverJwksUri(issuer: string, doFetch: FetchImplementation): Promise<string> {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, "");
  const candidates = [
    new URL(`/.well-known/oauth-authorization-server${path}`, u.origin).href,
    `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
  ];
  for (const url of candidates) {
    const res = await doFetch(url, {
      headers: new Headers({ accept: "application/json" }),
      method: "GET",
      redirect: "manual",
      signal: AbortSignal.timeout(5000),
    }).catch(() => undefined); // unreachable there: try the next well-known location
    if (!res?.ok) continue;
    const doc = (await res.json().catch(() => ({}))) as { issuer?: string; jwks_uri?: string };
    // RFC 8414 §3.3: the metadata must name the issuer it was asked for.
    if (doc.issuer === issuer && typeof doc.jwks_uri === "string") return doc.jwks_uri;
  }
  throw new Error(`no authorization server metadata with a jwks_uri for ${issuer}`);
}

const scopesOf = (p: JWTPayload): string[] => {
  const s = p.scope ?? p.scp;
  if (typeof s === "string") return s.split(" ").filter(Boolean);
  if (Array.isArray(s)) return s.filter((x): x is string => typeof x === "string");
  return [];
};

/** A Kubernetes service-account token's identity, as the apiserver's TokenReview would give it. */
export function kubernetesIdentity(p: JWTPayload): Identity | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(p.sub ?? "");
  if (!m) return undefined;
  const ns = m[1] as string;
  return {
    client: p.sub as string,
    method: "kubernetes",
    groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
    scopes: [],
    issuer: p.iss,
    expiresAt: p.exp,
  };
}

export class JwtVerifier implements TokenVerifier {
  readonly name: string;
  private readonly keys = new Map<string, Promise<JWTVerifyGetKey>>();
  private readonly byIssuer: Map<string, JwtIssuer>;
  private readonly doFetch: FetchImplementation;

  constructor(private readonly opts: JwtVerifierOptions) {
    this.name = opts.kind === "kubernetes" ? "kubernetes-jwks" : "oauth";
    this.byIssuer = new Map(opts.issuers.map((i) => [i.issuer, i]));
    this.doFetch = opts.fetch ?? plainFetch;
  }

  /** The issuers whose tokens this verifier takes. */
  get issuers(): string[] {
    return [...this.byIssuer.keys()];
  }

  private jwks(iss: JwtIssuer): Promise<JWTVerifyGetKey> {
    let p = this.keys.get(iss.issuer);
    if (!p) {
      p = (async () => {
        const uri = iss.jwksUri ?? (await discoverJwksUri(iss.issuer, this.doFetch));
        const { createRemoteJWKSet, customFetch } = await jose();
        return createRemoteJWKSet(new URL(uri), {
          cooldownDuration: this.opts.cooldownMs ?? 30_000,
          cacheMaxAge: 10 * 60_000,
          [customFetch]: this.doFetch,
        });
      })();
      // A failed discovery is tried again by the next token.
      p.catch(() => this.keys.delete(iss.issuer));
      this.keys.set(iss.issuer, p);
    }
    return p;
  }

  async verify(token: string): Promise<Verdict> {
    const claims = unverifiedClaims(token);
    const iss = typeof claims?.iss === "string" ? this.byIssuer.get(claims.iss) : undefined;
    if (!iss) return undefined;
    let payload: JWTPayload;
    const { jwtVerify, errors } = await jose();
    try {
      const keys = await this.jwks(iss);
      ({ payload } = await jwtVerify(token, keys, {
        issuer: iss.issuer,
        audience: this.opts.audience,
        clockTolerance: this.opts.clockToleranceSeconds ?? 30,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (err) {
      return { error: describe(err, errors) };
    }
    if (this.opts.kind === "kubernetes") {
      const identity = kubernetesIdentity(payload);
      return identity ? { identity } : { error: "the token is not a service-account token" };
    }
    const client =
      this.opts.clientOf?.(payload) ??
      (this.byIssuer.size > 1 ? `${payload.iss}#${payload.sub}` : (payload.sub as string));
    const groups = Array.isArray(payload.groups) ? payload.groups.filter((g) => typeof g === "string") : [];
    return {
      identity: {
        client,
        method: "oauth",
        groups,
        scopes: scopesOf(payload),
        issuer: payload.iss,
        expiresAt: payload.exp,
      },
    };
  }
}

/** Why a token failed, in words safe to send back (no key material, no internals). */
function describe(err: unknown, errors: typeof import("jose").errors): string {
  if (err instanceof errors.JWTExpired) return "the token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf") return "the token is not valid yet";
    if (err.claim === "aud") return "the token is for another audience";
    if (err.claim === "iss") return "the token is from another issuer";
    return `the token's ${err.claim} claim is not valid`;
  }
  if (err instanceof errors.JWKSNoMatchingKey) return "the token is signed with an unknown key";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "the token's signature is not valid";
  if (err instanceof errors.JOSEError) return "the token is not valid";
  return "the token's issuer could not be reached to check it";
}

/**
 * Service-account tokens checked against the apiserver's own OIDC discovery
 * (/.well-known/openid-configuration and /openid/v1/jwks, readable by every
 * service account through the default system:service-account-issuer-discovery
 * binding): no RBAC beyond the default, no apiserver call per token. The
 * discovery document is read on first use (and again after a failure).
 */
export class KubernetesJwtVerifier implements TokenVerifier {
  readonly name = "kubernetes-jwks";
  private inner: Promise<JwtVerifier> | undefined;

  constructor(
    private readonly conn: KubeConnection,
    private readonly opts: { audience: string; cooldownMs?: number },
  ) {}

  private discover(): Promise<JwtVerifier> {
    if (!this.inner) {
      const conn = this.conn;
      this.inner = (async () => {
        const doc = await conn.request<{ issuer: string; jwks_uri: string }>(
          "GET",
          "/.well-known/openid-configuration",
        );
        // The issuer's host (kubernetes.default.svc…) may not resolve from here: JWKS comes through the connection.
        const viaConn: FetchImplementation = (url, init) =>
          conn.fetch("GET", new URL(url).pathname, { signal: init.signal, accept: "application/jwk-set+json" });
        return new JwtVerifier({
          kind: "kubernetes",
          issuers: [{ issuer: doc.issuer, jwksUri: doc.jwks_uri }],
          audience: this.opts.audience,
          cooldownMs: this.opts.cooldownMs,
          fetch: viaConn,
        });
      })();
      this.inner.catch(() => {
        this.inner = undefined;
      });
    }
    return this.inner;
  }

  async verify(token: string): Promise<Verdict> {
    if (!unverifiedClaims(token)) return undefined;
    let inner: JwtVerifier;
    try {
      inner = await this.discover();
    } catch {
      return undefined; // the apiserver could not say; another check may still know the token
    }
    return inner.verify(token);
  }
}
