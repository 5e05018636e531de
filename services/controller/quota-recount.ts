/**
 * Has the domain's ResourceQuota on Tasks counted when Kubernetes forgot to.
 *
 * The quota controller (kube-controller-manager) counts `count/tasks.mcp.io`
 * only once it has discovered the resource, up to 30 s after the CRD was
 * installed. A quota created before then (a domain installed right after the
 * cluster-wide part, as the README does) gets a status with `hard` but no
 * `used` for Tasks, and is not counted again: neither its periodic resync
 * nor a Task event recounts it (a Task cannot even be created: the
 * apiserver refuses every one with "status unknown for quota"). Only a change
 * of its spec.hard does. So the leader looks for such a quota every
 * `intervalMs` and changes its spec.hard without touching the limits it
 * holds: it adds a constraint on a resource that does not exist and removes
 * it again (two patches; the fields the operator applied keep their owner,
 * so a later `kubectl apply --server-side` of the overlay does not conflict).
 */
import type { EventRecorder } from "../../lib/controller/events.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import type { Logger } from "../../lib/log.ts";

export const tasksQuotaResource = "count/tasks.mcp.io";
/** The constraint added and removed again: on a resource no API serves, so it limits nothing. */
export const recountMarker = "count/recount.mcp.io";
const markerPath = `/spec/hard/${recountMarker.replace("~", "~0").replace("/", "~1")}`;
/** The domain's quota on Tasks, as the overlays name it. */
export const domainQuotaName = "mcp-tasks";

export interface ResourceQuota {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  spec?: { hard?: Record<string, string> };
  status?: { hard?: Record<string, string>; used?: Record<string, string> };
}

/** A quota the apiserver enforces on Tasks (its status names the limit) but that was never counted. */
export function uncountedTasksQuota(q: ResourceQuota): boolean {
  return (
    q.spec?.hard?.[tasksQuotaResource] !== undefined &&
    q.status?.hard?.[tasksQuotaResource] !== undefined &&
    q.status?.used?.[tasksQuotaResource] === undefined
  );
}

export interface QuotaRecountOptions {
  conn: KubeConnection;
  namespace: string;
  log: Logger;
  events?: EventRecorder;
  /** Only the leader acts. */
  isLeader: () => boolean;
  intervalMs?: number;
}

export class QuotaRecount {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running = false;
  /** Recounts asked for, for tests and logs. */
  recounts = 0;

  constructor(private readonly opts: QuotaRecountOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.opts.intervalMs ?? 15_000);
    this.timer.unref?.();
    void this.check();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One look at the namespace's quotas; each uncounted one is recounted. */
  async check(): Promise<void> {
    if (this.running || !this.opts.isLeader()) return;
    this.running = true;
    const ns = this.opts.namespace;
    try {
      const list = await this.opts.conn.request<{ items: ResourceQuota[] }>(
        "GET",
        `/api/v1/namespaces/${ns}/resourcequotas`,
        { signal: AbortSignal.timeout(10_000) },
      );
      // Only the domain's own quota (the Role lets the controller patch it alone).
      const ours = list.items.filter((q) => q.metadata.name === domainQuotaName);
      for (const q of ours) {
        if (q.spec?.hard?.[recountMarker] !== undefined) await this.removeMarker(q);
        else if (uncountedTasksQuota(q)) await this.recount(q);
      }
    } catch (err) {
      this.opts.log.warn({ err }, "Could not check the domain's ResourceQuotas");
    } finally {
      this.running = false;
    }
  }

  /** A marker a recount left behind (its second patch failed) is taken out. */
  private async removeMarker(q: ResourceQuota): Promise<void> {
    try {
      await this.patchQuota(q, [{ op: "remove", path: markerPath }]);
      this.opts.log.info({ quota: q.metadata.name }, "Removed a recount's leftover constraint");
    } catch (err) {
      this.opts.log.warn({ err, quota: q.metadata.name }, "Could not remove a recount's leftover constraint");
    }
  }

  private patchQuota(q: ResourceQuota, ops: unknown[]): Promise<unknown> {
    return this.opts.conn.request(
      "PATCH",
      `/api/v1/namespaces/${this.opts.namespace}/resourcequotas/${q.metadata.name}`,
      {
        body: ops,
        contentType: "application/json-patch+json",
        signal: AbortSignal.timeout(10_000),
      },
    );
  }

  private async recount(q: ResourceQuota): Promise<void> {
    const name = q.metadata.name ?? "";
    const key = markerPath;
    const patch = (ops: unknown[]) => this.patchQuota(q, ops);
    try {
      await patch([{ op: "add", path: key, value: "1" }]);
      await patch([{ op: "remove", path: key }]);
      this.recounts++;
      this.opts.log.info({ quota: name }, "ResourceQuota on Tasks was never counted; asked Kubernetes to count it");
      this.opts.events?.record(
        { ...q, apiVersion: "v1", kind: "ResourceQuota" },
        "Normal",
        "Recounted",
        `${tasksQuotaResource} had no usage (the quota predates Kubernetes' discovery of Tasks), so every Task was refused; its spec was touched so that it is counted`,
      );
    } catch (err) {
      this.opts.log.warn({ err, quota: name }, "Could not have a ResourceQuota on Tasks counted");
    }
  }
}
