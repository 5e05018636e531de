// The install units on the local control plane, rendered with the pinned
// kubectl: the cluster-wide unit (kustomize/cluster: the CRDs and the
// admission policies, cluster-scoped) and the per-domain overlays (only their
// namespace's objects). They pass a server-side dry run and apply for real
// (server-side) without Pod Security warnings, which the namespaces would
// give; the namespaces enforce Pod Security "restricted"; two domains stay
// independent side by side; and deleting a domain deletes that domain only.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import {
  authorizerDir,
  clusterDir,
  distDir,
  kustomizeDir,
  overlaysDir,
  renderAuthorizer,
  renderCluster,
  renderOverlay,
} from "../../hack/render-dist.ts";
import { kustomizeBinary, repoRoot } from "../../lib/control-plane/binaries.ts";
import { parseManifests } from "../../lib/kube/apply.ts";
import { isNotFound, type KubeApiError } from "../../lib/kube/errors.ts";
import type { KubeObject } from "../../lib/kube/resource-client.ts";
import { conductorImage } from "../../lib/version.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await testCluster();
}, 120_000);

const overlays = ["data-processing", "infrastructure", "content"] as const;
const render = async (dir: string) => {
  const res = await cluster.kubectl(["kustomize", dir]);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return res.stdout;
};
const overlay = (domain: string) => join(overlaysDir, domain);
/** Applies a rendered unit server-side; the namespaces warn on any pod template Pod Security would refuse. */
const apply = async (dir: string) => {
  const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], await render(dir));
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return res;
};

/** The kinds the apiserver serves cluster-scoped, as it says itself. */
async function clusterScopedKinds(): Promise<Set<string>> {
  const res = await cluster.kubectl(["api-resources", "--namespaced=false", "--no-headers"]);
  expect(res.code).toBe(0);
  return new Set(res.stdout.split("\n").flatMap((l) => l.trim().split(/\s+/).slice(-1).filter(Boolean)));
}

const get = <T = KubeObject>(path: string) => cluster.conn.request<T>("GET", path);
const exists = (path: string) =>
  get(path).then(
    () => true,
    (e) => {
      if (isNotFound(e)) return false;
      throw e;
    },
  );
const crds = ["agents.mcp.io", "tasks.mcp.io", "mcpservers.mcp.io", "plans.mcp.io"];
const policies = ["mcp-agent-own-tasks", "mcp-agent-own-agent", "mcp-agent-own-lease"];
const flowControl = ["mcp-conductor-leases", "mcp-conductor-tasks"];
const admission = "/apis/admissionregistration.k8s.io/v1";

interface Deployment {
  metadata: { name: string; namespace: string };
  spec: { replicas: number; template: { spec: { containers: { command: string[] }[] } } };
}

describe("install units", () => {
  test("the cluster-wide unit holds the CRDs, the admission policies and the flow control, all cluster-scoped, no namespace", async () => {
    const objects = parseManifests(await render(clusterDir));
    const scoped = await clusterScopedKinds();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        ...crds.map((n) => `CustomResourceDefinition/${n}`),
        ...policies.map((n) => `ValidatingAdmissionPolicy/${n}`),
        ...policies.map((n) => `ValidatingAdmissionPolicyBinding/${n}`),
        ...flowControl.map((n) => `FlowSchema/${n}`),
        ...flowControl.map((n) => `PriorityLevelConfiguration/${n}`),
      ].sort(),
    );
    for (const o of objects) {
      expect(scoped.has(o.kind as string)).toBe(true);
      expect(o.metadata.namespace).toBeUndefined();
    }
    // The bindings cover every domain by its label, not one namespace by name.
    for (const b of objects.filter((o) => o.kind === "ValidatingAdmissionPolicyBinding")) {
      expect((b as KubeObject & { spec: unknown }).spec).toMatchObject({
        matchResources: {
          namespaceSelector: { matchExpressions: [{ key: "mcp.io/domain", operator: "Exists" }] },
        },
      });
    }
  });

  test("the authorizer's unit holds its namespace, not a domain's, and the authorizer in it, as restricted as the domains' pods", async () => {
    const objects = parseManifests(await render(authorizerDir));
    const scoped = await clusterScopedKinds();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "Deployment/mcp-authorizer",
      "Namespace/mcp-conductor-system",
      "PodDisruptionBudget/mcp-authorizer",
      "Service/mcp-authorizer",
      "ServiceAccount/mcp-authorizer",
    ]);
    for (const o of objects.filter((o) => o.kind !== "Namespace")) {
      expect(scoped.has(o.kind as string)).toBe(false);
      expect(o.metadata.namespace).toBe("mcp-conductor-system");
    }
    const namespace = objects.find((o) => o.kind === "Namespace");
    expect(namespace?.metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "restricted" });
    expect(namespace?.metadata.labels).not.toHaveProperty("mcp.io/domain");

    type PodTemplate = {
      spec: {
        automountServiceAccountToken: boolean;
        securityContext: unknown;
        containers: { image: string; command: string[]; securityContext: unknown }[];
        volumes: unknown[];
      };
    };
    const deployment = objects.find((o) => o.kind === "Deployment") as unknown as {
      spec: { template: PodTemplate };
    };
    const pod = deployment.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(pod.containers[0]?.image).toBe(conductorImage);
    expect(pod.containers[0]?.command.slice(0, 2)).toEqual(["bun", "services/authorizer/main.ts"]);
    expect(pod.containers[0]?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.volumes).toEqual([{ name: "tls", secret: { secretName: "mcp-authorizer-tls" } }]);

    // The apiserver's kubeconfig for the webhook names the Service's fixed address and port.
    const service = objects.find((o) => o.kind === "Service") as unknown as {
      spec: { clusterIP: string; ports: { name: string; port: number }[] };
    };
    const kubeconfig = parseYaml(
      readFileSync(join(repoRoot, "deploy", "authorization", "authorizer-kubeconfig.yaml"), "utf8"),
    ) as { clusters: { cluster: { server: string } }[] };
    const https = service.spec.ports.find((p) => p.name === "https");
    expect(kubeconfig.clusters[0]?.cluster.server).toBe(`https://${service.spec.clusterIP}:${https?.port}/authorize`);
  });

  test.each(overlays)("the %s overlay holds only its namespace and that namespace's objects", async (domain) => {
    const objects = parseManifests(await render(overlay(domain)));
    const scoped = await clusterScopedKinds();
    const clusterWide = objects.filter((o) => scoped.has(o.kind as string));
    expect(clusterWide.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([`Namespace/mcp-${domain}`]);
    for (const o of objects.filter((o) => o.kind !== "Namespace")) {
      expect(`${o.kind}/${o.metadata.name} in ${o.metadata.namespace}`).toBe(
        `${o.kind}/${o.metadata.name} in mcp-${domain}`,
      );
    }
  });

  // The design's command, with kustomize itself (pinned, built from its Go module) and with kubectl's.
  test.each(
    overlays.flatMap((domain) => [
      [domain, "kustomize build"],
      [domain, "kubectl kustomize"],
    ]),
  )("`%s` from kustomize/ with %s renders what kubectl kustomize renders from the root", async (domain, tool) => {
    const cmd =
      tool === "kustomize build"
        ? [kustomizeBinary(), "build", `overlays/${domain}`]
        : [cluster.cp.binaries.kubectl, "kustomize", `overlays/${domain}`];
    const proc = Bun.spawn(cmd, {
      cwd: kustomizeDir,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out).toBe(await render(overlay(domain)));
  });
});

describe("kustomize overlays", () => {
  test.each(overlays)("%s renders and passes a server-side dry run", async (domain) => {
    await apply(clusterDir);
    const yaml = await render(overlay(domain));
    expect(yaml).toContain(`namespace: mcp-${domain}`);
    // A dry run creates nothing, so the namespace its objects go into must exist first.
    await cluster.kubectl(["apply", "--server-side", "-f", join(overlay(domain), "namespace.yaml")]);
    const dry = await cluster.kubectl(["apply", "--server-side", "--dry-run=server", "-f", "-"], yaml);
    expect(dry.stderr).toBe("");
    expect(dry.code).toBe(0);
  });

  test("two overlays applied side by side stay independent", async () => {
    await apply(clusterDir);
    for (const domain of ["data-processing", "content"]) {
      // No warning: the namespaces warn on Pod Security "restricted" (the next test shows that they do).
      const res = await apply(overlay(domain));
      expect(res.stderr).not.toContain("PodSecurity");
    }
    const deployments = async (ns: string) =>
      (await get<{ items: Deployment[] }>(`/apis/apps/v1/namespaces/${ns}/deployments`)).items;
    const dp = await deployments("mcp-data-processing");
    const content = await deployments("mcp-content");
    expect(dp.map((d) => d.metadata.name).sort()).toEqual([
      "mcp-agent",
      "mcp-controller",
      "mcp-gateway",
      "mcp-scheduler",
    ]);
    expect(content.map((d) => d.metadata.name).sort()).toEqual(dp.map((d) => d.metadata.name).sort());
    const agentCommand = (ds: Deployment[]) =>
      ds.find((d) => d.metadata.name === "mcp-agent")?.spec.template.spec.containers[0]?.command;
    expect(agentCommand(dp)).toEqual(["bun", "services/agents/data-processor/main.ts"]);
    expect(agentCommand(content)).toEqual(["bun", "services/agents/code-runner/main.ts"]);
    expect(dp.find((d) => d.metadata.name === "mcp-controller")?.spec.replicas).toBe(2);
    // each domain's controller binds only its own namespace's role
    const binding = await get<{ subjects: { namespace: string }[] }>(
      "/apis/rbac.authorization.k8s.io/v1/namespaces/mcp-content/rolebindings/mcp-controller",
    );
    expect(binding.subjects.map((s) => s.namespace)).toEqual(["mcp-content"]);
    const ns = await get<{ metadata: { labels: Record<string, string> } }>("/api/v1/namespaces/mcp-content");
    expect(ns.metadata.labels).toMatchObject({
      "mcp.io/domain": "content",
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/warn-version": "latest",
      "pod-security.kubernetes.io/audit": "restricted",
      "pod-security.kubernetes.io/audit-version": "latest",
    });
  });

  test("the authorizer's unit applies server-side, without a Pod Security warning, its Service at its fixed address", async () => {
    const res = await apply(authorizerDir);
    expect(res.stderr).not.toContain("PodSecurity");
    const svc = await get<{ spec: { clusterIP: string } }>(
      "/api/v1/namespaces/mcp-conductor-system/services/mcp-authorizer",
    );
    expect(svc.spec.clusterIP).toBe("10.0.0.11");
  });

  test.each(["dist/cluster.yaml", "dist/cluster-authorizer.yaml", ...overlays.map((d) => `dist/${d}.yaml`)])(
    "%s is the current rendering, for installs without kustomize",
    (file) => {
      const name = file.slice("dist/".length, -".yaml".length);
      const current =
        name === "cluster" ? renderCluster() : name === "cluster-authorizer" ? renderAuthorizer() : renderOverlay(name);
      expect(readFileSync(join(distDir, `${name}.yaml`), "utf8")).toBe(current);
    },
  );
});

describe("Pod Security in a domain namespace", () => {
  const ns = "mcp-data-processing";
  const pod = (name: string, restricted: boolean) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name },
    spec: restricted
      ? {
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "c",
              image: "example/app:1",
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            },
          ],
        }
      : { containers: [{ name: "c", image: "example/app:1", securityContext: { privileged: true } }] },
  });

  test("a privileged pod is refused and the same pod made restricted is admitted", async () => {
    await apply(clusterDir);
    await apply(overlay("data-processing"));
    const err = await cluster.conn
      .request("POST", `/api/v1/namespaces/${ns}/pods`, { body: pod("privileged", false) })
      .then(
        () => undefined,
        (e: unknown) => e as KubeApiError,
      );
    expect(err?.statusCode).toBe(403);
    expect(err?.message).toContain('violates PodSecurity "restricted:latest"');
    expect(err?.message).toContain("privileged");
    expect(await exists(`/api/v1/namespaces/${ns}/pods/privileged`)).toBe(false);
    // The check can pass, too: the restricted spec goes in.
    await cluster.conn.request("POST", `/api/v1/namespaces/${ns}/pods`, { body: pod("restricted", true) });
    expect(await exists(`/api/v1/namespaces/${ns}/pods/restricted`)).toBe(true);
    await cluster.conn.request("DELETE", `/api/v1/namespaces/${ns}/pods/restricted`, {
      body: { gracePeriodSeconds: 0 },
    });
  });

  test("a privileged pod template gets a warning when it is applied, so a clean apply means a compliant one", async () => {
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "privileged", namespace: ns },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: "privileged" } },
        template: { metadata: { labels: { app: "privileged" } }, spec: pod("x", false).spec },
      },
    };
    const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify(deployment));
    expect(res.code).toBe(0);
    expect(res.stderr).toContain('would violate PodSecurity "restricted:latest"');
    await cluster.kubectl(["delete", "deployment", "privileged", "-n", ns]);
  });
});

describe("the cluster-wide unit outlives a domain", () => {
  const keep = "mcp-data-processing";
  const drop = "mcp-infrastructure";

  test("deleting one domain with `kubectl delete -k` leaves the CRDs, the policies and the other domain's objects", async () => {
    // The namespace controller empties and removes the deleted domain's namespace.
    await cluster.ensureControllerManager();
    await apply(clusterDir);
    await apply(overlay("data-processing"));
    await apply(overlay("infrastructure"));
    await cluster.mcp.agents.create(keep, { metadata: { name: "survivor" }, spec: { capabilities: ["x"] } });
    await cluster.mcp.tasks.create(keep, { metadata: { name: "survivor" }, spec: { requiredCapabilities: ["x"] } });
    await cluster.mcp.agents.create(drop, { metadata: { name: "doomed" }, spec: { capabilities: ["x"] } });

    const crdPath = (n: string) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${n}`;
    const clusterWide = [
      ...crds.map(crdPath),
      ...policies.map((n) => `${admission}/validatingadmissionpolicies/${n}`),
      ...policies.map((n) => `${admission}/validatingadmissionpolicybindings/${n}`),
    ];
    const domainObjects = [
      `/apis/mcp.io/v1/namespaces/${keep}/agents/survivor`,
      `/apis/mcp.io/v1/namespaces/${keep}/tasks/survivor`,
      `/apis/apps/v1/namespaces/${keep}/deployments/mcp-controller`,
    ];
    // First, everything is there.
    for (const path of [...clusterWide, ...domainObjects, `/apis/mcp.io/v1/namespaces/${drop}/agents/doomed`]) {
      expect(`${path}: ${await exists(path)}`).toBe(`${path}: true`);
    }

    const res = await cluster.kubectl(["delete", "-k", overlay("infrastructure"), "--timeout=60s"]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`namespace "${drop}" deleted`);
    expect(res.stdout).not.toContain("customresourcedefinition");
    expect(res.stdout).not.toContain("validatingadmissionpolic");

    // The domain is gone, with what was in it…
    expect(await exists(`/api/v1/namespaces/${drop}`)).toBe(false);
    expect(await exists(`/apis/mcp.io/v1/namespaces/${drop}/agents/doomed`)).toBe(false);
    // …and nothing else is.
    for (const path of [...clusterWide, ...domainObjects]) {
      expect(`${path}: ${await exists(path)}`).toBe(`${path}: true`);
    }
    const crd = await get<{ status: { conditions: { type: string; status: string }[] } }>(crdPath("tasks.mcp.io"));
    expect(crd.status.conditions.find((c) => c.type === "Established")?.status).toBe("True");
    await cluster.mcp.agents.delete(keep, "survivor");
    await cluster.mcp.tasks.delete(keep, "survivor");
  }, 120_000);
});
