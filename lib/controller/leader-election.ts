/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it
 * (client-node has no helper). A candidate takes the lease when it is free or
 * its holder has not renewed it for leaseDuration, measured on the local
 * clock from when this candidate last saw the record change, so clock skew
 * between machines does not matter. The leader renews every retryPeriod and
 * gives up leadership if it cannot renew within renewDeadline; no request to
 * the apiserver may outlast that deadline (a request that hangs, the
 * apiserver waiting on an etcd that is down, would keep a leader leading past
 * its lease). A leader that gave up campaigns again, as a standby does. All
 * writes are guarded by resourceVersion, so two candidates never both win.
 */
import type { KubeConnection } from "../kube/connection.ts";
import { isConflict, isNotFound } from "../kube/errors.ts";
import { type Lease, leaseClient, microTime } from "../kube/leases.ts";
import type { ResourceClient } from "../kube/resource-client.ts";
import { type Logger, silentLogger } from "../log.ts";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger?: Logger;
  /** Called each time this candidate becomes the leader. */
  onStartedLeading: () => void;
  /** Called when leadership is lost (not on a clean release); the candidate then campaigns again. */
  onStoppedLeading: () => void;
}

export class LeaderElector {
  private readonly leases: ResourceClient<Lease>;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private observed: { record: string; at: number } | undefined;
  private current: Lease | undefined;
  private leading = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    conn: KubeConnection,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.leases = leaseClient(conn);
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs)
      throw new Error("renewDeadline must be shorter than leaseDuration");
    this.log = (opts.logger ?? silentLogger).child({
      lease: `${opts.namespace}/${opts.name}`,
      identity: opts.identity,
    });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops campaigning; a leader releases the lease so a successor need not wait. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.leading = false;
      await this.release();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    // A leader that lost the lease (the apiserver away longer than the renew
    // deadline) is a candidate again: its process and caches stay as they are.
    while (!this.stopped) {
      // Acquire.
      while (!this.stopped && !(await this.tryAcquireOrRenew(this.renewDeadlineMs))) {
        await this.sleep(this.retryPeriodMs * (1 + Math.random() * 0.2));
      }
      if (this.stopped) return;
      this.leading = true;
      this.log.info("Became leader");
      this.opts.onStartedLeading();
      // Renew.
      let lastRenew = Date.now();
      for (;;) {
        await this.sleep(this.retryPeriodMs);
        if (this.stopped) return;
        // An attempt gets what is left of the deadline, so one that hangs cannot keep us leading past it.
        const left = lastRenew + this.renewDeadlineMs - Date.now();
        if (left > 0 && (await this.tryAcquireOrRenew(left))) {
          lastRenew = Date.now();
        } else if (Date.now() - lastRenew >= this.renewDeadlineMs) {
          this.leading = false;
          this.log.error(
            { sinceRenewMs: Date.now() - lastRenew },
            "Lost leadership: could not renew the lease in time; campaigning again",
          );
          this.opts.onStoppedLeading();
          break;
        }
      }
    }
  }

  /** One read and write of the lease; every request is aborted after timeoutMs. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const now = Date.now();
    const signal = AbortSignal.timeout(timeoutMs);
    let lease: Lease;
    try {
      lease = await this.leases.get(this.opts.namespace, this.opts.name, signal);
    } catch (err) {
      if (!isNotFound(err)) {
        this.log.warn(signal.aborted ? { timedOutAfterMs: timeoutMs } : { err }, "Could not read the lease");
        return false;
      }
      try {
        this.current = await this.leases.create(
          this.opts.namespace,
          {
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: {
              holderIdentity: this.opts.identity,
              leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
          { signal },
        );
        this.observed = { record: JSON.stringify(this.current.spec), at: now };
        return true;
      } catch (createErr) {
        this.log.debug({ err: createErr }, "Lost the race to create the lease");
        return false;
      }
    }

    const record = JSON.stringify(lease.spec);
    if (!this.observed || this.observed.record !== record) this.observed = { record, at: now };
    const holder = lease.spec.holderIdentity ?? "";
    const heldByOther = holder !== "" && holder !== this.opts.identity;
    const durationMs = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    if (heldByOther && this.observed.at + durationMs > now) return false;

    const spec: Lease["spec"] = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: holder === this.opts.identity ? lease.spec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (holder === this.opts.identity ? 0 : 1),
    };
    try {
      this.current = await this.leases.replace({ ...lease, spec }, { signal });
      this.observed = { record: JSON.stringify(this.current.spec), at: now };
      if (holder !== this.opts.identity) this.log.info({ previous: holder || "(none)" }, "Acquired the lease");
      return true;
    } catch (err) {
      if (!isConflict(err))
        this.log.warn(signal.aborted ? { timedOutAfterMs: timeoutMs } : { err }, "Could not update the lease");
      return false;
    }
  }

  private async release(): Promise<void> {
    if (!this.current) return;
    try {
      const now = Date.now();
      await this.leases.replace({
        ...this.current,
        spec: { ...this.current.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(now) },
      });
      this.log.info("Released the lease");
    } catch (err) {
      this.log.warn({ err }, "Could not release the lease");
    }
  }
}
