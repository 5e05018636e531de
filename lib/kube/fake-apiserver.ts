/**
 * An apiserver in memory, behind a real KubeConnection, for unit tests of
 * code that talks to Kubernetes through ResourceClient (the agent runtime):
 * create, get, list and watch with field and label selectors, replace and
 * the status subresource guarded by resourceVersion, merge patches, delete.
 * Errors are the apiserver's Status bodies, so the connection turns them into
 * the same KubeApiError a real one gives. Only what those clients use is
 * here: integration tests run against a real kube-apiserver.
 */
import { KubeConnection, type RequestOptions } from "./connection.ts";
import { KubeConnectionError } from "./errors.ts";
import type { KubeObject } from "./resource-client.ts";

type Stored = KubeObject & { metadata: NonNullable<KubeObject["metadata"]> } & Record<string, unknown>;

/** One request as the fake saw it: method, the path without its query, and the query. */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

/** A reply that stands in for the store's: a status code and its reason (a Status body), or a dropped connection. */
export type FakeFault = { code: number; reason?: string; message?: string } | "disconnect";

interface Watcher {
  collection: string;
  namespace: string | undefined;
  matches: (o: Stored) => boolean;
  send: (type: string, o: Stored) => void;
}

interface Route {
  /** group/version/plural: the collection, the same for every namespace. */
  collection: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** /api/v1/..., /apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>[/<sub>]] */
function route(path: string): Route {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const rest = parts[0] === "api" ? parts.slice(2) : parts.slice(3);
  const gv = parts[0] === "api" ? `core/${parts[1]}` : `${parts[1]}/${parts[2]}`;
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest.splice(0, 2);
  }
  return { collection: `${gv}/${rest[0]}`, namespace, name: rest[1], subresource: rest[2] };
}

/** a.b.c of an object, as a string ("" when absent), the way field selectors compare. */
function field(o: Stored, path: string): string {
  let v: unknown = o;
  for (const k of path.split(".")) v = v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
  return v === undefined || v === null ? "" : String(v);
}

/** `k=v,k2=v2` (also `==` and `!=`) on fields, or on labels. */
function selector(text: string | null, get: (o: Stored, key: string) => string | undefined): (o: Stored) => boolean {
  const terms = (text ?? "")
    .split(",")
    .filter(Boolean)
    .map((t) => {
      const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(t);
      if (!m) throw new Error(`the fake apiserver does not understand the selector term ${t}`);
      return { key: m[1] as string, not: m[2] === "!=", value: m[3] as string };
    });
  return (o) => terms.every((t) => (get(o, t.key) === t.value) !== t.not);
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === "object" && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const json = (code: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status: code, headers: { "content-type": "application/json" } });

const status = (code: number, reason: string, message: string): Response =>
  json(code, { kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message });

export class FakeApiServer {
  private readonly objects = new Map<string, Stored>();
  private readonly watchers = new Set<Watcher>();
  /** Watch events kept back (holdWatches), in order, until releaseWatches. */
  private held: (() => void)[] | undefined;
  /** Every change, so that a watch from a resourceVersion sees what came after it (as the watch cache does). */
  private readonly changes: { rv: number; r: Route; now: Stored | undefined; old: Stored | undefined }[] = [];
  private rv = 0;
  private uid = 0;
  /** Every request, in order. */
  readonly requests: FakeRequest[] = [];
  private readonly faults: { when: (r: FakeRequest) => boolean; fault: FakeFault }[] = [];
  /** Called with each request before the store answers it; what it returns stands in for the answer. */
  private readonly hooks: ((r: FakeRequest) => Promise<void> | void)[] = [];

  /** A connection to this fake, used like one to a real apiserver. */
  connection(): KubeConnection {
    return new FakeConnection(this);
  }

  /** The next request for which `when` holds gets `fault` instead of its answer (once). */
  failNext(when: (r: FakeRequest) => boolean, fault: FakeFault): void {
    this.faults.push({ when, fault });
  }

  /** Runs `fn` as each request arrives, before it is answered (a test waits there, or changes the store). */
  onRequest(fn: (r: FakeRequest) => Promise<void> | void): () => void {
    this.hooks.push(fn);
    return () => {
      const i = this.hooks.indexOf(fn);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** The writes (not reads) made to paths containing `part`, as "METHOD path". */
  writes(part = ""): string[] {
    return this.requests.filter((r) => r.method !== "GET" && r.path.includes(part)).map((r) => `${r.method} ${r.path}`);
  }

  /** A stored object, by its path (as ResourceClient.path makes it), or undefined. */
  get<T extends KubeObject>(path: string): T | undefined {
    const o = this.objects.get(this.key(route(path)));
    return o ? (structuredClone(o) as unknown as T) : undefined;
  }

  /** Writes an object straight into the store (as another client would), telling the watchers. */
  put<T extends KubeObject>(collectionPath: string, obj: T): T {
    const r = route(collectionPath);
    const stored = this.stamp(r, structuredClone(obj) as unknown as Stored);
    const key = this.key({ ...r, name: stored.metadata.name });
    const old = this.objects.get(key);
    if (!stored.metadata.uid) stored.metadata.uid = old?.metadata.uid ?? `uid-${++this.uid}`;
    this.store(key, r, stored, old);
    return structuredClone(stored) as unknown as T;
  }

  /** Deletes an object from the store (as another client would). */
  remove(path: string): void {
    const r = route(path);
    const key = this.key(r);
    const old = this.objects.get(key);
    if (!old) return;
    this.objects.delete(key);
    this.rv++;
    const gone = { ...old, metadata: { ...old.metadata, resourceVersion: String(this.rv) } };
    this.changes.push({ rv: this.rv, r, now: undefined, old: gone });
    this.notify(r, undefined, gone, this.watchers);
  }

  private key(r: Route): string {
    return `${r.collection}|${r.namespace ?? ""}|${r.name ?? ""}`;
  }

  private stamp(r: Route, o: Stored): Stored {
    o.metadata = { ...o.metadata, namespace: r.namespace ?? o.metadata.namespace };
    return o;
  }

  private store(key: string, r: Route, o: Stored, old: Stored | undefined): void {
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.creationTimestamp ??= old?.metadata.creationTimestamp ?? new Date().toISOString();
    this.objects.set(key, o);
    this.changes.push({ rv: this.rv, r, now: o, old });
    this.notify(r, o, old, this.watchers);
  }

  /** What each watch sees of a change: ADDED, MODIFIED or DELETED as the object enters, stays in or leaves its selection. */
  private notify(r: Route, now: Stored | undefined, old: Stored | undefined, watchers: Iterable<Watcher>): void {
    for (const w of watchers) {
      if (w.collection !== r.collection || (w.namespace !== undefined && w.namespace !== r.namespace)) continue;
      const was = old !== undefined && w.matches(old);
      const is = now !== undefined && w.matches(now);
      if (is) w.send(was ? "MODIFIED" : "ADDED", now);
      else if (was) w.send("DELETED", now ?? old);
    }
  }

  async handle(method: string, path: string, init: RequestOptions): Promise<Response> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(init.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const body = typeof init.body === "string" ? JSON.parse(init.body) : init.body;
    const req: FakeRequest = { method, path, query, body: structuredClone(body) };
    this.requests.push(req);
    for (const hook of [...this.hooks]) await hook(req);
    const i = this.faults.findIndex((f) => f.when(req));
    if (i >= 0) {
      const { fault } = this.faults.splice(i, 1)[0] as { fault: FakeFault };
      if (fault === "disconnect")
        throw new KubeConnectionError(method, path, new TypeError("the fake apiserver dropped the connection"));
      return status(fault.code, fault.reason ?? "InternalError", fault.message ?? `fault ${fault.code}`);
    }
    const r = route(path);
    const key = this.key(r);
    const current = this.objects.get(key);
    switch (method) {
      case "GET": {
        if (r.name) {
          return current ? json(200, current) : status(404, "NotFound", `${r.name} not found`);
        }
        const byField = selector(query.get("fieldSelector"), field);
        const byLabel = selector(query.get("labelSelector"), (o, k) => o.metadata.labels?.[k]);
        const matches = (o: Stored) => byField(o) && byLabel(o);
        if (query.get("watch") === "true")
          return this.watch(r, matches, Number(query.get("resourceVersion") ?? this.rv), init.signal);
        const items = [...this.objects.entries()]
          .filter(([k, o]) => k.startsWith(`${r.collection}|${r.namespace ?? ""}`) && matches(o))
          .map(([, o]) => o);
        return json(200, { metadata: { resourceVersion: String(this.rv) }, items });
      }
      case "POST": {
        const o = body as Stored;
        const k = this.key({ ...r, name: o.metadata.name });
        if (this.objects.has(k)) return status(409, "AlreadyExists", `${o.metadata.name} already exists`);
        const created = this.stamp(r, structuredClone(o));
        created.metadata.uid = `uid-${++this.uid}`;
        this.store(k, r, created, undefined);
        return json(201, created);
      }
      case "PUT": {
        const o = body as Stored;
        if (!current) return status(404, "NotFound", `${r.name} not found`);
        if (o.metadata.resourceVersion && o.metadata.resourceVersion !== current.metadata.resourceVersion)
          return status(
            409,
            "Conflict",
            `the object has been modified; please apply your changes to the latest version`,
          );
        const next: Stored =
          r.subresource === "status"
            ? { ...structuredClone(current), status: structuredClone(o.status) }
            : { ...structuredClone(o), status: structuredClone(current.status) };
        next.metadata = { ...structuredClone(r.subresource === "status" ? current.metadata : o.metadata) };
        next.metadata.uid = current.metadata.uid;
        next.metadata.creationTimestamp = current.metadata.creationTimestamp;
        this.store(key, r, this.dropUndefined(next), current);
        return json(200, this.objects.get(key));
      }
      case "PATCH": {
        if (init.contentType !== "application/merge-patch+json")
          return status(415, "UnsupportedMediaType", `the fake serves merge patches only, not ${init.contentType}`);
        if (!current) return status(404, "NotFound", `${r.name} not found`);
        const patch = (r.subresource === "status" ? { status: (body as Stored).status } : body) as Stored;
        const next = mergePatch(structuredClone(current), patch) as Stored;
        if (r.subresource !== "status") next.status = structuredClone(current.status);
        next.metadata.uid = current.metadata.uid;
        this.store(key, r, this.dropUndefined(next), current);
        return json(200, this.objects.get(key));
      }
      case "DELETE": {
        if (!current) return status(404, "NotFound", `${r.name} not found`);
        this.remove(path);
        return json(200, { kind: "Status", status: "Success" });
      }
      default:
        return status(405, "MethodNotAllowed", `${method} is not served here`);
    }
  }

  /** JSON as the apiserver stores it: fields set to undefined are gone. */
  private dropUndefined(o: Stored): Stored {
    return JSON.parse(JSON.stringify(o)) as Stored;
  }

  private watch(r: Route, matches: (o: Stored) => boolean, from: number, signal?: AbortSignal): Response {
    const encoder = new TextEncoder();
    let watcher: Watcher | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const close = () => {
          if (watcher) this.watchers.delete(watcher);
          try {
            controller.close();
          } catch {
            // already closed by the reader
          }
        };
        watcher = {
          collection: r.collection,
          namespace: r.namespace,
          matches,
          send: (type, o) => {
            const line = encoder.encode(`${JSON.stringify({ type, object: o })}\n`);
            if (this.held) this.held.push(() => controller.enqueue(line));
            else controller.enqueue(line);
          },
        };
        for (const c of this.changes) if (c.rv > from) this.notify(c.r, c.now, c.old, [watcher]);
        this.watchers.add(watcher);
        if (signal?.aborted) close();
        signal?.addEventListener("abort", close, { once: true });
      },
      cancel: () => {
        if (watcher) this.watchers.delete(watcher);
      },
    });
    return new Response(stream, { status: 200, headers: { "content-type": "application/json" } });
  }

  /** Keeps watch events back, as a slow watch would, until releaseWatches: the store changes at once all the same. */
  holdWatches(): void {
    this.held ??= [];
  }

  releaseWatches(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const send of held) send();
  }

  /** Watches still open. */
  get watchCount(): number {
    return this.watchers.size;
  }
}

class FakeConnection extends KubeConnection {
  constructor(private readonly fake: FakeApiServer) {
    super({
      source: "fake",
      context: "fake",
      cluster: { server: "http://fake.invalid", insecureSkipTlsVerify: false },
      user: {},
    });
  }

  /** As fetch does: a request whose signal aborts (a timeout) fails with the signal's reason, even while the fake holds it. */
  override async fetch(
    method: string,
    path: string,
    init: RequestOptions & { accept?: string } = {},
  ): Promise<Response> {
    const { signal } = init;
    signal?.throwIfAborted();
    if (!signal) return this.fake.handle(method, path, init);
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([this.fake.handle(method, path, init), aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}
