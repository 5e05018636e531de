// A domain installed with Helm on the real node, as docs/deployment.md
// ("Install with Helm") says: the domain chart with a domain's values file,
// its pods Ready from the images built here, an official MCP client's
// tools/call through the gateway Service, an upgrade whose changed agent
// settings roll the agents' pods, and an uninstall that deletes the domain
// and nothing else. The cluster-wide part is the one installed with
// kustomize earlier in the suite: a domain release needs the CRDs and
// policies, not the cluster chart's release.
import { beforeAll, describe, expect, test } from "bun:test";
import { join, relative } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type Helm, helmRunner } from "../../hack/helm/helm.ts";
import { domainChartDir, domainsDir } from "../../hack/render-chart.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { installClusterCommand } from "../../lib/control-plane/install-commands.ts";
import { isNotFound } from "../../lib/kube/errors.ts";
import { eventually } from "../harness/eventually.ts";
import { gatewayOf, type NodeCluster, waitAvailable } from "../harness/node.ts";
import type { E2e } from "./suite.ts";

const domain = "helm-demo";
const ns = `mcp-${domain}`;
// the release records; the domain's namespace is one of the release's own objects
const releases = "default";
const chart = relative(repoRoot, domainChartDir);
const values = relative(repoRoot, join(domainsDir, "data-processing.yaml"));

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  status: { phase: string; conditions?: { type: string; status: string }[] };
}

let cluster: NodeCluster;
let figures: E2e["figures"];
let helm: Helm;

const helmOk = async (args: string[]) => {
  const res = await helm([...args, "--namespace", releases]);
  if (res.code !== 0) throw new Error(`helm ${args.join(" ")}: exit ${res.code}\n${res.stderr}`);
  return res;
};
const pods = async () => (await cluster.conn.request<{ items: Pod[] }>("GET", `/api/v1/namespaces/${ns}/pods`)).items;
const ready = (p: Pod) => p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** A domain's install, call, upgrade and uninstall with the pinned Helm. */
export function registerHelm(e2e: E2e): void {
  describe("a domain installed with Helm", () => {
    beforeAll(async () => {
      cluster = e2e.cluster;
      figures = e2e.figures;
      helm = helmRunner({ kubeconfig: cluster.kubeconfigPath });
      // The cluster-wide part, as the suite installed it (server-side apply: unchanged if there).
      const res = await cluster.sh(installClusterCommand, { cwd: repoRoot });
      if (res.code !== 0) throw new Error(`${installClusterCommand}\nexit ${res.code}\n${res.stderr}`);
    }, 600_000);

    test("helm install: every Deployment Available, every pod Ready, none of them refused by Pod Security", async () => {
      const started = performance.now();
      const installed = await helmOk(["install", domain, chart, "-f", values, "--set", `domain=${domain}`]);
      // The namespace warns on a pod template Pod Security would refuse; Helm prints the warning.
      expect(installed.stderr).not.toContain("PodSecurity");
      // The token Secret, as the release's notes say (the chart does not keep tokens in its values).
      expect(installed.stdout).toContain(`kubectl -n ${ns} create secret generic mcp-gateway-tokens`);
      const token = await cluster.sh(
        `kubectl -n ${ns} create secret generic mcp-gateway-tokens --from-literal=my-client=$(openssl rand -hex 24)`,
      );
      expect(token.code).toBe(0);
      await waitAvailable(cluster, ns, 300);
      figures.helmInstallToAvailableSeconds = (performance.now() - started) / 1000;

      const running = await pods();
      // scheduler 1, controller 2, gateway 2, agent 2
      expect(running.filter(ready)).toHaveLength(7);
      const apps = new Set(running.map((p) => p.metadata.labels?.["app.kubernetes.io/name"]));
      expect([...apps].sort()).toEqual(["mcp-agent", "mcp-controller", "mcp-gateway", "mcp-scheduler"]);
    }, 420_000);

    test("an official MCP client calls csv_to_json through the gateway Service, and a Task shows for it", async () => {
      const gateway = await gatewayOf(cluster, ns);
      const client = new Client({ name: "e2e-helm", version: "1.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(gateway.url, {
          requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
        }),
      );
      try {
        await eventually(async () => (await client.listTools()).tools.some((t) => t.name === "csv_to_json"), {
          message: "csv_to_json listed by the Helm domain's gateway",
          timeout: 60_000,
        });
        const result = await client.callTool({ name: "csv_to_json", arguments: { csv: "a,b\n1,2" } });
        expect(result.isError).toBeFalsy();
        const text = (result.content as { type: string; text: string }[]).map((c) => c.text).join("");
        expect(JSON.parse(text)).toEqual(expect.objectContaining({ rows: [{ a: "1", b: "2" }] }));
      } finally {
        await client.close();
      }
      const tasks = await cluster.conn.request<{
        items: { spec: { tool?: string }; status?: { phase?: string; assignedAgent?: string } }[];
      }>("GET", `/apis/mcp.io/v1/namespaces/${ns}/tasks`);
      const task = tasks.items.find((t) => t.spec.tool === "csv_to_json");
      expect(task?.status?.phase).toBe("Completed");
      expect(task?.status?.assignedAgent).toBeTruthy();
    }, 120_000);

    test("helm upgrade with a changed agent setting rolls the agents' pods onto it", async () => {
      const agents = async () =>
        (await pods())
          .filter((p) => p.metadata.labels?.["app.kubernetes.io/name"] === "mcp-agent")
          .map((p) => p.metadata.name);
      const before = await agents();
      expect(before).toHaveLength(2);
      await helmOk([
        "upgrade",
        domain,
        chart,
        "-f",
        values,
        "--set",
        `domain=${domain},agent.config.AGENT_MAX_CONCURRENT_TASKS=7`,
      ]);
      const rollout = await cluster.kubectl(["-n", ns, "rollout", "status", "deployment/mcp-agent", "--timeout=180s"]);
      expect(rollout.code).toBe(0);
      await eventually(
        async () => {
          const now = await agents();
          return now.length === 2 && now.every((n) => !before.includes(n));
        },
        { timeout: 120_000, interval: 1_000, message: "the agents' pods replaced" },
      );
      // The new pods run with the new setting.
      const name = (await agents())[0] as string;
      const env = await cluster.kubectl(["-n", ns, "exec", name, "--", "sh", "-c", "echo $AGENT_MAX_CONCURRENT_TASKS"]);
      expect(env.stdout.trim()).toBe("7");
    }, 300_000);

    test("helm uninstall deletes the domain's namespace; the cluster-wide part and the other domain stay", async () => {
      await helmOk(["uninstall", domain]);
      await eventually(
        async () =>
          cluster.conn.request("GET", `/api/v1/namespaces/${ns}`).then(
            () => false,
            (e) => isNotFound(e),
          ),
        { timeout: 240_000, interval: 1_000, message: `namespace ${ns} gone` },
      );
      for (const crd of ["agents.mcp.io", "tasks.mcp.io", "mcpservers.mcp.io"])
        expect((await cluster.kubectl(["get", "crd", crd])).code).toBe(0);
      for (const policy of ["mcp-agent-own-tasks", "mcp-agent-own-agent"])
        expect((await cluster.kubectl(["get", "validatingadmissionpolicy", policy])).code).toBe(0);
      await waitAvailable(cluster, "mcp-data-processing", 60);
    }, 300_000);
  });
}
