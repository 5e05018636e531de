// Unit tests of the informer's recovery logic against a scripted fake client:
// 410 Gone relists and reports the difference, other errors back off and
// re-watch from the last resourceVersion.
import { describe, expect, jest, test } from "bun:test";
import pino from "pino";
import { KubeApiError } from "./errors.ts";
import { Informer, objectKey } from "./informer.ts";
import type { KubeObject, ObjectList, ResourceClient, WatchEvent, WatchOptions } from "./resource-client.ts";

const obj = (name: string, rv: string): KubeObject => ({ metadata: { name, namespace: "ns", resourceVersion: rv } });

type Step = { events?: WatchEvent<KubeObject>[]; error?: unknown; hang?: boolean };

/** A ResourceClient stand-in: lists come from `lists`, each watch call plays the next step. */
function fakeClient(lists: KubeObject[][], steps: Step[]) {
  const calls: string[] = [];
  let listCall = 0;
  const client = {
    type: { group: "mcp.io", version: "v1", plural: "tasks", kind: "Task", namespaced: true },
    async listAll(): Promise<ObjectList<KubeObject>> {
      const items = lists[Math.min(listCall, lists.length - 1)] ?? [];
      calls.push(`list#${++listCall}`);
      return { metadata: { resourceVersion: `L${listCall}` }, items };
    },
    async *watch(_ns: string | undefined, opts: WatchOptions): AsyncGenerator<WatchEvent<KubeObject>> {
      calls.push(`watch@${opts.resourceVersion}`);
      const step = steps.shift() ?? { hang: true };
      for (const ev of step.events ?? []) yield ev;
      if (step.error) throw step.error;
      if (step.hang) await new Promise<void>((resolve) => opts.signal?.addEventListener("abort", () => resolve()));
    },
  };
  return { client: client as unknown as ResourceClient<KubeObject>, calls };
}

const gone = new KubeApiError(410, { code: 410, reason: "Expired", message: "too old resource version" }, "GET", "/x");

describe("Informer recovery", () => {
  test("on 410 Gone it relists and reports only what changed", async () => {
    const { client, calls } = fakeClient(
      [
        [obj("a", "1"), obj("b", "1"), obj("c", "1")],
        [obj("a", "1"), obj("b", "7"), obj("d", "8")],
      ],
      [{ error: gone }],
    );
    const seen: string[] = [];
    const inf = new Informer(client, { sleep: async () => {} }).on({
      add: (o) => seen.push(`add ${o.metadata.name}`),
      update: (o, old) =>
        seen.push(`update ${o.metadata.name} ${old.metadata.resourceVersion}->${o.metadata.resourceVersion}`),
      delete: (o) => seen.push(`delete ${o.metadata.name}`),
    });
    await inf.start();
    await Bun.sleep(20);
    await inf.stop();
    expect(seen).toEqual(["add a", "add b", "add c", "update b 1->7", "add d", "delete c"]);
    expect(calls.slice(0, 4)).toEqual(["list#1", "watch@L1", "list#2", "watch@L2"]);
    expect(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(["a", "b", "d"]);
  });

  test("on other errors it backs off and watches again from the last resourceVersion it saw", async () => {
    const sleeps: number[] = [];
    const { client, calls } = fakeClient(
      [[obj("a", "1")]],
      [
        { events: [{ type: "MODIFIED", object: obj("a", "5") }], error: new Error("ECONNRESET") },
        { error: new Error("ECONNREFUSED") },
        { events: [{ type: "BOOKMARK", object: obj("", "9") }], error: new Error("ECONNRESET") },
      ],
    );
    const inf = new Informer(client, {
      initialBackoffMs: 100,
      maxBackoffMs: 300,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    await inf.start();
    await Bun.sleep(20);
    await inf.stop();
    expect(calls).toEqual(["list#1", "watch@L1", "watch@5", "watch@5", "watch@9"]);
    expect(inf.stats.errors).toBe(3);
    // jittered exponential backoff: [b/2, b) for b = 100, 200, 300 (capped)
    expect(sleeps).toHaveLength(3);
    [100, 200, 300].forEach((b, i) => {
      expect(sleeps[i]).toBeGreaterThanOrEqual(b / 2);
      expect(sleeps[i]).toBeLessThan(b);
    });
  });

  test("a throwing handler does not stop the others", async () => {
    const { client } = fakeClient([[obj("a", "1")]], []);
    const seen: string[] = [];
    const inf = new Informer(client)
      .on({
        add: () => {
          throw new Error("bug");
        },
      })
      .on({ add: (o) => seen.push(o.metadata.name ?? "") });
    await inf.start();
    await inf.stop();
    expect(seen).toEqual(["a"]);
  });
});

/** A logger whose lines a test reads. */
function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

describe("Informer cache and events", () => {
  test("objects are keyed namespace/name, or by name when cluster-scoped", () => {
    expect(objectKey(obj("a", "1"))).toBe("ns/a");
    expect(objectKey({ metadata: { name: "node-1" } })).toBe("node-1");
    expect(objectKey({ metadata: {} })).toBe("");
  });

  test("watch events: new objects are added, known ones updated, deleted ones removed; a bookmark only moves on", async () => {
    const { client, calls } = fakeClient(
      [[obj("a", "1")]],
      [
        {
          events: [
            { type: "ADDED", object: obj("b", "2") },
            { type: "MODIFIED", object: obj("a", "3") },
            { type: "BOOKMARK", object: { metadata: { resourceVersion: "4" } } },
            { type: "MODIFIED", object: obj("c", "5") },
            { type: "DELETED", object: obj("b", "6") },
          ],
          error: new Error("ECONNRESET"),
        },
      ],
    );
    const seen: string[] = [];
    const inf = new Informer(client, { sleep: async () => {} })
      .on({ add: (o) => seen.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`) })
      .on({
        update: (o, old) =>
          seen.push(`update ${o.metadata.name} ${old.metadata.resourceVersion}->${o.metadata.resourceVersion}`),
      })
      .on({ delete: (o) => seen.push(`delete ${o.metadata.name}@${o.metadata.resourceVersion}`) });
    expect(inf.hasSynced).toBe(false);
    await inf.start();
    expect(inf.hasSynced).toBe(true);
    await Bun.sleep(20);
    await inf.stop();
    expect(seen).toEqual(["add a@1", "add b@2", "update a 1->3", "add c@5", "delete b@6"]);
    // the watch resumes from the last event's resourceVersion, whatever its type
    expect(calls.slice(0, 3)).toEqual(["list#1", "watch@L1", "watch@6"]);
    expect(inf.size).toBe(2);
    expect(inf.get("ns", "a")?.metadata.resourceVersion).toBe("3");
    expect(inf.getByKey("ns/c")?.metadata.resourceVersion).toBe("5");
    expect(inf.get("ns", "b")).toBeUndefined();
    expect(inf.get(undefined, "ns/a")?.metadata.name).toBe("a");
  });

  test("list and watch ask for the namespace, the selectors, bookmarks and a watch timeout", async () => {
    const asked: { op: string; ns?: string; opts: Record<string, unknown> }[] = [];
    const client = {
      type: { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true },
      async listAll(ns: string | undefined, opts: Record<string, unknown>) {
        asked.push({ op: "list", ns, opts });
        return { metadata: { resourceVersion: "1" }, items: [] };
      },
      async *watch(ns: string | undefined, opts: WatchOptions) {
        asked.push({ op: "watch", ns, opts: { ...opts } });
        await new Promise<void>((resolve) => opts.signal?.addEventListener("abort", () => resolve()));
      },
    } as unknown as ResourceClient<KubeObject>;
    const selectors = { labelSelector: "app=x", fieldSelector: "status.phase=Running" };
    const fixed = new Informer(client, { namespace: "team", ...selectors, watchTimeoutSeconds: 17 });
    await fixed.start();
    await Bun.sleep(5);
    await fixed.stop();
    expect(asked[0]).toEqual({ op: "list", ns: "team", opts: selectors });
    expect(asked[1]).toMatchObject({
      op: "watch",
      ns: "team",
      opts: { ...selectors, resourceVersion: "1", allowWatchBookmarks: true, timeoutSeconds: 17 },
    });
    expect((asked[1]?.opts.signal as AbortSignal | undefined)?.aborted).toBe(true); // stop ends the watch
    // without one, a watch times out after 4 to 6 minutes (spread, so informers do not renew together)
    asked.length = 0;
    const spread = new Informer(client);
    await spread.start();
    await Bun.sleep(5);
    await spread.stop();
    const t = asked[1]?.opts.timeoutSeconds as number;
    expect(t).toBeGreaterThanOrEqual(240);
    expect(t).toBeLessThan(360);
  });

  test("start lists once however often it is called; waitForSync after the first list is immediate", async () => {
    const { client, calls } = fakeClient([[obj("a", "1")]], []);
    const inf = new Informer(client);
    await Promise.all([inf.start(), inf.start()]);
    await inf.start();
    await inf.waitForSync();
    expect(calls.filter((c) => c.startsWith("list"))).toEqual(["list#1"]);
    expect(inf.stats).toMatchObject({ lists: 1, watches: 1, errors: 0 });
    await inf.stop();
    expect(inf.list().map((o) => o.metadata.name)).toEqual(["a"]);
  });

  test("the backoff is jittered between half and all of it, capped at 5 s unless told otherwise", async () => {
    const sleeps: number[] = [];
    const { client } = fakeClient(
      [[obj("a", "1")]],
      Array.from({ length: 12 }, () => ({ error: new Error("ECONNREFUSED") })),
    );
    const inf = new Informer(client, {
      initialBackoffMs: 4_000,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    await inf.start();
    await Bun.sleep(20);
    await inf.stop();
    expect(sleeps.length).toBeGreaterThanOrEqual(12);
    expect(sleeps[0]).toBeGreaterThanOrEqual(2_000);
    expect(sleeps[0]).toBeLessThan(4_000);
    for (const ms of sleeps.slice(1)) {
      expect(ms).toBeGreaterThanOrEqual(2_500);
      expect(ms).toBeLessThan(5_000);
    }
    // spread, not fixed: 11 draws from [2.5 s, 5 s) do not all land in its first millisecond
    expect(Math.max(...sleeps.slice(1))).toBeGreaterThan(2_501);
  });

  test("stop during the default sleep leaves no timer behind", async () => {
    jest.useFakeTimers();
    try {
      const { client } = fakeClient([[obj("a", "1")]], [{ error: new Error("ECONNRESET") }]);
      const inf = new Informer(client, { initialBackoffMs: 60_000 });
      await inf.start();
      for (let i = 0; i < 50; i++) await Promise.resolve();
      expect(jest.getTimerCount()).toBe(1); // the backoff's
      await inf.stop();
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  test("the default sleep waits out the backoff, and stop ends it at once", async () => {
    const { client, calls } = fakeClient([[obj("a", "1")]], [{ error: new Error("ECONNRESET") }]);
    const inf = new Informer(client, { initialBackoffMs: 60_000 });
    await inf.start();
    await Bun.sleep(50);
    // one failed watch, then sleeping 30-60 s: no second watch yet
    expect(calls).toEqual(["list#1", "watch@L1"]);
    const started = performance.now();
    await inf.stop();
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  test("what goes wrong is logged with the informer's resource and namespace", async () => {
    const { log, lines } = capturedLog();
    const { client } = fakeClient(
      [[obj("a", "1")], [obj("a", "1")]],
      [{ error: gone }, { error: new Error("ECONNRESET") }],
    );
    const inf = new Informer(client, { namespace: "ns", logger: log, initialBackoffMs: 10, sleep: async () => {} }).on({
      add: () => {
        throw new Error("a handler's bug");
      },
    });
    await inf.start();
    await Bun.sleep(20);
    await inf.stop();
    const said = (msg: string) => lines.find((l) => l.msg === msg);
    expect(said("Watch expired; relisting")).toMatchObject({ level: 30, informer: "tasks", namespace: "ns" });
    expect((said("Watch expired; relisting")?.err as { message?: string })?.message).toContain("too old");
    const failed = said("Watch failed; retrying");
    expect(failed).toMatchObject({ level: 40, informer: "tasks" });
    expect(failed?.retryInMs).toBeGreaterThanOrEqual(5);
    expect((failed?.err as { message?: string })?.message).toBe("ECONNRESET");
    expect(said("Informer handler threw")).toMatchObject({ level: 50, key: "ns/a", event: "add" });
  });
});

describe("Informer edges", () => {
  /** Lets pending promise callbacks run (no timers: some tests fake them). */
  const settle = async () => {
    for (let i = 0; i < 50; i++) await Promise.resolve();
  };

  test("start resolves only once the first list is in the cache", async () => {
    const { client } = fakeClient([[obj("a", "1")]], []);
    const slow = Object.assign(Object.create(client), {
      listAll: async (...args: unknown[]) => {
        await Bun.sleep(50);
        return (client.listAll as (...a: unknown[]) => Promise<unknown>)(...args);
      },
    }) as ResourceClient<KubeObject>;
    const inf = new Informer(slow);
    await inf.start();
    expect(inf.size).toBe(1);
    await inf.stop();
  });

  test("handlers with only some of add, update and delete are fine: nothing is said of the others", async () => {
    const { log, lines } = capturedLog();
    const { client } = fakeClient(
      [[obj("a", "1")]],
      [
        {
          events: [
            { type: "MODIFIED", object: obj("a", "2") },
            { type: "DELETED", object: obj("a", "3") },
          ],
        },
      ],
    );
    const adds: string[] = [];
    const updates: string[] = [];
    const inf = new Informer(client, { logger: log })
      .on({ add: (o) => adds.push(o.metadata.name ?? "") })
      .on({ update: (o) => updates.push(o.metadata.resourceVersion ?? "") });
    await inf.start();
    await Bun.sleep(20);
    await inf.stop();
    expect(adds).toEqual(["a"]);
    expect(updates).toEqual(["2"]);
    expect(lines.filter((l) => l.msg === "Informer handler threw")).toEqual([]);
  });

  test("a watch that stop ends is no error: nothing counted, nothing logged", async () => {
    const { log, lines } = capturedLog();
    const client = {
      type: { group: "mcp.io", version: "v1", plural: "tasks", kind: "Task", namespaced: true },
      listAll: async () => ({ metadata: { resourceVersion: "1" }, items: [] }),
      async *watch(_ns: string | undefined, opts: WatchOptions) {
        // as fetch does: an aborted request rejects
        await new Promise<void>((_, reject) =>
          opts.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
        );
      },
    } as unknown as ResourceClient<KubeObject>;
    const inf = new Informer(client, { logger: log, sleep: async () => {} });
    await inf.start();
    await Bun.sleep(5);
    await inf.stop();
    expect(inf.stats.errors).toBe(0);
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
  });

  test("without a watch timeout, each informer picks its own within [240, 360) s", async () => {
    const timeouts: number[] = [];
    const client = {
      type: { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true },
      listAll: async () => ({ metadata: { resourceVersion: "1" }, items: [] }),
      async *watch(_ns: string | undefined, opts: WatchOptions) {
        timeouts.push(opts.timeoutSeconds ?? -1);
        await new Promise<void>((resolve) => opts.signal?.addEventListener("abort", () => resolve()));
      },
    } as unknown as ResourceClient<KubeObject>;
    for (let i = 0; i < 6; i++) {
      const inf = new Informer(client);
      await inf.start();
      await Bun.sleep(2);
      await inf.stop();
    }
    expect(timeouts).toHaveLength(6);
    for (const t of timeouts) {
      expect(t).toBeGreaterThanOrEqual(240);
      expect(t).toBeLessThan(360);
    }
    expect(Math.max(...timeouts)).toBeGreaterThan(240); // spread: six draws are not all the first second
  });

  test("a watch the server keeps silent past its timeout (+30 s) is abandoned and watched again, as no error", async () => {
    jest.useFakeTimers();
    try {
      const watches: string[] = [];
      const client = {
        type: { group: "mcp.io", version: "v1", plural: "tasks", kind: "Task", namespaced: true },
        listAll: async () => ({ metadata: { resourceVersion: "7" }, items: [] }),
        async *watch(_ns: string | undefined, opts: WatchOptions) {
          watches.push(`watch@${opts.resourceVersion}`);
          // a connection that died without a FIN: nothing comes, until the request is aborted
          await new Promise<void>((_, reject) =>
            opts.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
          );
        },
      } as unknown as ResourceClient<KubeObject>;
      const inf = new Informer(client, { watchTimeoutSeconds: 17, sleep: async () => {} });
      await inf.start();
      await settle();
      jest.advanceTimersByTime(46_000);
      await settle();
      expect(watches).toEqual(["watch@7"]); // still within 17 + 30 s
      jest.advanceTimersByTime(1_500);
      await settle();
      expect(watches).toEqual(["watch@7", "watch@7"]);
      expect(inf.stats.errors).toBe(0);
      // the abandoned watch's watchdog is gone; only the live one's is left
      expect(jest.getTimerCount()).toBe(1);
      const stopping = inf.stop();
      await settle();
      await stopping;
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe("Informer cache", () => {
  const withFields = (name: string, rv: string): KubeObject => ({
    metadata: { ...obj(name, rv).metadata, managedFields: [{ manager: "test", operation: "Update" }] },
  });

  test("drops managedFields from listed and watched objects unless asked to keep them", async () => {
    for (const keep of [false, true]) {
      const { client } = fakeClient(
        [[withFields("a", "1")]],
        [{ events: [{ type: "ADDED", object: withFields("b", "2") }], hang: true }],
      );
      const handed: KubeObject[] = [];
      const inf = new Informer(client, { sleep: async () => {}, keepManagedFields: keep }).on({
        add: (o) => handed.push(o),
      });
      await inf.start();
      await Bun.sleep(10);
      await inf.stop();
      expect(handed.map((o) => o.metadata.name)).toEqual(["a", "b"]);
      const cached = [inf.get("ns", "a"), inf.get("ns", "b")];
      for (const o of [...handed, ...cached]) expect(o?.metadata.managedFields === undefined).toBe(!keep);
    }
  });
});
