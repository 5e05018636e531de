// The per-domain Kustomize overlays render with the pinned kubectl, pass a
// server-side dry run, apply for real (server-side) on the local control
// plane without Pod Security warnings, and stay independent side by side.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { distDir, renderOverlay } from "../../hack/render-dist.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await testCluster();
}, 120_000);

const overlays = ["data-processing", "infrastructure", "content"] as const;
const render = async (domain: string) => {
  const res = await cluster.kubectl(["kustomize", join(repoRoot, "kustomize", "overlays", domain)]);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return res.stdout;
};

interface Deployment {
  metadata: { name: string; namespace: string };
  spec: { replicas: number; template: { spec: { containers: { command: string[] }[] } } };
}

describe("kustomize overlays", () => {
  test.each(overlays)("%s renders and passes a server-side dry run", async (domain) => {
    const yaml = await render(domain);
    expect(yaml).toContain(`namespace: mcp-${domain}`);
    // A dry run creates nothing, so the namespace its objects go into must exist first.
    await cluster.kubectl([
      "apply",
      "--server-side",
      "-f",
      join(repoRoot, "kustomize", "overlays", domain, "namespace.yaml"),
    ]);
    const dry = await cluster.kubectl(["apply", "--server-side", "--dry-run=server", "-f", "-"], yaml);
    expect(dry.stderr).toBe("");
    expect(dry.code).toBe(0);
  });

  test("two overlays applied side by side stay independent", async () => {
    for (const domain of ["data-processing", "content"]) {
      const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], await render(domain));
      // Pod Security "restricted" is enforced on the namespace: no pod template may violate it.
      expect(res.stderr).not.toContain("PodSecurity");
      expect(res.code).toBe(0);
    }
    const deployments = async (ns: string) =>
      (await cluster.conn.request<{ items: Deployment[] }>("GET", `/apis/apps/v1/namespaces/${ns}/deployments`)).items;
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
    const binding = await cluster.conn.request<{ subjects: { namespace: string }[] }>(
      "GET",
      "/apis/rbac.authorization.k8s.io/v1/namespaces/mcp-content/rolebindings/mcp-controller",
    );
    expect(binding.subjects.map((s) => s.namespace)).toEqual(["mcp-content"]);
    const ns = await cluster.conn.request<{ metadata: { labels: Record<string, string> } }>(
      "GET",
      "/api/v1/namespaces/mcp-content",
    );
    expect(ns.metadata.labels).toMatchObject({
      "mcp.io/domain": "content",
      "pod-security.kubernetes.io/enforce": "restricted",
    });
  });

  test.each(overlays)("dist/%s.yaml is the current rendering, for installs without kustomize", (domain) => {
    expect(readFileSync(join(distDir, `${domain}.yaml`), "utf8")).toBe(renderOverlay(domain));
  });
});
