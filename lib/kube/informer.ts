/**
 * A list-then-watch cache of one resource, kept current for as long as it
 * runs. Unlike client-node's informer it never gives up: on 410 Gone it
 * relists, on any other error (the apiserver restarting, a reset connection)
 * it backs off with jitter and watches again from the last resourceVersion it
 * saw. Handlers only hear about changes; a relist after a gap reports the
 * difference between the old cache and the new list, so nothing that happened
 * while the apiserver was away is missed.
 *
 * Cached objects lose metadata.managedFields, as controller-runtime's caches
 * strip them by default: nothing here reads them, they are often the largest
 * part of a small object (half of a call's Task), and a status or object PUT
 * without them leaves the apiserver's as they are.
 */
import { type Logger, silentLogger } from "../log.ts";
import { isGone } from "./errors.ts";
import type { KubeObject, ListOptions, ResourceClient, WatchEvent } from "./resource-client.ts";

export type InformerEvent = "add" | "update" | "delete";

export interface InformerHandlers<T> {
  add?: (obj: T) => void;
  update?: (obj: T, old: T) => void;
  delete?: (obj: T) => void;
}

export interface InformerOptions {
  /** Watch one namespace, or all when unset (cluster-scoped resources too). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger?: Logger;
  /** Server-side watch timeout; the watch is renewed after it. */
  watchTimeoutSeconds?: number;
  /** First retry delay after an error; doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Keeps metadata.managedFields on the cached objects (stripped by default). */
  keepManagedFields?: boolean;
  /** Injected for tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export const objectKey = (obj: KubeObject): string =>
  obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : (obj.metadata.name ?? "");

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private resourceVersion: string | undefined;
  private abort = new AbortController();
  private running: Promise<void> | undefined;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private readonly log: Logger;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Counts relists and watch restarts, for metrics and tests. */
  readonly stats = { lists: 0, watches: 0, errors: 0 };

  constructor(
    private readonly client: ResourceClient<T>,
    private readonly opts: InformerOptions = {},
  ) {
    this.log = (opts.logger ?? silentLogger).child({ informer: client.type.plural, namespace: opts.namespace });
    this.sleep = opts.sleep ?? abortableSleep;
  }

  on(handlers: InformerHandlers<T>): this {
    this.handlers.push(handlers);
    return this;
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  async start(): Promise<void> {
    if (!this.running) {
      this.abort = new AbortController();
      this.running = this.run(this.abort.signal);
    }
    await this.waitForSync();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.running = undefined;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  getByKey(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get size(): number {
    return this.cache.size;
  }

  private selectors(): Pick<ListOptions, "labelSelector" | "fieldSelector"> {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private async run(signal: AbortSignal): Promise<void> {
    const initial = this.opts.initialBackoffMs ?? 200;
    const max = this.opts.maxBackoffMs ?? 5_000;
    let backoff = initial;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.relist();
        await this.watchOnce(signal);
        backoff = initial; // a watch that ended cleanly resets the backoff
      } catch (err) {
        if (signal.aborted) break;
        this.stats.errors++;
        if (isGone(err)) {
          this.log.info({ err }, "Watch expired; relisting");
          this.resourceVersion = undefined;
          continue;
        }
        const delay = backoff / 2 + Math.random() * (backoff / 2);
        this.log.warn({ err, retryInMs: Math.round(delay) }, "Watch failed; retrying");
        await this.sleep(delay, signal);
        backoff = Math.min(backoff * 2, max);
      }
    }
  }

  private async relist(): Promise<void> {
    this.stats.lists++;
    const list = await this.client.listAll(this.opts.namespace, this.selectors());
    const seen = new Set<string>();
    for (const obj of list.items) {
      this.lean(obj);
      const key = objectKey(obj);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit("add", obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit("update", obj, old);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit("delete", old);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(signal: AbortSignal): Promise<void> {
    this.stats.watches++;
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120);
    // A watch whose connection dies without a FIN would hang forever: a
    // watchdog aborts it when the server has been silent past its own timeout.
    const watchAbort = new AbortController();
    const onAbort = () => watchAbort.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    const watchdog = setTimeout(() => watchAbort.abort(), (timeoutSeconds + 30) * 1000);
    try {
      const events = this.client.watch(this.opts.namespace, {
        ...this.selectors(),
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        signal: watchAbort.signal,
      });
      for await (const ev of events) this.apply(ev);
    } catch (err) {
      if (watchAbort.signal.aborted && !signal.aborted) return; // watchdog: just watch again
      throw err;
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener("abort", onAbort);
    }
  }

  private apply(ev: WatchEvent<T>): void {
    const obj = ev.object;
    this.resourceVersion = obj.metadata.resourceVersion;
    if (ev.type === "BOOKMARK") return;
    this.lean(obj);
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (ev.type === "DELETED") {
      this.cache.delete(key);
      this.emit("delete", obj);
      return;
    }
    this.cache.set(key, obj);
    if (old) this.emit("update", obj, old);
    else this.emit("add", obj);
  }

  private lean(obj: T): void {
    if (!this.opts.keepManagedFields) delete obj.metadata.managedFields;
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (event === "add") h.add?.(obj);
        else if (event === "update") h.update?.(obj, old as T);
        else h.delete?.(obj);
      } catch (err) {
        // A handler's bug must not stop the informer for everyone else.
        this.log.error({ err, key: objectKey(obj), event }, "Informer handler threw");
      }
    }
  }
}
