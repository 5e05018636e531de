/**
 * A small typed REST client for one Kubernetes resource (built-in or custom),
 * over a KubeConnection. It speaks the apiserver's REST conventions directly:
 * list/watch with selectors and resourceVersions, optimistic-lock updates,
 * the status subresource, merge/JSON/server-side-apply patches.
 */
import type { KubeConnection, QueryValue } from "./connection.ts";
import { KubeApiError, type KubeStatus } from "./errors.ts";

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  /** Server-side apply's record of who set which field; informers drop it (informer.ts). */
  managedFields?: unknown[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface ObjectList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

/** Identifies a resource type: `{group: "mcp.io", version: "v1", plural: "tasks"}`. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: "Exact" | "NotOlderThan";
}

export interface WatchOptions extends Omit<ListOptions, "limit" | "continue" | "resourceVersionMatch"> {
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface WriteOptions {
  fieldManager?: string;
  dryRun?: boolean;
  /** Aborts the request, for a deadline (leader election's renew deadline). */
  signal?: AbortSignal;
}

export type PatchType = "merge" | "json" | "strategic" | "apply";

const patchContentTypes: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
};

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

/** An ERROR event inside a watch stream (for example 410 Gone: too old a resourceVersion). */
export class WatchErrorEvent extends KubeApiError {}

export class ResourceClient<T extends KubeObject> {
  constructor(
    readonly connection: KubeConnection,
    readonly type: ResourceType,
  ) {}

  get apiVersion(): string {
    return this.type.group ? `${this.type.group}/${this.type.version}` : this.type.version;
  }

  /** The collection path, namespaced when a namespace is given. */
  path(namespace?: string, name?: string, subresource?: string): string {
    const { group, version, plural } = this.type;
    let p = group ? `/apis/${group}/${version}` : `/api/${version}`;
    if (this.type.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${plural}`;
    if (name) p += `/${encodeURIComponent(name)}`;
    if (subresource) p += `/${subresource}`;
    return p;
  }

  get(namespace: string | undefined, name: string, signal?: AbortSignal): Promise<T> {
    return this.connection.request<T>("GET", this.path(namespace, name), { signal });
  }

  list(namespace?: string, opts: ListOptions = {}): Promise<ObjectList<T>> {
    return this.connection.request<ObjectList<T>>("GET", this.path(namespace), {
      query: opts as Record<string, QueryValue>,
    });
  }

  /** Every page of a list, with the resourceVersion of the first page. */
  async listAll(namespace?: string, opts: Omit<ListOptions, "continue"> = {}): Promise<ObjectList<T>> {
    const first = await this.list(namespace, { limit: 500, ...opts });
    const items = [...first.items];
    let next = first.metadata.continue;
    while (next) {
      const page = await this.list(namespace, { ...opts, limit: opts.limit ?? 500, continue: next });
      items.push(...page.items);
      next = page.metadata.continue;
    }
    return { ...first, metadata: { resourceVersion: first.metadata.resourceVersion }, items };
  }

  create(namespace: string | undefined, obj: T, opts: WriteOptions = {}): Promise<T> {
    const body = { apiVersion: this.apiVersion, kind: this.type.kind, ...obj };
    return this.connection.request<T>("POST", this.path(namespace), {
      body,
      query: writeQuery(opts),
      signal: opts.signal,
    });
  }

  /** PUT: fails with 409 Conflict when obj.metadata.resourceVersion is stale. */
  replace(obj: T, opts: WriteOptions = {}): Promise<T> {
    const body = { apiVersion: this.apiVersion, kind: this.type.kind, ...obj };
    return this.connection.request<T>("PUT", this.path(obj.metadata.namespace, obj.metadata.name), {
      body,
      query: writeQuery(opts),
      signal: opts.signal,
    });
  }

  /** PUT on the status subresource: only status changes, guarded by resourceVersion. */
  replaceStatus(obj: T, opts: WriteOptions = {}): Promise<T> {
    const body = { apiVersion: this.apiVersion, kind: this.type.kind, ...obj };
    return this.connection.request<T>("PUT", this.path(obj.metadata.namespace, obj.metadata.name, "status"), {
      body,
      query: writeQuery(opts),
      signal: opts.signal,
    });
  }

  patch(
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    opts: WriteOptions & { subresource?: "status"; force?: boolean } = {},
  ): Promise<T> {
    if (type === "apply" && !opts.fieldManager) throw new Error("server-side apply needs a fieldManager");
    return this.connection.request<T>("PATCH", this.path(namespace, name, opts.subresource), {
      body: patch,
      contentType: patchContentTypes[type],
      query: { ...writeQuery(opts), force: opts.force },
      signal: opts.signal,
    });
  }

  async delete(
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: "Foreground" | "Background" | "Orphan"; uid?: string; resourceVersion?: string } = {},
  ): Promise<void> {
    const preconditions =
      opts.uid || opts.resourceVersion ? { uid: opts.uid, resourceVersion: opts.resourceVersion } : undefined;
    await this.connection.request("DELETE", this.path(namespace, name), {
      body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: opts.propagationPolicy, preconditions },
    });
  }

  /**
   * Streams watch events until the server closes the stream, the signal
   * aborts, or an ERROR event arrives (thrown as WatchErrorEvent; 410 means
   * the resourceVersion is too old and the caller must relist).
   */
  async *watch(namespace: string | undefined, opts: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    const { signal, ...query } = opts;
    const res = await this.connection.fetch("GET", this.path(namespace), {
      query: { ...(query as Record<string, QueryValue>), watch: true },
      signal,
    });
    if (!res.ok) {
      const text = await res.text();
      let status: KubeStatus;
      try {
        status = JSON.parse(text);
      } catch {
        status = { message: text || `HTTP ${res.status}`, code: res.status };
      }
      throw new KubeApiError(res.status, status, "GET", this.path(namespace));
    }
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf("\n");
        if (!line) continue;
        const ev = JSON.parse(line) as { type: string; object: unknown };
        if (ev.type === "ERROR") {
          const status = ev.object as KubeStatus;
          throw new WatchErrorEvent(status.code ?? 500, status, "WATCH", this.path(namespace));
        }
        yield ev as WatchEvent<T>;
      }
    }
  }
}

function writeQuery(opts: WriteOptions): Record<string, QueryValue> {
  return { fieldManager: opts.fieldManager, dryRun: opts.dryRun ? "All" : undefined };
}
