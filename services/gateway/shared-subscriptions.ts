/**
 * The resource subscriptions of a domain's 2025 sessions, shared by its
 * gateway replicas through one ConfigMap (docs/adr/0007): resources/subscribe
 * may reach one replica while the session's GET stream is held by another,
 * and the one holding the stream must subscribe upstream and forward
 * notifications/resources/updated. Each subscription is one data key,
 * `<session ref>.<uri ref>` → `{"uri", "exp"}`, written with JSON merge
 * patches (no read-modify-write, so replicas never conflict), removed on
 * unsubscribe and DELETE, and swept once its session id has expired.
 *
 * It is best effort: without the ConfigMap (no RBAC, apiserver away) a
 * subscription still works on the replica that took it.
 */
import { createHash } from "node:crypto";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { isAlreadyExists, isNotFound } from "../../lib/kube/errors.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { type KubeObject, ResourceClient } from "../../lib/kube/resource-client.ts";
import type { Logger } from "../../lib/log.ts";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

export const defaultSubscriptionsConfigMap = "mcp-gateway-subscriptions";
/** Per session, at most this many subscriptions are shared; more work on their own replica only. */
const maxPerSession = 64;
const maxUriLength = 2048;
/** A ConfigMap holds at most 1 MiB; leave room. */
const maxBytes = 900 * 1024;

const digest = (s: string, hexChars: number) => createHash("sha256").update(s).digest("hex").slice(0, hexChars);
/** A session's short, fixed-length name in shared state: not the id itself, which opens the session. */
export const sessionRef = (sessionId: string) => digest(sessionId, 32);
const entryKey = (ref: string, uri: string) => `${ref}.${digest(uri, 16)}`;

function parseEntry(value: string | undefined): { uri: string; exp: number } | undefined {
  if (!value) return undefined;
  try {
    const e = JSON.parse(value) as { uri?: unknown; exp?: unknown };
    return typeof e.uri === "string" && typeof e.exp === "number" ? { uri: e.uri, exp: e.exp } : undefined;
  } catch {
    return undefined;
  }
}

export type SubscriptionChange = (ref: string, uri: string, subscribed: boolean) => void;

export class SharedSubscriptions {
  private readonly client: ResourceClient<ConfigMap>;
  private readonly informer: Informer<ConfigMap>;
  private readonly listeners: SubscriptionChange[] = [];
  private readonly name: string;
  private readonly log: Logger;
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly opts: { conn: KubeConnection; namespace: string; log: Logger; name?: string; sweepMs?: number },
  ) {
    this.name = opts.name ?? defaultSubscriptionsConfigMap;
    this.log = opts.log.child({ component: "shared-subscriptions" });
    this.client = new ResourceClient<ConfigMap>(opts.conn, {
      group: "",
      version: "v1",
      plural: "configmaps",
      kind: "ConfigMap",
      namespaced: true,
    });
    // Watched by name, so RBAC can confine the gateway to this one ConfigMap.
    this.informer = new Informer(this.client, {
      namespace: opts.namespace,
      fieldSelector: `metadata.name=${this.name}`,
      logger: this.log,
    });
    const emit = (key: string, value: string | undefined, on: boolean) => {
      const e = parseEntry(value);
      const ref = key.split(".")[0];
      if (!e || !ref) return;
      for (const fn of this.listeners) fn(ref, e.uri, on);
    };
    this.informer.on({
      add: (cm) => {
        for (const [k, v] of Object.entries(cm.data ?? {})) emit(k, v, true);
      },
      update: (cm, old) => {
        const now = cm.data ?? {};
        const before = old.data ?? {};
        for (const [k, v] of Object.entries(now)) if (before[k] !== v) emit(k, v, true);
        for (const [k, v] of Object.entries(before)) if (!(k in now)) emit(k, v, false);
      },
      delete: (cm) => {
        for (const [k, v] of Object.entries(cm.data ?? {})) emit(k, v, false);
      },
    });
  }

  /** Starts watching; does not wait for it (the gateway serves without shared subscriptions). */
  start(): void {
    void this.informer.start();
    this.sweeper = setInterval(() => void this.sweep(), this.opts.sweepMs ?? 10 * 60_000);
    this.sweeper.unref?.();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.informer.stop();
  }

  get hasSynced(): boolean {
    return this.informer.hasSynced;
  }

  onChange(fn: SubscriptionChange): void {
    this.listeners.push(fn);
  }

  private data(): Record<string, string> {
    return this.informer.get(this.opts.namespace, this.name)?.data ?? {};
  }

  /** The URIs a session subscribed to, on any replica, as far as this one has seen. */
  urisOf(ref: string): string[] {
    const now = Date.now() / 1000;
    const out: string[] = [];
    for (const [k, v] of Object.entries(this.data())) {
      if (!k.startsWith(`${ref}.`)) continue;
      const e = parseEntry(v);
      if (e && e.exp > now) out.push(e.uri);
    }
    return out;
  }

  /** Shares a subscription until expSeconds (its session id's expiry). Resolves false when it was not shared. */
  async add(ref: string, uri: string, expSeconds: number): Promise<boolean> {
    const key = entryKey(ref, uri);
    const data = this.data();
    const value = JSON.stringify({ uri, exp: expSeconds });
    const mine = Object.keys(data).filter((k) => k.startsWith(`${ref}.`)).length;
    const size = Object.entries(data).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (uri.length > maxUriLength || mine >= maxPerSession || size + key.length + value.length > maxBytes) {
      this.log.warn({ uri: uri.slice(0, 200), mine, size }, "Subscription not shared: only its own replica has it");
      return false;
    }
    return this.patch({ [key]: value });
  }

  /** Always written, even when this replica's cache lacks the key: another may have just added it. */
  async remove(ref: string, uri: string): Promise<void> {
    await this.patch({ [entryKey(ref, uri)]: null });
  }

  /** Removes every subscription of a session (DELETE). */
  async forget(ref: string): Promise<void> {
    const keys = Object.keys(this.data()).filter((k) => k.startsWith(`${ref}.`));
    if (keys.length) await this.patch(Object.fromEntries(keys.map((k) => [k, null])));
  }

  /** Removes the subscriptions of expired sessions (every replica may; the patches are idempotent). */
  async sweep(): Promise<void> {
    const now = Date.now() / 1000;
    const expired = Object.entries(this.data())
      .filter(([, v]) => (parseEntry(v)?.exp ?? 0) <= now)
      .map(([k]) => k);
    if (expired.length) await this.patch(Object.fromEntries(expired.map((k) => [k, null])));
  }

  private async patch(data: Record<string, string | null>): Promise<boolean> {
    const ns = this.opts.namespace;
    for (let i = 0; i < 3; i++) {
      try {
        await this.client.patch(ns, this.name, { data }, "merge");
        return true;
      } catch (err) {
        if (!isNotFound(err)) {
          this.log.warn({ err }, "Could not write the shared subscriptions");
          return false;
        }
      }
      const initial = Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => e[1] !== null));
      if (!Object.keys(initial).length) return true;
      try {
        await this.client.create(ns, {
          metadata: {
            name: this.name,
            labels: { "app.kubernetes.io/name": "mcp-gateway", "mcp.io/created-by": "gateway" },
          },
          data: initial,
        });
        return true;
      } catch (err) {
        if (!isAlreadyExists(err)) {
          this.log.warn({ err }, "Could not create the shared subscriptions");
          return false;
        }
      }
    }
    return false;
  }
}
