// The charts installed, upgraded and uninstalled with the pinned Helm on the
// shared control plane (no node: Deployments are created, no pod runs;
// test/e2e/helm.ts runs a domain's pods). The cluster chart, then a domain
// release beside it; an upgrade applies a changed value; a second release
// cannot take over a domain another has; uninstalling the domain deletes its
// namespace with everything in it and leaves the cluster part, and
// uninstalling the cluster part deletes the admission policies but not the
// CRDs, which Helm never deletes (nor upgrades: they are in crds/).
//
// The harness installs the CRDs when it starts the control plane, so here
// Helm applies the same CRDs over them (Helm 4 applies crds/ server-side on
// install, and only then); the admission policies, which another test may
// have applied with kubectl, are deleted first and applied again at the end.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, relative } from "node:path";
import { type Helm, helmRunner } from "../../hack/helm/helm.ts";
import { clusterChartDir, domainChartDir, domainsDir, parseAll } from "../../hack/render-chart.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { isNotFound } from "../../lib/kube/errors.ts";
import type { KubeObject } from "../../lib/kube/resource-client.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";

const domainChart = relative(repoRoot, domainChartDir);
const clusterChart = relative(repoRoot, clusterChartDir);
const values = relative(repoRoot, join(domainsDir, "data-processing.yaml"));
// Helm keeps its release records (Secrets) here; the domain's own namespace is one of the release's objects.
const releases = "default";
const clusterRelease = "mcp-conductor-cluster";
const domain = `helm-${process.pid % 1000}-${Math.random().toString(36).slice(2, 6)}`;
const ns = `mcp-${domain}`;

const crds = ["agents.mcp.io", "tasks.mcp.io", "mcpservers.mcp.io"];
const policies = ["mcp-agent-own-tasks", "mcp-agent-own-agent", "mcp-agent-own-lease"];
const admission = "/apis/admissionregistration.k8s.io/v1";
const policyPaths = policies.flatMap((p) => [
  `${admission}/validatingadmissionpolicies/${p}`,
  `${admission}/validatingadmissionpolicybindings/${p}`,
]);

let cluster: TestCluster;
let helm: Helm;
let policiesBefore = false;

const get = <T = KubeObject>(path: string) => cluster.conn.request<T>("GET", path);
const exists = (path: string) =>
  get(path).then(
    () => true,
    (e) => {
      if (isNotFound(e)) return false;
      throw e;
    },
  );
/** Runs helm against the shared control plane; fails the test on an error. */
async function helmOk(args: string[]) {
  const res = await helm([...args, "--namespace", releases]);
  if (res.code !== 0) throw new Error(`helm ${args.join(" ")}: exit ${res.code}\n${res.stderr}`);
  return res;
}
const installDomain = (extra: string[] = []) =>
  helmOk(["install", domain, domainChart, "-f", values, "--set", `domain=${domain}`, ...extra]);

interface Deployment {
  spec: {
    replicas: number;
    template: { metadata: { annotations: Record<string, string> }; spec: { containers: { command: string[] }[] } };
  };
}
const deployment = (name: string) => get<Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`);

beforeAll(async () => {
  cluster = await testCluster();
  helm = helmRunner({ kubeconfig: cluster.kubeconfigPath });
  // The namespace controller empties and removes the domain's namespace when its release goes.
  await cluster.ensureControllerManager();
  policiesBefore = await exists(policyPaths[0] as string);
  const res = await cluster.kubectl([
    "delete",
    "validatingadmissionpolicy,validatingadmissionpolicybinding",
    ...policies,
    "--ignore-not-found",
  ]);
  expect(res.code).toBe(0);
  // The flow-control objects too: Helm adopts nothing another tool applied.
  const flow = await cluster.kubectl([
    "delete",
    "flowschema,prioritylevelconfiguration",
    "mcp-conductor-leases",
    "mcp-conductor-tasks",
    "--ignore-not-found",
  ]);
  expect(flow.code).toBe(0);
}, 600_000);

afterAll(async () => {
  // Whatever a failed test left, then the shared control plane as it was.
  await helm(["uninstall", domain, "--namespace", releases, "--ignore-not-found"]);
  await helm(["uninstall", clusterRelease, "--namespace", releases, "--ignore-not-found"]);
  if (policiesBefore) {
    const rendered = await cluster.kubectl(["kustomize", join(repoRoot, "kustomize", "cluster")]);
    await cluster.kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], rendered.stdout);
  }
}, 120_000);

describe("Helm on the control plane", () => {
  test("the cluster chart installs the admission policies; the CRDs, already there, keep their spec", async () => {
    for (const path of policyPaths) expect(`${path}: ${await exists(path)}`).toBe(`${path}: false`);
    type Crd = { metadata: { generation: number; managedFields: { manager: string }[] } };
    const crd = (name: string) => get<Crd>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    const crdsBefore = await Promise.all(crds.map(crd));

    await helmOk(["install", clusterRelease, clusterChart]);

    for (const path of policyPaths) {
      const o = await get(path);
      expect(o.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("Helm");
      expect(o.metadata.annotations?.["meta.helm.sh/release-name"]).toBe(clusterRelease);
    }
    const manifest = await helmOk(["get", "manifest", clusterRelease]);
    expect(parseAll(manifest.stdout).map((o) => o.kind)).not.toContain("CustomResourceDefinition");
    // Helm 4 applies crds/ server-side as it installs: the same CRDs, so their spec stays as it was
    // (same generation) and Helm now shares their fields with the harness's field manager. They are
    // not in the release's manifest, so no upgrade or uninstall of the release touches them.
    for (const [i, name] of crds.entries()) {
      const after = await crd(name);
      expect(after.metadata.generation).toBe(crdsBefore[i]?.metadata.generation as number);
      expect(after.metadata.managedFields.map((f) => f.manager)).toEqual(
        expect.arrayContaining(["mcp-conductor", "helm"]),
      );
    }
  }, 120_000);

  test("a domain release creates its namespace, restricted and labelled with the domain, and every object in it", async () => {
    const res = await installDomain();
    // The namespace warns (as it enforces) on a pod template Pod Security would refuse.
    expect(res.stderr).not.toContain("PodSecurity");
    const namespace = await get(`/api/v1/namespaces/${ns}`);
    expect(namespace.metadata.labels).toMatchObject({
      "mcp.io/domain": domain,
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/audit": "restricted",
    });
    const manifest = parseAll((await helmOk(["get", "manifest", domain])).stdout);
    expect(manifest.length).toBeGreaterThan(30);
    for (const o of manifest)
      if (o.kind !== "Namespace")
        expect(`${o.kind}/${o.metadata.name} in ${o.metadata.namespace}`).toBe(`${o.kind}/${o.metadata.name} in ${ns}`);
    // Every object of the release is on the apiserver.
    const got = await cluster.kubectl(
      ["get", "-f", "-", "-o", "name"],
      (await helmOk(["get", "manifest", domain])).stdout,
    );
    expect(got.stderr).toBe("");
    expect(got.stdout.trim().split("\n")).toHaveLength(manifest.length);
    expect((await deployment("mcp-agent")).spec.template.spec.containers[0]?.command).toEqual([
      "bun",
      "services/agents/data-processor/main.ts",
    ]);
    expect((await deployment("mcp-gateway")).spec.replicas).toBe(2);
    const binding = await get<{ subjects: { namespace: string }[] }>(
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/mcp-controller`,
    );
    expect(binding.subjects.map((s) => s.namespace)).toEqual([ns]);
  }, 120_000);

  test("an upgrade applies changed values: the gateway's replicas, the agents' settings, whose pods roll", async () => {
    const before = await deployment("mcp-agent");
    await helmOk([
      "upgrade",
      domain,
      domainChart,
      "-f",
      values,
      "--set",
      `domain=${domain},replicas.gateway=3,agent.config.AGENT_MAX_CONCURRENT_TASKS=9`,
    ]);
    expect((await deployment("mcp-gateway")).spec.replicas).toBe(3);
    const config = await get<{ data: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/mcp-agent-config`);
    expect(config.data.AGENT_MAX_CONCURRENT_TASKS).toBe("9");
    const after = await deployment("mcp-agent");
    const checksum = (d: Deployment) => d.spec.template.metadata.annotations["checksum/mcp-agent-config"];
    expect(checksum(after)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(after)).not.toBe(checksum(before));
    const status = JSON.parse((await helmOk(["status", domain, "-o", "json"])).stdout) as { version: number };
    expect(status.version).toBe(2);
  }, 120_000);

  test("a second release cannot take over a domain another release installed", async () => {
    // The first release holds the domain (the tests above); a second one under another name is refused…
    const res = await helm([
      "install",
      `${domain}-again`,
      domainChart,
      "-f",
      values,
      "--set",
      `domain=${domain}`,
      "--namespace",
      releases,
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("invalid ownership metadata");
    expect(res.stderr).toContain(
      `"meta.helm.sh/release-name" must equal "${domain}-again": current value is "${domain}"`,
    );
    // …and changes nothing of the first one's.
    expect((await deployment("mcp-gateway")).spec.replicas).toBe(3);
    expect((await helm(["status", `${domain}-again`, "--namespace", releases])).code).not.toBe(0);
  }, 120_000);

  test("uninstalling the domain deletes its namespace and what is in it; the cluster part stays", async () => {
    await cluster.mcp.agents.create(ns, { metadata: { name: "doomed" }, spec: { capabilities: ["x"] } });
    await helmOk(["uninstall", domain]);
    await eventually(async () => !(await exists(`/api/v1/namespaces/${ns}`)), {
      timeout: 90_000,
      interval: 500,
      message: `namespace ${ns} gone`,
    });
    expect(await exists(`/apis/mcp.io/v1/namespaces/${ns}/agents/doomed`)).toBe(false);
    for (const path of policyPaths) expect(`${path}: ${await exists(path)}`).toBe(`${path}: true`);
  }, 120_000);

  test("uninstalling the cluster chart deletes the admission policies; Helm keeps the CRDs", async () => {
    await helmOk(["uninstall", clusterRelease]);
    for (const path of policyPaths) expect(`${path}: ${await exists(path)}`).toBe(`${path}: false`);
    for (const c of crds) {
      const crd = await get<{ status: { conditions: { type: string; status: string }[] } }>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${c}`,
      );
      expect(crd.status.conditions.find((x) => x.type === "Established")?.status).toBe("True");
    }
  }, 120_000);
});
