// The Kubernetes client under Bun carries the kubeconfig's identity: client
// certificates and bearer tokens (kubeconfig and in-cluster), for our typed
// clients and for client-node's generated API classes alike (client-node-api.ts).
// The negative cases prove the CA and certificate are really used, not skipped.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthenticationV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { mcpClients } from "../../lib/api/resources.ts";
import { LocalPki } from "../../lib/control-plane/pki.ts";
import { makeApiClient } from "../../lib/kube/client-node-api.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { KubeApiError, KubeConnectionError } from "../../lib/kube/errors.ts";
import { loadKubeconfig } from "../../lib/kube/kubeconfig.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";

let cluster: TestCluster;
let ns: string;

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("identity");
  // A role that lets its subjects read tasks in this namespace, and nothing else.
  await cluster.conn.request("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
    body: {
      metadata: { name: "task-reader" },
      rules: [{ apiGroups: ["mcp.io"], resources: ["tasks"], verbs: ["get", "list", "watch"] }],
    },
  });
  await cluster.conn.request("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
    body: {
      metadata: { name: "task-reader" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "task-reader" },
      subjects: [
        { kind: "User", name: "alice", apiGroup: "rbac.authorization.k8s.io" },
        { kind: "ServiceAccount", name: "robot", namespace: ns },
      ],
    },
  });
  await cluster.mcp.tasks.create(ns, { metadata: { name: "visible" }, spec: { requiredCapabilities: ["x"] } });
  await cluster.conn.request("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, {
    body: { metadata: { name: "robot" } },
  });
}, 120_000);

async function whoAmI(conn: KubeConnection): Promise<string | undefined> {
  // SelfSubjectReview through client-node's generated API, over our HTTP adapter.
  const api = makeApiClient(conn, AuthenticationV1Api);
  const review = await api.createSelfSubjectReview({
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  return review.status?.userInfo?.username;
}

async function serviceAccountToken(name: string): Promise<string> {
  const res = await cluster.conn.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`,
    { body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 600 } } },
  );
  return res.status.token;
}

describe("client certificate identity under Bun", () => {
  test("authenticates as the certificate's subject, for typed and generated clients", async () => {
    const conn = KubeConnection.fromOptions({
      kubeconfigYaml: cluster.cp.kubeconfig({ cert: cluster.cp.pki.clientCert("alice", ["developers"]) }),
    });
    expect(await whoAmI(conn)).toBe("alice");
    const tasks = await mcpClients(conn).tasks.list(ns);
    expect(tasks.items.map((t) => t.metadata.name)).toEqual(["visible"]);
    // RBAC applies to this identity: alice may not list namespaces.
    const core = makeApiClient(conn, CoreV1Api);
    const denied = await core.listNamespace().then(
      () => undefined,
      (e: unknown) => e as { code?: number },
    );
    expect(denied?.code).toBe(403);
  });

  test("admin certificate in system:masters can do everything", async () => {
    const core = makeApiClient(cluster.conn, CoreV1Api);
    const list = await core.listNamespace();
    expect(list.items.some((n) => n.metadata?.name === ns)).toBe(true);
  });

  test("a certificate from another CA is refused with 401", async () => {
    const otherPki = LocalPki.create(mkdtempSync(join(tmpdir(), "other-ca-")));
    const yaml = cluster.cp.kubeconfig({ cert: otherPki.clientCert("mallory", ["system:masters"]) });
    const err = await mcpClients(KubeConnection.fromOptions({ kubeconfigYaml: yaml }))
      .tasks.list(ns)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).statusCode).toBe(401);
  });

  test("a kubeconfig whose CA did not sign the server's certificate fails TLS verification", async () => {
    const otherPki = LocalPki.create(mkdtempSync(join(tmpdir(), "other-ca-")));
    const kc = new KubeConfig();
    kc.loadFromString(cluster.cp.kubeconfig());
    const cluster0 = kc.getCurrentCluster();
    if (!cluster0) throw new Error("no cluster");
    kc.loadFromOptions({
      clusters: [{ ...cluster0, caData: Buffer.from(otherPki.ca.cert).toString("base64") }],
      users: kc.getUsers(),
      contexts: kc.getContexts(),
      currentContext: kc.getCurrentContext(),
    });
    // A client-node KubeConfig is still taken (its data only).
    const err = await mcpClients(KubeConnection.fromOptions({ kubeConfig: kc }))
      .tasks.list(ns)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(KubeConnectionError);
    expect(String((err as Error).message)).toMatch(/certificate|self.signed|verify/i);
  });
});

describe("bearer token identity under Bun", () => {
  test("a service-account token in a kubeconfig", async () => {
    const token = await serviceAccountToken("robot");
    const conn = KubeConnection.fromOptions({ kubeconfigYaml: cluster.cp.kubeconfig({ token }) });
    expect(await whoAmI(conn)).toBe(`system:serviceaccount:${ns}:robot`);
    expect((await mcpClients(conn).tasks.list(ns)).items).toHaveLength(1);
  });

  test("the in-cluster configuration: mounted token, CA and namespace", async () => {
    const token = await serviceAccountToken("robot");
    const root = mkdtempSync(join(tmpdir(), "pod-"));
    const mount = join(root, "var", "run", "secrets", "kubernetes.io", "serviceaccount");
    mkdirSync(mount, { recursive: true });
    writeFileSync(join(mount, "token"), token);
    writeFileSync(join(mount, "ca.crt"), cluster.cp.pki.ca.cert);
    writeFileSync(join(mount, "namespace"), ns);
    // No $KUBECONFIG and no ~/.kube/config in this environment: the pod's service account.
    const env = { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(cluster.cp.apiserverPort) };
    const conn = new KubeConnection(loadKubeconfig({ env, home: root, serviceAccountDir: mount }));
    expect(conn.kubeconfig.namespace).toBe(ns);
    expect(await whoAmI(conn)).toBe(`system:serviceaccount:${ns}:robot`);
    const list = await mcpClients(conn).tasks.list(ns);
    expect(list.items.map((t) => t.metadata.name)).toEqual(["visible"]);
    // and RBAC holds for it: the robot may read tasks but not write them
    const err = await mcpClients(conn)
      .tasks.create(ns, { metadata: { name: "nope" }, spec: { requiredCapabilities: ["x"] } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((err as KubeApiError).statusCode).toBe(403);
  });

  test("an invalid token is refused with 401", async () => {
    const conn = KubeConnection.fromOptions({ kubeconfigYaml: cluster.cp.kubeconfig({ token: "abc.def.ghi" }) });
    const err = await mcpClients(conn)
      .tasks.list(ns)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((err as KubeApiError).statusCode).toBe(401);
  });
});
