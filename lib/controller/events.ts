/**
 * Records Kubernetes Events about our objects (core/v1, as kubectl describe
 * shows them). Recording never blocks or fails a reconcile: events are sent
 * in the background, a few at a time, and a failure is only logged. Like
 * client-go's recorder, it sheds events rather than queue without bound when
 * the apiserver falls behind: events are for people, not for correctness.
 */
import pLimit from "p-limit";
import type { KubeConnection } from "../kube/connection.ts";
import type { KubeObject } from "../kube/resource-client.ts";
import type { Logger } from "../log.ts";

export type EventType = "Normal" | "Warning";

/** Events waiting or in flight beyond which new ones are dropped. */
const maxBacklog = 1000;

export class EventRecorder {
  private inFlight = new Set<Promise<void>>();
  private readonly limit = pLimit(4);
  /** Events dropped because the backlog was full. */
  dropped = 0;

  constructor(
    private readonly conn: KubeConnection,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    if (this.inFlight.size >= maxBacklog) {
      this.dropped++;
      return;
    }
    const ns = obj.metadata.namespace ?? "default";
    const now = new Date().toISOString();
    const name = `${obj.metadata.name}.${Date.now().toString(16)}${Math.random().toString(16).slice(2, 6)}`;
    const body = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: ns,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    const p = this.limit(() => this.conn.request("POST", `/api/v1/namespaces/${ns}/events`, { body }))
      .then(() => undefined)
      .catch((err: Error) => this.log.warn({ err, reason, object: obj.metadata.name }, "Could not record event"))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Waits for events already recorded to be sent. */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
