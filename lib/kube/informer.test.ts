// Unit tests of the informer's recovery logic against a scripted fake client:
// 410 Gone relists and reports the difference, other errors back off and
// re-watch from the last resourceVersion.
import { describe, expect, test } from "bun:test";
import { KubeApiError } from "./errors.ts";
import { Informer } from "./informer.ts";
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
