// The in-memory apiserver the runtime's unit tests use behaves as the real one
// does where they depend on it: preconditions, selectors, and what a watch
// with a field selector sees as objects enter and leave it.
import { describe, expect, test } from "bun:test";
import { type Task, taskType } from "../api/resources.ts";
import { KubeApiError, KubeConnectionError } from "./errors.ts";
import { FakeApiServer } from "./fake-apiserver.ts";
import { ResourceClient, type WatchEvent } from "./resource-client.ts";

const setup = () => {
  const api = new FakeApiServer();
  return { api, tasks: new ResourceClient<Task>(api.connection(), taskType) };
};
const task = (name: string, agent?: string): Task => ({
  metadata: { name },
  spec: { requiredCapabilities: ["x"] },
  ...(agent ? { status: { phase: "Assigned", assignedAgent: agent } } : {}),
});
const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    if (err instanceof KubeApiError) return err.statusCode;
    throw err;
  }
  return 200;
};

describe("the fake apiserver", () => {
  test("create, get, conflicting and fresh writes, the status subresource, merge patches, delete", async () => {
    const { tasks } = setup();
    const made = await tasks.create("ns", task("a"));
    expect(structuredClone(made.metadata)).toMatchObject({ name: "a", namespace: "ns", resourceVersion: "1" });
    expect(made.metadata.uid).toBeString();
    expect(await code(tasks.create("ns", task("a")))).toBe(409);
    expect(await code(tasks.get("ns", "b"))).toBe(404);
    const ran = await tasks.replaceStatus({ ...made, status: { phase: "Running" } });
    expect(ran.status?.phase).toBe("Running");
    // the old version is refused; the spec is not changed through status
    expect(await code(tasks.replaceStatus({ ...made, status: { phase: "Failed" } }))).toBe(409);
    const specThroughStatus = await tasks.replaceStatus({ ...ran, spec: { requiredCapabilities: ["y"] } });
    expect(specThroughStatus.spec.requiredCapabilities).toEqual(["x"]);
    // a replace keeps the status; a merge patch removes what is null
    const replaced = await tasks.replace({
      ...specThroughStatus,
      metadata: { ...specThroughStatus.metadata, labels: { l: "1" } },
      status: {},
    });
    expect(replaced.status?.phase).toBe("Running");
    const patched = await tasks.patch("ns", "a", { metadata: { labels: { l: null, m: "2" } } }, "merge");
    expect(patched.metadata.labels).toEqual({ m: "2" });
    await tasks.delete("ns", "a");
    expect(await code(tasks.get("ns", "a"))).toBe(404);
    expect(await code(tasks.delete("ns", "a"))).toBe(404);
  });

  test("lists by field and label selectors, in a namespace", async () => {
    const { api, tasks } = setup();
    api.put(tasks.path("ns"), task("a", "x"));
    api.put(tasks.path("ns"), { ...task("b", "y"), metadata: { name: "b", labels: { k: "v" } } });
    api.put(tasks.path("other"), task("c", "x"));
    const names = async (opts: { fieldSelector?: string; labelSelector?: string }) =>
      (await tasks.list("ns", opts)).items.map((t) => t.metadata.name);
    expect(await names({})).toEqual(["a", "b"]);
    expect(await names({ fieldSelector: "status.assignedAgent=x" })).toEqual(["a"]);
    expect(await names({ fieldSelector: "status.assignedAgent!=x" })).toEqual(["b"]);
    expect(await names({ fieldSelector: "metadata.name=b,status.assignedAgent=y" })).toEqual(["b"]);
    expect(await names({ labelSelector: "k=v" })).toEqual(["b"]);
    expect(await names({ labelSelector: "k=w" })).toEqual([]);
  });

  test("a watch sees an object enter (ADDED), change (MODIFIED) and leave (DELETED) its selection, from its resourceVersion on", async () => {
    const { api, tasks } = setup();
    api.put(tasks.path("ns"), task("a", "x"));
    const from = (await tasks.list("ns")).metadata.resourceVersion;
    // made after the list, before the watch: replayed
    api.put(tasks.path("ns"), task("b", "x"));
    const abort = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const ev of tasks.watch("ns", {
        fieldSelector: "status.assignedAgent=x",
        resourceVersion: from,
        signal: abort.signal,
      }))
        seen.push(
          `${(ev as WatchEvent<Task>).type} ${ev.object.metadata.name} ${ev.object.status?.assignedAgent ?? ""}`,
        );
    })();
    await Bun.sleep(5);
    api.put(tasks.path("ns"), { ...task("a", "x"), metadata: { name: "a", labels: { n: "1" } } });
    api.put(tasks.path("ns"), task("a", "y"));
    api.put(tasks.path("ns"), task("z", "y"));
    api.remove(tasks.path("ns", "b"));
    await Bun.sleep(5);
    abort.abort();
    await done;
    expect(seen).toEqual(["ADDED b x", "MODIFIED a x", "DELETED a y", "DELETED b x"]);
    expect(api.watchCount).toBe(0);
  });

  test("faults stand in for the answer once: a Status the connection turns into KubeApiError, or a dropped connection", async () => {
    const { api, tasks } = setup();
    api.failNext((r) => r.method === "POST", { code: 422, reason: "Invalid", message: "spec: bad" });
    api.failNext((r) => r.method === "POST", "disconnect");
    const err = await tasks.create("ns", task("a")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).reason).toBe("Invalid");
    expect(await tasks.create("ns", task("a")).catch((e: unknown) => e)).toBeInstanceOf(KubeConnectionError);
    expect((await tasks.create("ns", task("a"))).metadata.name).toBe("a");
    expect(api.writes("/tasks")).toEqual([
      "POST /apis/mcp.io/v1/namespaces/ns/tasks",
      "POST /apis/mcp.io/v1/namespaces/ns/tasks",
      "POST /apis/mcp.io/v1/namespaces/ns/tasks",
    ]);
  });
});
