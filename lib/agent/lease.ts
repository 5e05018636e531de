/**
 * An agent's heartbeat: a coordination.k8s.io Lease named like its Agent,
 * renewed every heartbeat interval, as a kubelet renews its node's Lease
 * (KEP-589). A renewal is a small write that only the controller watches (by
 * the label below), so it wakes no Agent watcher: not the controller's Agent
 * cache, not every gateway's tool registry. The Agent owns the Lease, so the
 * garbage collector deletes it with the Agent (an agent may not delete it).
 *
 * Renewing follows client-go's node lease controller: update the Lease last
 * written, guarded by its resourceVersion, so a renewal is one request; on a
 * conflict (someone else wrote it) read it again, on NotFound (deleted, by
 * hand or by the garbage collector) create it again.
 */
import { apiVersion } from "../api/resources.ts";
import { isConflict, isNotFound } from "../kube/errors.ts";
import { type Lease, microTime } from "../kube/leases.ts";
import type { ResourceClient } from "../kube/resource-client.ts";

/** The label of an agent's Lease: the controller watches only those, not the leader election's. */
export const agentLeaseLabel = "mcp.io/agent-lease";

/** How long an agent's Lease says it holds, from its renew interval: 4×, as a node's 40 s to its 10 s. */
export const leaseDurationSeconds = (intervalMs: number): number => Math.max(1, Math.ceil((4 * intervalMs) / 1000));

/** Reads and writes of a Lease, as ResourceClient<Lease> has them (a fake in unit tests). */
export type LeaseWriter = Pick<ResourceClient<Lease>, "get" | "create" | "replace">;

export interface AgentLeaseOptions {
  leases: LeaseWriter;
  namespace: string;
  /** The Agent's name: the Lease's name and its holder. */
  name: string;
  /** The Agent's uid, for the owner reference the garbage collector follows. */
  agentUid: string;
  /** Written into spec.leaseDurationSeconds; the controller judges by its own thresholds. */
  durationSeconds: number;
  /** The agent's clock, for renewTime (which the controller compares for change only). */
  now: () => number;
  /** Each renewal's requests are aborted after this long, so a hung one cannot hold the next back forever. */
  timeoutMs?: number;
}

/** Conflicting writes in one renewal before it gives up until the next interval. */
const maxTries = 5;

export class AgentLease {
  /** The Lease as last written or read: the base of the next update. */
  private latest: Lease | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly o: AgentLeaseOptions) {}

  /**
   * Renews the Lease, creating it when it is missing. A renewal asked for
   * while one is still under way joins it instead of racing it into a
   * conflict with itself.
   */
  renew(): Promise<void> {
    this.inFlight ??= this.renewOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async renewOnce(): Promise<void> {
    const { leases, namespace, name } = this.o;
    const signal = this.o.timeoutMs === undefined ? undefined : AbortSignal.timeout(this.o.timeoutMs);
    let base = this.latest;
    for (let tries = 1; ; tries++) {
      try {
        if (!base) {
          try {
            base = await leases.get(namespace, name, signal);
          } catch (err) {
            if (!isNotFound(err)) throw err;
            this.latest = await leases.create(namespace, this.desired(undefined), { signal });
            return;
          }
        }
        this.latest = await leases.replace(this.desired(base), { signal });
        return;
      } catch (err) {
        // 409: written meanwhile (or created by a racing renewal); 404: deleted. Either way read it again.
        if (!(isConflict(err) || isNotFound(err)) || tries >= maxTries) throw err;
        base = undefined;
        this.latest = undefined;
      }
    }
  }

  /** The Lease as this agent holds it, on top of what is stored (other fields kept). */
  private desired(base: Lease | undefined): Lease {
    const { namespace, name } = this.o;
    return {
      ...base,
      metadata: {
        ...base?.metadata,
        name,
        namespace,
        labels: { ...base?.metadata.labels, [agentLeaseLabel]: "true" },
        // Only its Agent: an owner of the Agent's name left from an earlier Agent (deleted and made
        // again) would have the garbage collector delete the Lease of this one.
        ownerReferences: [{ apiVersion, kind: "Agent", name, uid: this.o.agentUid }],
      },
      spec: {
        ...base?.spec,
        holderIdentity: name,
        leaseDurationSeconds: this.o.durationSeconds,
        renewTime: microTime(this.o.now()),
      },
    };
  }
}
