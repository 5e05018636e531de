// The Helm charts (charts/, written by hack/render-chart.ts) against the
// kustomize units they are made from, with the pinned Helm (hack/helm) and
// the pinned kustomize (hack/tools): both charts pass `helm lint --strict`,
// and `helm template` with each overlay's values file renders the objects
// `kustomize build` renders for that overlay, once the labels Helm adds and
// the ConfigMaps' kustomize hashes are set aside. No cluster: install,
// upgrade and uninstall are helm-install.test.ts.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { type Helm, helmRunner } from "../../hack/helm/helm.ts";
import {
  clusterChartDir,
  domainChartDir,
  domainsDir,
  type Kustomization,
  kustomize,
  kustomizeScratch,
  parseAll,
  type Rendered,
  renderCharts,
} from "../../hack/render-chart.ts";
import { kustomizeBinary, repoRoot } from "../../lib/control-plane/binaries.ts";
import { conductorImage } from "../../lib/version.ts";

const overlays = readdirSync(join(repoRoot, "kustomize", "overlays")).sort();
const domainChart = relative(repoRoot, domainChartDir);
const clusterChart = relative(repoRoot, clusterChartDir);
const valuesFile = (domain: string) => relative(repoRoot, join(domainsDir, `${domain}.yaml`));

let helm: Helm;
beforeAll(() => {
  helm = helmRunner();
}, 600_000);

const build = (dir: string) => [kustomizeBinary(), "build", dir];
const kustomizeBuild = (dir: string) => kustomize(dir, build);
const kustomizeWith = (k: Kustomization) => kustomizeScratch(k, build);

/** `helm template` of a chart; fails the test on any error. */
async function template(args: string[]): Promise<Rendered[]> {
  const res = await helm(["template", ...args]);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return parseAll(res.stdout);
}

type Json = Record<string, unknown>;
/** The labels Helm's charts add by convention (the release's, the chart's); kustomize has no such thing. */
const helmLabels = ["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"];

/**
 * The objects as compared: without Helm's labels and the pod templates'
 * `checksum/` annotations (the chart's way of rolling pods when a ConfigMap
 * changes, where kustomize renames the ConfigMap), kustomize's generated
 * ConfigMaps under their names without the hash, the controller's file as
 * the data it holds (the chart writes it from values, in another key order),
 * and sorted.
 */
function normalise(objects: Rendered[]): Json[] {
  const hashed = new Map<string, string>();
  for (const o of objects) {
    const m = /^(mcp-[a-z-]+-config)-[a-z0-9]{10}$/.exec(o.metadata.name);
    if (o.kind === "ConfigMap" && m) hashed.set(o.metadata.name, m[1] as string);
  }
  const unhash = (v: unknown): unknown =>
    typeof v === "string"
      ? (hashed.get(v) ?? v)
      : Array.isArray(v)
        ? v.map(unhash)
        : v && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unhash(x)]))
          : v;
  return objects
    .map((original) => {
      const o = unhash(structuredClone(original)) as Rendered & {
        data?: Record<string, unknown>;
        spec?: { template?: { metadata?: { annotations?: Record<string, string> } } };
      };
      const labels = o.metadata.labels ?? {};
      for (const l of helmLabels) delete labels[l];
      const podMeta = o.spec?.template?.metadata;
      if (podMeta?.annotations) {
        for (const k of Object.keys(podMeta.annotations)) if (k.startsWith("checksum/")) delete podMeta.annotations[k];
        if (Object.keys(podMeta.annotations).length === 0) delete podMeta.annotations;
      }
      if (o.kind === "ConfigMap" && typeof o.data?.["controller.yaml"] === "string")
        o.data["controller.yaml"] = parse(o.data["controller.yaml"]);
      return o as unknown as Json;
    })
    .sort((a, b) => key(a).localeCompare(key(b)));
}
const key = (o: Json) => {
  const m = o.metadata as { namespace?: string; name: string };
  return `${o.apiVersion}/${o.kind}/${m.namespace ?? ""}/${m.name}`;
};
const names = (objects: Rendered[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

describe("the charts", () => {
  test("are what hack/render-chart.ts writes from the kustomize units now", () => {
    const generated = renderCharts();
    for (const [path, text] of generated)
      expect(`${path}\n${readFileSync(join(repoRoot, path), "utf8")}`).toBe(`${path}\n${text}`);
    // and no file is left over from an earlier rendering
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name)) : [relative(repoRoot, join(dir, e.name))],
      );
    expect([...walk(domainChartDir), ...walk(clusterChartDir)].sort()).toEqual([...generated.keys()].sort());
  });

  test.each([
    [clusterChart, []],
    [domainChart, []],
    ...overlays.map((d) => [domainChart, ["-f", valuesFile(d)]] as [string, string[]]),
    [
      domainChart,
      ["--set", "monitoring.enabled=true,agentsReadAllTasks=true,gateway.auth.kubernetesTokens=tokenreview"],
    ],
    [clusterChart, ["--set", "authorizer.enabled=true"]],
  ])("helm lint --strict %s %p passes", async (chart, args) => {
    const res = await helm(["lint", "--strict", chart, ...args]);
    expect(res.stdout).toContain("0 chart(s) failed");
    expect(res.stdout).not.toContain("[WARNING]");
    expect(res.stdout).not.toContain("[ERROR]");
    expect(res.code).toBe(0);
  });
});

describe("the domain chart renders what kustomize renders", () => {
  test.each(overlays)("for the %s overlay, with its values file", async (domain) => {
    const fromHelm = await template([domain, domainChart, "-f", valuesFile(domain)]);
    const fromKustomize = kustomizeBuild(join("kustomize", "overlays", domain));
    // the same objects first (a short diff when not), then the same objects field for field
    expect(normalise(fromHelm).map(key)).toEqual(normalise(fromKustomize).map(key));
    expect(normalise(fromHelm)).toEqual(normalise(fromKustomize));
  });

  test("the comparison sees a difference: a value the overlay does not set changes the rendering, there only", async () => {
    const fromKustomize = normalise(kustomizeBuild(join("kustomize", "overlays", "data-processing")));
    const same = normalise(await template(["data-processing", domainChart, "-f", valuesFile("data-processing")]));
    expect(same).toEqual(fromKustomize);
    const changed = normalise(
      await template([
        "data-processing",
        domainChart,
        "-f",
        valuesFile("data-processing"),
        "--set",
        "replicas.gateway=3",
      ]),
    );
    expect(changed).not.toEqual(fromKustomize);
    const gateway = (objects: Json[]) =>
      objects.find((o) => o.kind === "Deployment" && (o.metadata as { name: string }).name === "mcp-gateway") as {
        spec: { replicas: number };
      };
    expect(gateway(changed).spec.replicas).toBe(3);
    gateway(changed).spec.replicas = 2;
    expect(changed).toEqual(fromKustomize);
  });

  test("with monitoring and agents-read-all-tasks, as an overlay that adds deploy/monitoring and the component", async () => {
    const domain = "content";
    const fromHelm = await template([
      domain,
      domainChart,
      "-f",
      valuesFile(domain),
      "--set",
      "monitoring.enabled=true,agentsReadAllTasks=true",
    ]);
    // docs/deployment.md's way: the overlay lists ../../../deploy/monitoring and the component
    const fromKustomize = kustomizeWith({
      namespace: `mcp-${domain}`,
      resources: [`kustomize/overlays/${domain}`, "deploy/monitoring"],
      components: ["kustomize/components/agents-read-all-tasks"],
      labels: { "mcp.io/domain": domain },
    });
    expect(names(fromHelm)).toContain("PrometheusRule/mcp-conductor");
    expect(names(fromHelm)).toContain("RoleBinding/mcp-agent-read-all-tasks");
    expect(normalise(fromHelm)).toEqual(normalise(fromKustomize));
    // Alert texts keep their own {{ $labels }}: Helm does not read them as its own actions.
    const rule = fromHelm.find((o) => o.kind === "PrometheusRule") as unknown as {
      spec: { groups: { rules: { annotations: { summary: string } }[] }[] };
    };
    expect(rule.spec.groups[0]?.rules[0]?.annotations.summary).toContain("{{ $labels.domain }}");
  });

  test("image and replicas land where kustomize's images and replicas put them; the bridge image follows the image", async () => {
    const domain = "infrastructure";
    const args = [
      domain,
      domainChart,
      "-f",
      valuesFile(domain),
      "--set",
      "image.tag=9.9.9,replicas.agent=5,replicas.controller=3",
    ];
    const fromKustomize = kustomizeWith({
      resources: [`kustomize/overlays/${domain}`],
      more: {
        images: [{ name: "ghcr.io/mcp-conductor/mcp-conductor", newTag: "9.9.9" }],
        replicas: [
          { name: "mcp-agent", count: 5 },
          { name: "mcp-controller", count: 3 },
        ],
      },
    });
    // kustomize's images leave the controller's file alone: pin the bridge image as it has it.
    const pinned = await template([...args, "--set", `controller.config.mcpServers.bridgeImage=${conductorImage}`]);
    expect(normalise(pinned)).toEqual(normalise(fromKustomize));
    // Left to the chart, stdio MCPServers get the bridge of the image the domain runs.
    const controllerFile = (objects: Rendered[]) =>
      parse(
        (
          objects.find((o) => o.metadata.name === "mcp-controller-config") as unknown as {
            data: Record<string, string>;
          }
        ).data["controller.yaml"] as string,
      ) as { mcpServers: { bridgeImage: string } };
    expect(controllerFile(pinned).mcpServers.bridgeImage).toBe(conductorImage);
    expect(controllerFile(await template(args)).mcpServers.bridgeImage).toBe(
      "ghcr.io/mcp-conductor/mcp-conductor:9.9.9",
    );
  });

  test("a changed ConfigMap changes the checksum on the pod templates that use it, and only those", async () => {
    const checksums = async (set: string[]) =>
      Object.fromEntries(
        (await template(["d", domainChart, ...set]))
          .filter((o) => o.kind === "Deployment")
          .map((o) => [
            o.metadata.name,
            (o as unknown as { spec: { template: { metadata: { annotations?: Json } } } }).spec.template.metadata
              .annotations ?? {},
          ]),
      );
    const before = await checksums([]);
    const after = await checksums(["--set", "agent.config.AGENT_MAX_CONCURRENT_TASKS=9"]);
    expect(Object.keys(before["mcp-agent"] ?? {})).toEqual(["checksum/mcp-agent-config"]);
    expect(after["mcp-agent"]).not.toEqual(before["mcp-agent"]);
    expect(after["mcp-controller"]).toEqual(before["mcp-controller"]);
  });
});

describe("the domain chart's own values", () => {
  const gateway = (objects: Rendered[]) =>
    (
      objects.find((o) => o.kind === "Deployment" && o.metadata.name === "mcp-gateway") as unknown as {
        spec: {
          template: {
            spec: {
              containers: { command: string[]; env: { name: string; value?: string }[]; volumeMounts?: unknown[] }[];
              volumes?: unknown[];
            };
          };
        };
      }
    ).spec.template.spec;

  test("the domain defaults to the release's name, and a name that cannot be a namespace's is refused", async () => {
    const objects = await template(["billing", domainChart]);
    const ns = objects.find((o) => o.kind === "Namespace");
    expect(ns?.metadata.name).toBe("mcp-billing");
    expect(ns?.metadata.labels?.["mcp.io/domain"]).toBe("billing");
    expect(new Set(objects.filter((o) => o.kind !== "Namespace").map((o) => o.metadata.namespace))).toEqual(
      new Set(["mcp-billing"]),
    );
    const refused = await helm(["template", "billing", domainChart, "--set", "domain=Billing_Team"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('domain "Billing_Team"');
  });

  test("gateway auth: issuers and scopes become its environment, tokenreview adds its cluster-wide grant, no Secret no tokens volume", async () => {
    const shipped = await template(["d", domainChart]);
    expect(gateway(shipped).containers[0]?.command).toContain("--tokens-dir=/var/run/secrets/mcp-gateway-tokens");
    expect(gateway(shipped).containers[0]?.command).toContain("--kubernetes-tokens=jwks");
    expect(shipped.some((o) => o.kind === "ClusterRoleBinding")).toBe(false);

    const changed = await template([
      "d",
      domainChart,
      "--set",
      "gateway.auth.tokensSecret=,gateway.auth.kubernetesTokens=tokenreview,gateway.auth.resource=https://mcp.example.com/mcp",
      "--set",
      "gateway.auth.issuers={https://id.example.com,https://id2.example.com},gateway.auth.requiredScopes={mcp}",
    ]);
    const pod = gateway(changed);
    const c = pod.containers[0];
    expect(c?.command.some((a) => a.startsWith("--tokens-dir"))).toBe(false);
    expect(c?.command).toContain("--kubernetes-tokens=tokenreview");
    expect(c?.volumeMounts ?? []).toEqual([]);
    expect(pod.volumes ?? []).toEqual([]);
    expect(c?.env).toEqual(
      expect.arrayContaining([
        { name: "GATEWAY_RESOURCE", value: "https://mcp.example.com/mcp" },
        { name: "GATEWAY_ISSUERS", value: "https://id.example.com,https://id2.example.com" },
        { name: "GATEWAY_REQUIRED_SCOPES", value: "mcp" },
      ]),
    );
    const binding = changed.find((o) => o.kind === "ClusterRoleBinding") as unknown as {
      metadata: { name: string };
      roleRef: { name: string };
      subjects: unknown[];
    };
    expect(binding.metadata.name).toBe("mcp-gateway-tokenreview:mcp-d");
    expect(binding.roleRef.name).toBe("system:auth-delegator");
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "mcp-gateway", namespace: "mcp-d" }]);
  });

  test("numbers in a values file reach the ConfigMaps and the quota as the numbers written, not as floats", async () => {
    const dir = mkdtempSync(join(tmpdir(), "helm-values-"));
    const file = join(dir, "values.yaml");
    writeFileSync(
      file,
      "gateway:\n  config:\n    GATEWAY_MAX_BODY_BYTES: 2097152\n    GATEWAY_BURST: 0.5\nquota:\n  tasks: 1000000\n",
    );
    const objects = await template(["d", domainChart, "-f", file]);
    const cm = objects.find((o) => o.metadata.name === "mcp-gateway-config") as unknown as {
      data: Record<string, string>;
    };
    expect(cm.data.GATEWAY_MAX_BODY_BYTES).toBe("2097152");
    expect(cm.data.GATEWAY_BURST).toBe("0.5");
    const quota = objects.find((o) => o.kind === "ResourceQuota") as unknown as { spec: { hard: Json } };
    expect(quota.spec.hard["count/tasks.mcp.io"]).toBe("1000000");
  });
});

describe("the cluster chart", () => {
  test("renders kustomize/cluster, the CRDs only with --include-crds: they are in crds/, which Helm installs but never templates", async () => {
    const fromKustomize = kustomizeBuild(join("kustomize", "cluster"));
    const withCrds = await template(["cluster", clusterChart, "--include-crds"]);
    expect(normalise(withCrds)).toEqual(normalise(fromKustomize));
    const templates = await template(["cluster", clusterChart]);
    expect(templates.some((o) => o.kind === "CustomResourceDefinition")).toBe(false);
    expect(names(templates)).toEqual(names(fromKustomize).filter((n) => !n.startsWith("CustomResourceDefinition/")));
    expect(existsSync(join(clusterChartDir, "crds", "tasks.mcp.io.yaml"))).toBe(true);
  });

  test("with the authorizer, as kustomize/cluster/authorizer, its replicas and address from values", async () => {
    const fromKustomize = [
      ...kustomizeBuild(join("kustomize", "cluster")),
      ...kustomizeWith({
        resources: ["kustomize/cluster/authorizer"],
        more: {
          replicas: [{ name: "mcp-authorizer", count: 3 }],
          // docs/deployment.md's overlay of the unit for another Service range
          patches: [
            {
              target: { kind: "Service", name: "mcp-authorizer" },
              patch: "- op: replace\n  path: /spec/clusterIP\n  value: 10.96.0.11\n",
            },
          ],
        },
      }),
    ];
    const fromHelm = await template([
      "cluster",
      clusterChart,
      "--include-crds",
      "--set",
      "authorizer.enabled=true,authorizer.replicas=3,authorizer.clusterIP=10.96.0.11",
    ]);
    expect(names(fromHelm)).toContain("Deployment/mcp-authorizer");
    expect(normalise(fromHelm)).toEqual(normalise(fromKustomize));
  });
});
