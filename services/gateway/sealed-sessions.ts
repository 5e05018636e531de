/**
 * Sealed session ids (docs/adr/0007): a 2025 session's Mcp-Session-Id carries
 * what its initialize said, encrypted and authenticated with a key the
 * replicas of a domain share, so any replica can rebuild the session from the
 * id alone.
 *
 *   <kid>.<iv hex><tag hex>.<ciphertext base64url>
 *
 * AES-256-GCM over the JSON claims; the additional data binds the id to its
 * purpose, domain and key (the same key seals a 2026 call's requestState,
 * request-state.ts, which no session id can pass for, nor the other way
 * round). Key ids let the key rotate: a replica keeps every key it has
 * seen, signs with the newest, and re-reads the key's source when an id names
 * one it does not know. The id's first 63 characters are [0-9a-f.] with
 * neither end a dot, so the Task label mcp.io/mcp-session (the id cut to 63)
 * stays a valid, unique label value, as it was with UUIDs.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { isAlreadyExists, isForbidden, isNotFound, isTransient } from "../../lib/kube/errors.ts";
import type { Logger } from "../../lib/log.ts";

/** What a session id says: enough to replay the session's initialize on any replica. */
export interface SessionClaims {
  v: 1;
  /** The authenticated client that opened the session; no other may use it. */
  client: string;
  protocolVersion: string;
  clientInfo: { name: string; version: string; [k: string]: unknown };
  capabilities: Record<string, unknown>;
  /** Issued and expires, in seconds since the epoch. */
  iat: number;
  exp: number;
}

export interface SessionKey {
  /** 8 hex characters, derived from the key: replicas agree on it without being told. */
  kid: string;
  aead: Buffer;
}

/** Where the key comes from; every replica of a domain must get the same one. */
export type SessionKeySource =
  /** Given outright (tests, local runs): 32 bytes, or their hex or base64. */
  | { key: string | Uint8Array }
  /** A file, e.g. a mounted Secret: re-read now and then, so a rotated key is picked up. */
  | { file: string }
  /**
   * A Secret of the domain, created with a random key when missing: data
   * `key` seals and opens, an optional `previous` (the key rotated out) only
   * opens. Re-read now and then.
   */
  | { secret: string };

export const defaultSessionKeySecret = "mcp-gateway-session-key";
/** Longer ids are refused before any work: no real one comes near it. */
export const maxSessionIdLength = 8192;

const idPattern = /^([0-9a-f]{8})\.([0-9a-f]{24})([0-9a-f]{32})\.([A-Za-z0-9_-]{1,8000})$/;

/** The AES key and key id of 32 bytes of key material (HKDF-SHA256, one label each). */
export function sessionKey(material: Uint8Array): SessionKey {
  if (material.length !== 32) throw new Error(`a session key is 32 bytes, got ${material.length}`);
  const derive = (info: string, n: number) => Buffer.from(hkdfSync("sha256", material, "", info, n));
  return {
    kid: derive("mcp-conductor session id v1 key id", 4).toString("hex"),
    aead: derive("mcp-conductor session id v1 aes-256-gcm", 32),
  };
}

/** 32 bytes, given raw or as hex or base64 text (what `openssl rand -hex 32` or `-base64 32` prints). */
export function parseKeyMaterial(raw: string | Uint8Array): Buffer {
  const bytes = typeof raw === "string" ? Buffer.from(raw, "utf8") : Buffer.from(raw);
  if (bytes.length === 32) return bytes;
  const text = bytes.toString("utf8").trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, "hex");
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const b = Buffer.from(text, "base64");
    if (b.length === 32) return b;
  }
  throw new Error("the session key must be 32 bytes, or 64 hex characters, or 32 bytes in base64");
}

/** What a sealed token is bound to: its purpose, domain and key (a token of one purpose opens as no other). */
const aad = (purpose: string, domain: string, kid: string) =>
  Buffer.from(`mcp-conductor ${purpose} v1 ${domain} ${kid}`);

/**
 * Seals JSON claims for one purpose and domain: AES-256-GCM, visible ASCII
 * only, as the spec asks of session ids (and of any header value).
 */
export function sealClaims(key: SessionKey, purpose: string, domain: string, claims: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key.aead, iv);
  cipher.setAAD(aad(purpose, domain, key.kid));
  const ct = Buffer.concat([cipher.update(JSON.stringify(claims), "utf8"), cipher.final()]);
  return `${key.kid}.${iv.toString("hex")}${cipher.getAuthTag().toString("hex")}.${ct.toString("base64url")}`;
}

/** The claims a token sealed for this purpose and domain carries, or undefined when it is malformed or forged. */
export function openClaims(key: SessionKey, purpose: string, domain: string, token: string): unknown {
  if (token.length > maxSessionIdLength) return undefined;
  const m = idPattern.exec(token);
  if (!m || m[1] !== key.kid) return undefined;
  const ct = Buffer.from(m[4] as string, "base64url");
  // One token, one spelling: base64url's spare bits must not make a second one for it.
  if (ct.toString("base64url") !== m[4]) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.aead, Buffer.from(m[2] as string, "hex"));
    decipher.setAAD(aad(purpose, domain, key.kid));
    decipher.setAuthTag(Buffer.from(m[3] as string, "hex"));
    const pt = Buffer.concat([decipher.update(ct), decipher.final()]);
    return JSON.parse(pt.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** Seals claims into a session id. */
export function sealSessionId(key: SessionKey, domain: string, claims: SessionClaims): string {
  return sealClaims(key, "session", domain, claims);
}

/** The key id a sealed id (or other sealed token) names, when it has the shape of one at all. */
export function sessionKeyId(id: string): string | undefined {
  if (id.length > maxSessionIdLength) return undefined;
  return idPattern.exec(id)?.[1];
}

/** The claims of a sealed id, or undefined when it is malformed, forged, of another domain, or expired. */
export function unsealSessionId(
  key: SessionKey,
  domain: string,
  id: string,
  nowMs = Date.now(),
): SessionClaims | undefined {
  const claims = openClaims(key, "session", domain, id);
  if (!isClaims(claims)) return undefined;
  return claims.exp * 1000 > nowMs ? claims : undefined;
}

function isClaims(c: unknown): c is SessionClaims {
  if (!c || typeof c !== "object") return false;
  const x = c as Record<string, unknown>;
  const info = x.clientInfo as Record<string, unknown> | undefined;
  return (
    x.v === 1 &&
    typeof x.client === "string" &&
    typeof x.protocolVersion === "string" &&
    !!info &&
    typeof info === "object" &&
    typeof info.name === "string" &&
    typeof info.version === "string" &&
    !!x.capabilities &&
    typeof x.capabilities === "object" &&
    !Array.isArray(x.capabilities) &&
    typeof x.iat === "number" &&
    typeof x.exp === "number"
  );
}

/** The capabilities a client declares in the 2025 revisions; others are dropped when the whole is too big. */
const knownCapabilities = ["roots", "sampling", "elicitation", "tasks"];

/**
 * The claims for a session opened by `client` with these initialize params.
 * An id travels in a header on every request, so an outsized clientInfo or
 * capabilities is cut down (to name and version, to the known capabilities,
 * to nothing), never carried whole.
 */
export function claimsFor(
  client: string,
  params: { protocolVersion: string; clientInfo: SessionClaims["clientInfo"]; capabilities: object },
  ttlSeconds: number,
  nowMs = Date.now(),
): SessionClaims {
  const fits = (v: unknown, max: number) => JSON.stringify(v).length <= max;
  const clientInfo = fits(params.clientInfo, 1024)
    ? params.clientInfo
    : { name: String(params.clientInfo.name).slice(0, 256), version: String(params.clientInfo.version).slice(0, 64) };
  let capabilities = params.capabilities as Record<string, unknown>;
  if (!fits(capabilities, 2048)) {
    capabilities = Object.fromEntries(Object.entries(capabilities).filter(([k]) => knownCapabilities.includes(k)));
    if (!fits(capabilities, 2048)) capabilities = {};
  }
  const iat = Math.floor(nowMs / 1000);
  return {
    v: 1,
    client,
    protocolVersion: String(params.protocolVersion).slice(0, 64),
    clientInfo,
    capabilities,
    iat,
    exp: iat + ttlSeconds,
  };
}

/**
 * The session keys of one gateway: the one it seals with, and every one it
 * has seen (a rotated-out key still opens the ids it sealed until restart).
 */
export class SessionKeys {
  private readonly keys = new Map<string, SessionKey>();
  private current: SessionKey | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private refreshing: Promise<void> | undefined;
  private lastRefresh = 0;
  private readonly abort = new AbortController();
  private readonly log: Logger;

  constructor(
    private readonly opts: {
      source: SessionKeySource;
      conn: KubeConnection;
      namespace: string;
      log: Logger;
      /** How often the file or Secret is read again for a rotated key. */
      refreshMs?: number;
      /** The least time between two reads caused by ids with an unknown key id. */
      minRefreshMs?: number;
    },
  ) {
    this.log = opts.log.child({ component: "session-keys" });
  }

  get ready(): boolean {
    return this.current !== undefined;
  }

  /** The key new session ids are sealed with. */
  get signing(): SessionKey {
    if (!this.current) throw new Error("the session key is not loaded yet");
    return this.current;
  }

  /** Loads the key (retrying while the apiserver is unreachable) and starts watching its source. */
  async start(): Promise<void> {
    const { source } = this.opts;
    if ("key" in source) {
      this.adopt({ key: parseKeyMaterial(source.key) }, "options");
      return;
    }
    for (let attempt = 0; !this.current; attempt++) {
      try {
        this.adopt(await this.read(), "file" in source ? "file" : "secret");
      } catch (err) {
        if ("secret" in source && isForbidden(err)) {
          // Without RBAC for the Secret, sessions stay on the replica that opened
          // them (as before ADR 0007) rather than the gateway not starting.
          this.log.error(
            { secret: source.secret, err },
            "Cannot read or create the session key Secret: using a key of this process only, so each session is served by this replica alone; grant get (and create) on the Secret",
          );
          this.adopt({ key: randomBytes(32) }, "ephemeral");
        } else if ("secret" in source && isTransient(err) && !this.abort.signal.aborted) {
          await Bun.sleep(Math.min(250 * 2 ** attempt, 5_000));
        } else throw err;
      }
      if (this.abort.signal.aborted) return;
    }
    const every = this.opts.refreshMs ?? 60_000;
    this.timer = setInterval(() => void this.refresh(true), every);
    this.timer.unref?.();
  }

  stop(): void {
    this.abort.abort();
    clearInterval(this.timer);
  }

  /** The key an id was sealed with; an unknown key id reads the source again, at most every few seconds. */
  async get(kid: string): Promise<SessionKey | undefined> {
    const known = this.keys.get(kid);
    if (known || "key" in this.opts.source) return known;
    await this.refresh(false);
    return this.keys.get(kid);
  }

  /** Reads the source again; a new key becomes the signing key. */
  refresh(force: boolean): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (!force && Date.now() - this.lastRefresh < (this.opts.minRefreshMs ?? 5_000)) return Promise.resolve();
    this.lastRefresh = Date.now();
    this.refreshing = this.read()
      .then((material) => this.adopt(material, "file" in this.opts.source ? "file" : "secret"))
      .catch((err: Error) => this.log.warn({ err }, "Could not read the session key again"))
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private adopt(material: { key: Buffer; previous?: Buffer }, from: string): void {
    if (material.previous) {
      const previous = sessionKey(material.previous);
      this.keys.set(previous.kid, previous);
    }
    const key = sessionKey(material.key);
    if (this.current?.kid === key.kid) return;
    this.keys.set(key.kid, key);
    const rotated = this.current !== undefined;
    this.current = key;
    this.log.info({ kid: key.kid, from }, rotated ? "Session key rotated" : "Session key loaded");
  }

  private async read(): Promise<{ key: Buffer; previous?: Buffer }> {
    const { source } = this.opts;
    if ("key" in source) return { key: parseKeyMaterial(source.key) };
    if ("file" in source) return { key: parseKeyMaterial(readFileSync(source.file)) };
    const path = `/api/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/secrets`;
    const name = source.secret;
    for (let i = 0; i < 3; i++) {
      try {
        const s = await this.opts.conn.request<{ data?: Record<string, string> }>(
          "GET",
          `${path}/${encodeURIComponent(name)}`,
        );
        const value = s.data?.key;
        if (!value) throw new Error(`the Secret ${name} has no data key "key"`);
        const previous = s.data?.previous;
        return {
          key: parseKeyMaterial(Buffer.from(value, "base64")),
          ...(previous ? { previous: parseKeyMaterial(Buffer.from(previous, "base64")) } : {}),
        };
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      // The first replica of the domain makes the key; one racing it reads the winner's.
      const key = randomBytes(32);
      try {
        await this.opts.conn.request("POST", path, {
          body: {
            apiVersion: "v1",
            kind: "Secret",
            metadata: {
              name,
              labels: { "app.kubernetes.io/name": "mcp-gateway", "mcp.io/created-by": "gateway" },
              annotations: { "mcp.io/purpose": "seals MCP session ids; any replica serves any session (ADR 0007)" },
            },
            type: "Opaque",
            data: { key: Buffer.from(key.toString("hex")).toString("base64") },
          },
        });
        this.log.info({ secret: name }, "Created the session key Secret");
        return { key };
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }
    throw new Error(`the Secret ${name} keeps appearing and vanishing`);
  }
}
