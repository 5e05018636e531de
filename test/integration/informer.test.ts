// The informer keeps its cache right across a kube-apiserver kill -9 and
// restart: changes made meanwhile (through a second apiserver on the same
// etcd, as in an HA control plane) reach its handlers once it reconnects.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await testCluster();
}, 120_000);

function recordingInformer(ns: string, conn = cluster.conn) {
  const seen: string[] = [];
  const informer = new Informer<Task>(mcpClients(conn).tasks, {
    namespace: ns,
    initialBackoffMs: 50,
    maxBackoffMs: 500,
  }).on({
    add: (t) => seen.push(`add ${t.metadata.name}`),
    // A Task's spec is fixed once created: updates change a label.
    update: (t) => seen.push(`update ${t.metadata.name} ${t.metadata.labels?.mark}`),
    delete: (t) => seen.push(`delete ${t.metadata.name}`),
  });
  return { informer, seen };
}

const newTask = (name: string): Task => ({
  metadata: { name },
  spec: { requiredCapabilities: ["x"] },
});

describe("Informer", () => {
  const stopInformers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const stop of stopInformers) await stop();
  });

  test("lists, then reports adds, updates and deletes", async () => {
    const ns = await cluster.newNamespace("informer");
    await cluster.mcp.tasks.create(ns, newTask("before"));
    const { informer, seen } = recordingInformer(ns);
    stopInformers.push(() => informer.stop());
    await informer.start();
    expect(informer.hasSynced).toBe(true);
    expect(seen).toEqual(["add before"]);

    await cluster.mcp.tasks.create(ns, newTask("after"));
    await cluster.mcp.tasks.patch(ns, "before", { metadata: { labels: { mark: "seen" } } }, "merge");
    await cluster.mcp.tasks.delete(ns, "after");
    await eventually(() => seen.length === 4, { message: "four events" });
    expect(seen).toEqual(["add before", "add after", "update before seen", "delete after"]);
    expect(informer.list().map((t) => t.metadata.name)).toEqual(["before"]);
    expect(informer.get(ns, "before")?.metadata.labels?.mark).toBe("seen");
  });

  test("caches objects without managedFields, and writes from them leave the apiserver's", async () => {
    const ns = await cluster.newNamespace("informer-lean");
    await cluster.mcp.tasks.create(ns, newTask("lean"), { fieldManager: "creator" });
    const { informer } = recordingInformer(ns);
    stopInformers.push(() => informer.stop());
    await informer.start();
    const cached = informer.get(ns, "lean") as Task;
    expect(cached.metadata.managedFields).toBeUndefined();
    // The apiserver has them: the cache dropped them.
    const live = await cluster.mcp.tasks.get(ns, "lean");
    expect(live.metadata.managedFields?.length).toBe(1);

    // A status PUT and an object PUT from the stripped copy: the creator's entry stays, the writers' join it.
    const statusWritten = await cluster.mcp.tasks.replaceStatus(
      { ...cached, status: { phase: "Pending" } },
      { fieldManager: "status-writer" },
    );
    await cluster.mcp.tasks.replace(
      { ...statusWritten, metadata: { ...statusWritten.metadata, managedFields: undefined, labels: { mark: "x" } } },
      { fieldManager: "label-writer" },
    );
    const after = await cluster.mcp.tasks.get(ns, "lean");
    const managers = (after.metadata.managedFields as { manager: string }[]).map((f) => f.manager).sort();
    expect(managers).toEqual(["creator", "label-writer", "status-writer"]);
  });

  test("survives a kube-apiserver kill -9 and restart, and sees what changed meanwhile", async () => {
    const ns = await cluster.newNamespace("informer-restart");
    await cluster.mcp.tasks.create(ns, newTask("kept"));
    await cluster.mcp.tasks.create(ns, newTask("changed"));
    await cluster.mcp.tasks.create(ns, newTask("removed"));
    const { informer, seen } = recordingInformer(ns);
    stopInformers.push(() => informer.stop());
    await informer.start();
    expect(seen.sort()).toEqual(["add changed", "add kept", "add removed"]);
    seen.length = 0;
    const errorsBefore = informer.stats.errors;

    // A second apiserver on the same etcd carries the writes while the first is down.
    const second = await cluster.cp.startAdditionalApiServer();
    try {
      const viaSecond = mcpClients(
        KubeConnection.fromOptions({
          kubeconfigYaml: cluster.cp.kubeconfig().replace(cluster.cp.server, second.server),
        }),
      ).tasks;
      await cluster.cp.stopApiServer("SIGKILL");
      await eventually(() => informer.stats.errors > errorsBefore, {
        message: "the informer noticed the apiserver was gone",
      });

      await viaSecond.patch(ns, "changed", { metadata: { labels: { mark: "offline" } } }, "merge");
      await viaSecond.delete(ns, "removed");
      await viaSecond.create(ns, newTask("added"));
      await Bun.sleep(300); // the informer keeps retrying against the dead apiserver
      expect(seen).toEqual([]);
    } finally {
      await cluster.cp.startApiServer();
      await second.stop();
    }

    await eventually(() => seen.length === 3, { timeout: 15_000, message: "three events after the restart" });
    expect(seen.sort()).toEqual(["add added", "delete removed", "update changed offline"]);
    expect(
      informer
        .list()
        .map((t) => t.metadata.name)
        .sort(),
    ).toEqual(["added", "changed", "kept"]);

    // and it keeps watching after recovering
    await cluster.mcp.tasks.create(ns, newTask("later"));
    await eventually(() => seen.includes("add later"), { message: "a watch event after recovery" });
  }, 60_000);
});
