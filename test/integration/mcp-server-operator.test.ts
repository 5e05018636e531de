// The MCPServer operator on the real control plane with kube-controller-manager:
// Deployments make ReplicaSets and Pods, a stand-in kubelet makes the Pods
// Ready, the garbage collector follows owner references, and the MCP
// handshake is a real one with the reference server on loopback (only the
// in-cluster DNS name is mapped to it). For the images a real kubelet would
// not start, the test writes the pod status the kubelet would write.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { MCPServer } from "../../lib/api/resources.ts";
import { isNotFound } from "../../lib/kube/errors.ts";
import type { KubeObject } from "../../lib/kube/resource-client.ts";
import { probeMcpServer } from "../../services/controller/mcp-probe.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { startConductor, type TestConductor } from "../harness/conductor.ts";
import { eventually } from "../harness/eventually.ts";
import { type EverythingServer, startEverythingServer } from "../harness/everything-server.ts";
import { type FakeKubelet, type FakeKubeletPod, startFakeKubelet } from "../harness/fake-kubelet.ts";

let cluster: TestCluster;
let ns: string;
let conductor: TestConductor;
let everything: EverythingServer;
let kubelet: FakeKubelet;

// biome-ignore lint/suspicious/noExplicitAny: Deployments and Services are read as plain JSON
type Json = any;

const get = (path: string) => cluster.conn.request<Json>("GET", path);
const deployment = (name: string) => get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
const service = (name: string) => get(`/api/v1/namespaces/${ns}/services/${name}`);
const gone = async (p: Promise<unknown>) =>
  p.then(
    () => false,
    (e) => isNotFound(e),
  );
const condition = (s: MCPServer | undefined, type: string) => s?.status?.conditions?.find((c) => c.type === type);
const server = (name: string) => cluster.mcp.mcpServers.get(ns, name);

/**
 * The pods a real kubelet would not start, left to the test: images that do
 * not exist or crash, and one that runs as root unless the pod or its
 * container names a user (node:22-alpine without runAsUser would be one).
 */
const cannotStart = (pod: FakeKubeletPod) => {
  const c = pod.spec.containers[0];
  if (c?.image === "example/not-present:1" || c?.image === "example/crashes:1") return true;
  return c?.image === "example/runs-as-root:1" && !pod.spec.securityContext?.runAsUser && !c.securityContext?.runAsUser;
};

/**
 * Writes what the kubelet reports for the pod of server `name` whose server
 * container waits, through the status subresource as admin (retried on a
 * conflict with kube-controller-manager's own writes).
 */
async function kubeletReports(name: string, container: (pod: Json) => Json): Promise<Json> {
  return eventually(
    async () => {
      const pods = await cluster.conn.request<Json>("GET", `/api/v1/namespaces/${ns}/pods`, {
        query: { labelSelector: `mcp.io/mcp-server=${name}` },
      });
      const pod = pods.items.find((p: Json) => !p.metadata.deletionTimestamp);
      if (!pod) return undefined;
      const image = pod.spec.containers[0].image;
      await cluster.conn.request("PUT", `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/status`, {
        body: {
          ...pod,
          status: {
            phase: "Pending",
            conditions: [{ type: "Ready", status: "False", reason: "ContainersNotReady" }],
            containerStatuses: [
              { name: "server", image, imageID: "", ready: false, started: false, restartCount: 0, ...container(pod) },
            ],
          },
        },
      });
      return pod;
    },
    { message: `the kubelet's report on a pod of ${name}` },
  );
}

const warningEvent = (object: string, reason: string) =>
  eventually(
    async () => {
      const list = await get(`/api/v1/namespaces/${ns}/events`);
      return list.items.find(
        (e: Json) => e.involvedObject?.name === object && e.reason === reason && e.type === "Warning",
      );
    },
    { message: `a Warning Event ${reason} for ${object}` },
  );

beforeAll(async () => {
  cluster = await testCluster();
  await cluster.ensureControllerManager();
  ns = await cluster.newNamespace("mcpserver");
  everything = await startEverythingServer();
  kubelet = await startFakeKubelet(cluster.conn, ns, { leave: cannotStart });
  // The in-cluster name of every managed server resolves to the reference server.
  const prober = (url: string, headers: Record<string, string>, timeoutMs: number) =>
    probeMcpServer(
      url.replace(/^http:\/\/[^/]+\.svc:\d+/, `http://127.0.0.1:${everything.port}`),
      headers,
      timeoutMs,
    ).then((r) => ({ ...r, url }));
  conductor = await startConductor(
    cluster,
    ns,
    { mcpServers: { bridgeImage: "example/conductor:test", probeIntervalSeconds: 1, probeTimeoutSeconds: 3 } },
    { mcpProber: prober },
  );
}, 120_000);

afterAll(async () => {
  await kubelet?.stop();
  await conductor?.stop();
  await everything?.stop();
});

describe("MCPServer operator", () => {
  test("a managed server becomes a Deployment and a Service with the right fields, then Ready", async () => {
    const started = performance.now();
    await cluster.mcp.mcpServers.create(ns, {
      metadata: { name: "files" },
      spec: {
        image: "example/files-mcp:1",
        port: 9000,
        replicas: 1,
        args: ["--root", "/data"],
        env: [
          { name: "MODE", value: "read-only" },
          { name: "TOKEN", valueFrom: { secretKeyRef: { name: "files-token", key: "token" } } },
        ],
        resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "128Mi" } },
      },
    });
    const d = await eventually(() => deployment("files"), { interval: 20, message: "the Deployment" });
    const svc = await eventually(() => service("files"), { interval: 20, message: "the Service" });
    console.log(`MCPServer → Deployment and Service: ${Math.round(performance.now() - started)} ms`);
    const owner = await server("files");
    expect(d.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "MCPServer", name: "files", uid: owner.metadata.uid, controller: true }),
    ]);
    expect(svc.metadata.ownerReferences[0].uid).toBe(owner.metadata.uid);
    expect(d.metadata.labels).toMatchObject({
      "mcp.io/mcp-server": "files",
      "app.kubernetes.io/managed-by": "mcp-conductor",
    });
    const c = d.spec.template.spec.containers[0];
    expect(c).toMatchObject({
      image: "example/files-mcp:1",
      args: ["--root", "/data"],
      ports: [{ name: "mcp", containerPort: 9000, protocol: "TCP" }],
      resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "128Mi" } },
      securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
      readinessProbe: { tcpSocket: { port: "mcp" } },
      livenessProbe: { tcpSocket: { port: "mcp" } },
    });
    expect(c.env).toEqual([
      { name: "MODE", value: "read-only" },
      { name: "TOKEN", valueFrom: { secretKeyRef: { name: "files-token", key: "token" } } },
    ]);
    expect(svc.spec.ports).toEqual([{ name: "mcp", port: 9000, targetPort: "mcp", protocol: "TCP" }]);
    expect(svc.spec.selector).toEqual({ "mcp.io/mcp-server": "files" });

    // The kubelet stand-in makes the pod Ready; status follows the Deployment, then the handshake.
    const ready = await eventually(
      async () => {
        const s = await server("files");
        return s.status?.phase === "Ready" && s;
      },
      { timeout: 30_000, message: "the MCPServer Ready" },
    );
    expect(ready.status).toMatchObject({
      replicas: 1,
      readyReplicas: 1,
      url: `http://files.${ns}.svc:9000/mcp`,
      observedGeneration: ready.metadata.generation,
    });
    expect(condition(ready, "Available")).toMatchObject({
      status: "True",
      observedGeneration: ready.metadata.generation,
    });
    expect(condition(ready, "Progressing")).toMatchObject({ status: "False", reason: "RolloutComplete" });
    expect(condition(ready, "Reachable")).toMatchObject({ status: "True", reason: "HandshakeSucceeded" });
    expect(condition(ready, "Reachable")?.message).toContain("everything");
  }, 60_000);

  test("a spec change rolls out, and status tracks the new generation", async () => {
    // A merge patch, as a user's kubectl edit does: the controller's status writes move the resourceVersion.
    await cluster.mcp.mcpServers.patch(ns, "files", { spec: { image: "example/files-mcp:2", replicas: 2 } }, "merge");
    const d = await eventually(
      async () => {
        const d = await deployment("files");
        return d.spec.template.spec.containers[0].image === "example/files-mcp:2" && d.spec.replicas === 2 && d;
      },
      { message: "the new image and replicas in the Deployment" },
    );
    expect(d.spec.replicas).toBe(2);
    const after = await eventually(
      async () => {
        const s = await server("files");
        return s.status?.observedGeneration === s.metadata.generation && s.status?.readyReplicas === 2 && s;
      },
      { timeout: 30_000, message: "status at the new generation with 2 ready" },
    );
    expect(after.status?.phase).toBe("Ready");
  }, 60_000);

  test("drift is put back: a hand-edited Deployment and a deleted Service", async () => {
    await cluster.conn.request("PATCH", `/apis/apps/v1/namespaces/${ns}/deployments/files`, {
      body: { spec: { replicas: 5, template: { spec: { containers: [{ name: "server", image: "evil/image:1" }] } } } },
      contentType: "application/strategic-merge-patch+json",
      query: { fieldManager: "someone-with-kubectl" },
    });
    await cluster.conn.request("DELETE", `/api/v1/namespaces/${ns}/services/files`);
    const d = await eventually(
      async () => {
        const d = await deployment("files");
        return d.spec.replicas === 2 && d.spec.template.spec.containers[0].image === "example/files-mcp:2" && d;
      },
      { message: "the Deployment back to the MCPServer's spec" },
    );
    expect(d.spec.replicas).toBe(2);
    const svc = await eventually(() => service("files"), { message: "the Service back" });
    expect(svc.spec.ports[0].port).toBe(9000);
  }, 30_000);

  test("a stdio server runs behind the bridge from the conductor image", async () => {
    await cluster.mcp.mcpServers.create(ns, {
      metadata: { name: "stdio-srv" },
      spec: { image: "example/stdio-mcp:1", transport: "stdio", command: ["node", "server.js"], args: ["--verbose"] },
    });
    const d = await eventually(() => deployment("stdio-srv"), { message: "the stdio Deployment" });
    const spec = d.spec.template.spec;
    expect(spec.initContainers[0]).toMatchObject({
      image: "example/conductor:test",
      command: ["cp", "/app/bin/mcp-stdio-bridge", "/mcp-bridge/mcp-stdio-bridge"],
    });
    expect(spec.containers[0].command).toEqual([
      "/mcp-bridge/mcp-stdio-bridge",
      "--port",
      "8080",
      "--path",
      "/mcp",
      "--",
      "node",
      "server.js",
      "--verbose",
    ]);
  }, 30_000);

  test("an image that would run as root is reported in the kubelet's words; runAsUser fixes it", async () => {
    await cluster.mcp.mcpServers.create(ns, {
      metadata: { name: "as-root" },
      spec: { image: "example/runs-as-root:1", port: 9100 },
    });
    // The pod exists and nothing is ready; so far nothing says why.
    const pod = await kubeletReports("as-root", (p) => ({
      state: {
        waiting: {
          reason: "CreateContainerConfigError",
          message: `container has runAsNonRoot and image will run as root (pod: "${p.metadata.name}_${ns}(${p.metadata.uid})", container: server)`,
        },
      },
    }));
    const failed = await eventually(
      async () => {
        const s = await server("as-root");
        return condition(s, "Available")?.reason === "ContainerCannotStart" && s;
      },
      { timeout: 20_000, message: "Available=False ContainerCannotStart on the MCPServer" },
    );
    expect(failed.status?.phase).toBe("Failed");
    expect(condition(failed, "Available")).toMatchObject({
      status: "False",
      observedGeneration: failed.metadata.generation,
    });
    expect(condition(failed, "Available")?.message).toContain(
      `pod ${pod.metadata.name}, container server: CreateContainerConfigError: container has runAsNonRoot and image will run as root`,
    );
    const event = await warningEvent("as-root", "ContainerCannotStart");
    expect(event.message).toContain("container has runAsNonRoot and image will run as root");

    // The image's own user, named in the spec: the new pod starts, the old one goes, the server is Ready.
    // A merge patch: the controller writes the status beside it, so a replace from a read can conflict.
    await cluster.mcp.mcpServers.patch(
      ns,
      "as-root",
      {
        spec: {
          securityContext: { runAsUser: 1000, runAsGroup: 1000 },
          containerSecurityContext: { readOnlyRootFilesystem: true },
          imagePullSecrets: [{ name: "registry" }],
        },
      },
      "merge",
    );
    const ready = await eventually(
      async () => {
        const s = await server("as-root");
        return s.status?.phase === "Ready" && s.status.observedGeneration === s.metadata.generation && s;
      },
      { timeout: 30_000, message: "the fixed server Ready" },
    );
    expect(condition(ready, "Available")).toMatchObject({ status: "True", reason: "MinimumReplicasReady" });
    const spec = (await deployment("as-root")).spec.template.spec;
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(spec.containers[0].securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(spec.imagePullSecrets).toEqual([{ name: "registry" }]);
    await cluster.mcp.mcpServers.delete(ns, "as-root");
  }, 60_000);

  test("an image that cannot be pulled and a container that crash-loops are reported the same way", async () => {
    const cases = [
      {
        name: "not-present",
        image: "example/not-present:1",
        reason: "ImagePullFailed",
        container: {
          state: {
            waiting: {
              reason: "ErrImageNeverPull",
              message: 'Container image "example/not-present:1" is not present with pull policy of Never',
            },
          },
        },
        says: 'ErrImageNeverPull: Container image "example/not-present:1" is not present with pull policy of Never',
      },
      {
        name: "crashes",
        image: "example/crashes:1",
        reason: "CrashLoopBackOff",
        container: {
          restartCount: 3,
          state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container" } },
          lastState: {
            terminated: {
              exitCode: 1,
              reason: "Error",
              message: "listen EACCES: permission denied 0.0.0.0:80",
              startedAt: new Date().toISOString(),
              finishedAt: new Date().toISOString(),
            },
          },
        },
        says: "CrashLoopBackOff: the container keeps exiting, last with exit code 1 (Error): listen EACCES: permission denied 0.0.0.0:80",
      },
    ];
    for (const c of cases) {
      await cluster.mcp.mcpServers.create(ns, { metadata: { name: c.name }, spec: { image: c.image } });
      await kubeletReports(c.name, () => c.container);
    }
    for (const c of cases) {
      const s = await eventually(
        async () => {
          const s = await server(c.name);
          return condition(s, "Available")?.reason === c.reason && s;
        },
        { timeout: 20_000, message: `Available=False ${c.reason} on ${c.name}` },
      );
      expect(s.status?.phase).toBe("Failed");
      expect(condition(s, "Available")?.message).toContain(`container server: ${c.says}`);
      expect((await warningEvent(c.name, c.reason)).message).toContain(c.says);
      await cluster.mcp.mcpServers.delete(ns, c.name);
    }
  }, 60_000);

  test("deleting the MCPServer deletes its Deployment and Service", async () => {
    await cluster.mcp.mcpServers.delete(ns, "files");
    await eventually(async () => (await gone(deployment("files"))) && (await gone(service("files"))), {
      timeout: 30_000,
      message: "the garbage collector removing the Deployment and Service",
    });
    expect(await gone(deployment("files"))).toBe(true);
  }, 40_000);

  test("a remote server gets no workload; it is Ready when it answers MCP", async () => {
    await cluster.mcp.mcpServers.create(ns, {
      metadata: { name: "ref" },
      spec: { url: everything.url.toString(), headers: { "X-Team": "platform" } },
    });
    const s = await eventually(
      async () => {
        const s = await server("ref");
        return s.status?.phase === "Ready" && s;
      },
      { message: "the remote server Ready" },
    );
    expect(s.status?.url).toBe(everything.url.toString());
    expect(s.status?.replicas).toBeUndefined();
    expect(condition(s, "Reachable")).toMatchObject({ status: "True" });
    expect(await gone(deployment("ref"))).toBe(true);
  }, 30_000);

  test("a workload the apiserver refuses is reported on the MCPServer, with a Warning Event", async () => {
    // no more Services in this namespace
    await cluster.conn.request("POST", `/api/v1/namespaces/${ns}/resourcequotas`, {
      body: {
        apiVersion: "v1",
        kind: "ResourceQuota",
        metadata: { name: "no-services" },
        spec: { hard: { services: "0" } },
      },
    });
    await cluster.mcp.mcpServers.create(ns, { metadata: { name: "blocked" }, spec: { image: "example/mcp:1" } });
    const s = await eventually(
      async () => {
        const s = await server("blocked");
        return condition(s, "Progressing")?.reason === "ApplyFailed" && s;
      },
      { timeout: 20_000, message: "ApplyFailed on the MCPServer" },
    );
    expect(condition(s, "Progressing")).toMatchObject({ status: "False" });
    expect(condition(s, "Progressing")?.message).toContain("exceeded quota");
    const events = await eventually(async () => {
      const list = await get(`/api/v1/namespaces/${ns}/events`);
      return list.items.find((e: Json) => e.involvedObject?.name === "blocked" && e.reason === "ApplyFailed");
    });
    expect(events.type).toBe("Warning");
    await cluster.conn.request("DELETE", `/api/v1/namespaces/${ns}/resourcequotas/no-services`);
  }, 30_000);

  test("a remote server that does not answer is Failed, says why, and gets a Warning Event", async () => {
    await cluster.mcp.mcpServers.create(ns, { metadata: { name: "nowhere" }, spec: { url: "http://127.0.0.1:9/mcp" } });
    const s = await eventually(
      async () => {
        const s = await server("nowhere");
        return s.status?.phase === "Failed" && s;
      },
      { message: "the unreachable server Failed" },
    );
    expect(condition(s, "Reachable")).toMatchObject({ status: "False", reason: "HandshakeFailed" });
    expect(condition(s, "Reachable")?.message ?? "").not.toBe("");
    const events = await eventually(async () => {
      const list = await get(`/api/v1/namespaces/${ns}/events`);
      const mine = list.items.filter(
        (e: KubeObject & Json) => e.involvedObject?.name === "nowhere" && e.type === "Warning",
      );
      return mine.length > 0 && mine;
    });
    expect(events[0].reason).toBe("Failed");
  }, 30_000);
});
