/**
 * What the gateway knows about a caller once its bearer token is checked,
 * and the shape every token check has.
 */

/** How the caller proved who it is. */
export type AuthMethod = "static" | "oauth" | "kubernetes" | "anonymous";

export interface Identity {
  /**
   * The caller's name at the gateway: it labels the Tasks the caller creates
   * and owns its sessions. A static token's file name, a Kubernetes user
   * (system:serviceaccount:<namespace>:<name>), or a JWT's subject.
   */
  client: string;
  method: AuthMethod;
  /** Kubernetes groups, or the JWT's groups claim. */
  groups: string[];
  /** OAuth scopes the token grants (empty for static and Kubernetes tokens). */
  scopes: string[];
  /** The issuer of a JWT. */
  issuer?: string;
  /** When the token expires, seconds since the epoch, when known. */
  expiresAt?: number;
}

/**
 * A check's answer: an identity, an error saying why the token is refused,
 * or undefined when the token is not one this check knows (another may).
 */
export type Verdict = { identity: Identity } | { error: string } | undefined;

export interface TokenVerifier {
  /** For logs: "static", "oauth", "kubernetes-jwks", "kubernetes-tokenreview". */
  readonly name: string;
  verify(token: string): Promise<Verdict>;
}
