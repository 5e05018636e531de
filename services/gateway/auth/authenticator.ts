/**
 * The gateway as an OAuth 2.1 resource server: every request to /mcp needs a
 * bearer token that one of the configured checks accepts (static tokens,
 * JWTs of trusted issuers, Kubernetes service-account tokens). Without one,
 * 401 with `WWW-Authenticate: Bearer resource_metadata="…"` pointing at the
 * RFC 9728 metadata (and error="invalid_token" when a token was given); an
 * OAuth token without the required scopes, 403 insufficient_scope. Nothing
 * configured refuses everything, unless the operator chose open mode.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Logger } from "../../../lib/log.ts";
import type { Identity, TokenVerifier } from "./types.ts";

export type AuthEnv = { Variables: { client: string; identity: Identity } };

export const metadataPath = "/.well-known/oauth-protected-resource";

export interface ResourceMetadataOptions {
  /** The gateway's resource URI (what tokens name in `aud`); by default the request's origin + /mcp. */
  resource?: string;
  /** The authorization servers whose tokens are accepted: exactly the trusted OAuth issuers. */
  authorizationServers?: string[];
  /** Scopes a token must carry; advertised as scopes_supported. */
  requiredScopes?: string[];
}

export interface AuthenticatorOptions extends ResourceMetadataOptions {
  verifiers: TokenVerifier[];
  /** Open mode: a request without a token is served as "anonymous". Never implied. */
  allowUnauthenticated?: boolean;
  log?: Logger;
}

export const anonymous: Identity = { client: "anonymous", method: "anonymous", groups: [], scopes: [] };

const originOf = (c: Context, resource?: string) => (resource ? new URL(resource).origin : new URL(c.req.url).origin);

/** RFC 9728 protected-resource metadata. */
export function protectedResourceMetadata(c: Context, opts: ResourceMetadataOptions) {
  return {
    resource: opts.resource ?? `${originOf(c)}/mcp`,
    ...(opts.authorizationServers?.length ? { authorization_servers: opts.authorizationServers } : {}),
    ...(opts.requiredScopes?.length ? { scopes_supported: opts.requiredScopes } : {}),
    bearer_methods_supported: ["header"],
    resource_name: "MCP Conductor gateway",
  };
}

const quote = (s: string) => s.replace(/["\\]/g, "");

function refuse(c: Context, status: 401 | 403, message: string, challenge: string) {
  return c.json({ jsonrpc: "2.0", error: { code: -32001, message }, id: null }, status, {
    "WWW-Authenticate": challenge,
  });
}

/** Sets c.get("client") and c.get("identity") from the bearer token, or refuses the request. */
export function authenticate(opts: AuthenticatorOptions): MiddlewareHandler<AuthEnv> {
  let warned = false;
  return async (c, next) => {
    const header = c.req.header("authorization");
    const match = header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header);
    const metadata = `resource_metadata="${originOf(c, opts.resource)}${metadataPath}"`;
    const unauthorized = (description?: string) =>
      refuse(
        c,
        401,
        header === undefined ? "Unauthorized: a bearer token is required" : "Unauthorized: invalid token",
        `Bearer ${metadata}${header === undefined ? "" : `, error="invalid_token", error_description="${quote(description ?? "the token is not valid")}"`}`,
      );
    if (opts.verifiers.length === 0) {
      if (opts.allowUnauthenticated) return admit(c, next, anonymous);
      if (!warned) {
        warned = true;
        opts.log?.warn("No authentication is configured: /mcp refuses every request (fail closed)");
      }
      return unauthorized();
    }
    if (header === undefined && opts.allowUnauthenticated) return admit(c, next, anonymous);
    if (!match)
      return unauthorized(header === undefined ? undefined : "the Authorization header is not a bearer token");
    const token = match[1] as string;
    for (const v of opts.verifiers) {
      let verdict: Awaited<ReturnType<TokenVerifier["verify"]>>;
      try {
        verdict = await v.verify(token);
      } catch (err) {
        opts.log?.error({ verifier: v.name, err }, "A token check failed");
        continue;
      }
      if (!verdict) continue;
      if ("error" in verdict) return unauthorized(verdict.error);
      const identity = verdict.identity;
      const missing =
        identity.method === "oauth" ? (opts.requiredScopes ?? []).filter((s) => !identity.scopes.includes(s)) : [];
      if (missing.length) {
        const scope = (opts.requiredScopes ?? []).join(" ");
        return refuse(
          c,
          403,
          `Forbidden: the token lacks the scope ${missing.join(" ")}`,
          `Bearer ${metadata}, error="insufficient_scope", scope="${quote(scope)}", error_description="the token lacks a required scope"`,
        );
      }
      return admit(c, next, identity);
    }
    return unauthorized();
  };
}

async function admit(c: Context<AuthEnv>, next: () => Promise<void>, identity: Identity) {
  c.set("identity", identity);
  c.set("client", identity.client);
  await next();
}
