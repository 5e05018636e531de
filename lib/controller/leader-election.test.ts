// Unit tests of leader election against an in-memory Lease behind a fake
// connection that can refuse (the apiserver killed) or hang (the apiserver
// waiting on an etcd that is down): a leader gives up within the renew
// deadline either way, and campaigns again rather than ending.
import { describe, expect, test } from "bun:test";
import { eventually } from "../../test/harness/eventually.ts";
import type { KubeConnection, RequestOptions } from "../kube/connection.ts";
import { KubeApiError, KubeConnectionError } from "../kube/errors.ts";
import type { KubeObject } from "../kube/resource-client.ts";
import { LeaderElector } from "./leader-election.ts";

type Mode = "up" | "refuse" | "hang";

/** One Lease, optimistic locking included, behind a connection whose mode a test switches. */
function fakeApiserver() {
  let lease: KubeObject | undefined;
  let rv = 0;
  const state = { mode: "up" as Mode, requests: 0 };
  const stored = (obj: KubeObject) => {
    lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
    return structuredClone(lease);
  };
  const conn = {
    async request(method: string, path: string, init: RequestOptions = {}): Promise<unknown> {
      state.requests++;
      if (state.mode === "refuse") throw new KubeConnectionError(method, path, new Error("ECONNREFUSED"));
      if (state.mode === "hang")
        return new Promise((_, reject) =>
          init.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true }),
        );
      const body = init.body as KubeObject;
      if (method === "GET") {
        if (!lease) throw new KubeApiError(404, { code: 404, reason: "NotFound" }, method, path);
        return structuredClone(lease);
      }
      if (method === "POST") {
        if (lease) throw new KubeApiError(409, { code: 409, reason: "AlreadyExists" }, method, path);
        return stored(body);
      }
      if (body.metadata.resourceVersion !== lease?.metadata.resourceVersion)
        throw new KubeApiError(409, { code: 409, reason: "Conflict" }, method, path);
      return stored(body);
    },
  };
  return { conn: conn as unknown as KubeConnection, state };
}

function elector(conn: KubeConnection, seen: string[]) {
  return new LeaderElector(conn, {
    namespace: "ns",
    name: "lease",
    identity: "me",
    leaseDurationMs: 1_000,
    renewDeadlineMs: 400,
    retryPeriodMs: 50,
    onStartedLeading: () => seen.push("started"),
    onStoppedLeading: () => seen.push("stopped"),
  });
}

describe("LeaderElector", () => {
  test("a leader whose lease requests hang gives up within the renew deadline", async () => {
    const { conn, state } = fakeApiserver();
    const seen: string[] = [];
    const le = elector(conn, seen);
    le.start();
    await eventually(() => le.isLeader, { timeout: 2_000 });
    state.mode = "hang";
    const hungAt = Date.now();
    // Without a deadline on each request the renew never returns, and this leader leads on forever.
    await eventually(() => seen.includes("stopped"), { timeout: 2_000, message: "leadership given up" });
    expect(Date.now() - hungAt).toBeLessThan(400 + 50 + 1_000); // the renew deadline and a retry, with room for a slow machine
    expect(le.isLeader).toBe(false);
    state.mode = "up";
    await le.stop();
  });

  test("a leader that lost its lease to an outage campaigns again and leads once the apiserver is back", async () => {
    const { conn, state } = fakeApiserver();
    const seen: string[] = [];
    const le = elector(conn, seen);
    le.start();
    await eventually(() => le.isLeader, { timeout: 2_000 });
    state.mode = "refuse";
    await eventually(() => seen.includes("stopped"), { timeout: 2_000, message: "leadership given up" });
    expect(le.isLeader).toBe(false);
    const during = state.requests;
    await Bun.sleep(200);
    expect(state.requests).toBeGreaterThan(during); // still campaigning while the apiserver is away
    state.mode = "up";
    await eventually(() => le.isLeader, { timeout: 2_000, message: "leading again" });
    expect(seen).toEqual(["started", "stopped", "started"]);
    await le.stop();
  });
});
