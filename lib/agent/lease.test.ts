import { describe, expect, test } from "bun:test";
import { KubeApiError, KubeConnectionError } from "../kube/errors.ts";
import { type Lease, microTime } from "../kube/leases.ts";
import { AgentLease, agentLeaseLabel, type LeaseWriter, leaseDurationSeconds } from "./lease.ts";

const T0 = Date.parse("2026-01-01T00:00:00.123Z");

const apiError = (code: number, reason: string) =>
  new KubeApiError(code, { reason, message: reason }, "X", "/leases/a");

/** One Lease in memory, written as the apiserver does: resourceVersion preconditions, 404, AlreadyExists. */
class FakeLeases implements LeaseWriter {
  stored: Lease | undefined;
  private rv = 0;
  readonly calls: string[] = [];
  /** Errors the next requests of a kind get, in order, before reaching the store. */
  private readonly failures: { call: string; err: Error }[] = [];

  failNext(call: "get" | "create" | "update", err: Error): void {
    this.failures.push({ call, err });
  }

  private take(call: string): void {
    this.calls.push(call);
    if (this.failures[0]?.call === call) throw this.failures.shift()?.err;
  }

  private store(obj: Lease): Lease {
    this.stored = structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } });
    return structuredClone(this.stored);
  }

  async get(_ns: string | undefined, _name: string): Promise<Lease> {
    this.take("get");
    if (!this.stored) throw apiError(404, "NotFound");
    return structuredClone(this.stored);
  }

  async create(_ns: string | undefined, obj: Lease): Promise<Lease> {
    this.take("create");
    if (this.stored) throw apiError(409, "AlreadyExists");
    return this.store(obj);
  }

  async replace(obj: Lease): Promise<Lease> {
    this.take("update");
    if (!this.stored) throw apiError(404, "NotFound");
    if (obj.metadata.resourceVersion !== this.stored.metadata.resourceVersion) throw apiError(409, "Conflict");
    return this.store(obj);
  }

  remove(): void {
    this.stored = undefined;
  }

  /** A write by someone else: the agent's copy goes stale. */
  overwrite(change: (l: Lease) => Lease): void {
    this.store(change(structuredClone(this.stored as Lease)));
  }
}

function setUp() {
  const leases = new FakeLeases();
  let now = T0;
  const lease = new AgentLease({
    leases,
    namespace: "ns",
    name: "agent-a",
    agentUid: "uid-a",
    durationSeconds: 40,
    now: () => now,
  });
  return { leases, lease, tick: (ms: number) => (now += ms) };
}

describe("AgentLease", () => {
  test("the first renewal creates the Lease: held by the agent, owned by its Agent, labelled for the controller", async () => {
    const { leases, lease } = setUp();
    await lease.renew();
    expect(leases.calls).toEqual(["get", "create"]);
    expect(leases.stored).toEqual({
      metadata: {
        name: "agent-a",
        namespace: "ns",
        resourceVersion: "1",
        labels: { [agentLeaseLabel]: "true" },
        ownerReferences: [{ apiVersion: "mcp.io/v1", kind: "Agent", name: "agent-a", uid: "uid-a" }],
      },
      spec: { holderIdentity: "agent-a", leaseDurationSeconds: 40, renewTime: "2026-01-01T00:00:00.123000Z" },
    });
  });

  test("each later renewal is one update on the Lease last written, with the agent's time", async () => {
    const { leases, lease, tick } = setUp();
    await lease.renew();
    tick(10_000);
    await lease.renew();
    tick(10_000);
    await lease.renew();
    expect(leases.calls).toEqual(["get", "create", "update", "update"]);
    expect(leases.stored?.metadata.resourceVersion).toBe("3");
    expect(leases.stored?.spec.renewTime).toBe("2026-01-01T00:00:20.123000Z");
  });

  test("a Lease that is there already (a restarted agent) is read and updated, taken over for this Agent", async () => {
    const { leases, lease } = setUp();
    leases.overwrite(() => ({
      metadata: {
        name: "agent-a",
        namespace: "ns",
        annotations: { kept: "yes" },
        ownerReferences: [{ apiVersion: "mcp.io/v1", kind: "Agent", name: "agent-a", uid: "uid-before" }],
      },
      spec: { holderIdentity: "agent-a", renewTime: "2025-01-01T00:00:00.000000Z" },
    }));
    await lease.renew();
    expect(leases.calls).toEqual(["get", "update"]);
    expect(leases.stored?.metadata).toMatchObject({
      annotations: { kept: "yes" },
      labels: { [agentLeaseLabel]: "true" },
      ownerReferences: [{ uid: "uid-a" }],
    });
    expect(leases.stored?.metadata.ownerReferences).toHaveLength(1);
    expect(leases.stored?.spec.renewTime).toBe("2026-01-01T00:00:00.123000Z");
  });

  test("written by someone else meanwhile (409): read again and renewed on top", async () => {
    const { leases, lease, tick } = setUp();
    await lease.renew();
    leases.overwrite((l) => ({ ...l, spec: { ...l.spec, holderIdentity: "someone-else" } }));
    tick(10_000);
    await lease.renew();
    expect(leases.calls).toEqual(["get", "create", "update", "get", "update"]);
    expect(leases.stored?.spec).toMatchObject({
      holderIdentity: "agent-a",
      renewTime: "2026-01-01T00:00:10.123000Z",
    });
  });

  test("deleted meanwhile (404, by hand or by the garbage collector): made again", async () => {
    const { leases, lease } = setUp();
    await lease.renew();
    leases.remove();
    await lease.renew();
    expect(leases.calls).toEqual(["get", "create", "update", "get", "create"]);
    expect(leases.stored?.spec.holderIdentity).toBe("agent-a");
  });

  test("made by a racing writer between the read and the create (AlreadyExists): read and updated", async () => {
    const { leases, lease } = setUp();
    leases.failNext("get", apiError(404, "NotFound"));
    leases.failNext("create", apiError(409, "AlreadyExists"));
    leases.overwrite(() => ({ metadata: { name: "agent-a", namespace: "ns" }, spec: {} }));
    await lease.renew();
    expect(leases.calls).toEqual(["get", "create", "get", "update"]);
    expect(leases.stored?.spec.holderIdentity).toBe("agent-a");
  });

  test("gives up after five conflicts in one renewal; the next renewal reads afresh", async () => {
    const { leases, lease } = setUp();
    await lease.renew();
    for (let i = 0; i < 5; i++) leases.failNext("update", apiError(409, "Conflict"));
    const err = await lease.renew().catch((e: unknown) => e);
    expect((err as KubeApiError).statusCode).toBe(409);
    expect(leases.calls.slice(2)).toEqual([
      "update",
      "get",
      "update",
      "get",
      "update",
      "get",
      "update",
      "get",
      "update",
    ]);
    leases.calls.length = 0;
    await lease.renew();
    expect(leases.calls).toEqual(["get", "update"]);
  });

  test("other errors end the renewal at once (the runtime logs them and renews at the next interval)", async () => {
    const { leases, lease } = setUp();
    await lease.renew();
    leases.failNext("update", new KubeConnectionError("PUT", "/leases/a", new Error("ECONNREFUSED")));
    await expect(lease.renew()).rejects.toBeInstanceOf(KubeConnectionError);
    leases.failNext("update", apiError(403, "Forbidden"));
    await expect(lease.renew()).rejects.toMatchObject({ statusCode: 403 });
    expect(leases.calls).toEqual(["get", "create", "update", "update"]);
    // The Lease last written is still the base: the next renewal is one update.
    await lease.renew();
    expect(leases.calls.at(-1)).toBe("update");
    expect(leases.calls).toHaveLength(5);
  });

  test("a renewal asked for while one is under way joins it instead of racing it", async () => {
    const { leases, lease } = setUp();
    await Promise.all([lease.renew(), lease.renew()]);
    expect(leases.calls).toEqual(["get", "create"]);
    await lease.renew();
    expect(leases.calls).toEqual(["get", "create", "update"]);
  });
});

describe("lease times", () => {
  test.each([
    { name: "milliseconds padded to microseconds", ms: T0, want: "2026-01-01T00:00:00.123000Z" },
    { name: "a whole second", ms: Date.parse("2026-03-04T05:06:07Z"), want: "2026-03-04T05:06:07.000000Z" },
  ])("microTime: $name", ({ ms, want }) => {
    expect(microTime(ms)).toBe(want);
  });

  test.each([
    { intervalMs: 10_000, want: 40 },
    { intervalMs: 500, want: 2 },
    { intervalMs: 100, want: 1 },
    { intervalMs: 0, want: 1 },
  ])("a renew interval of $intervalMs ms holds the lease $want s", ({ intervalMs, want }) => {
    expect(leaseDurationSeconds(intervalMs)).toBe(want);
  });
});
