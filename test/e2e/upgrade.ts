// An upgrade as docs/deployment.md#upgrade tells it, with Tasks in flight: a
// domain installed from the previous release (its manifests, and its image
// built from its own tree), calls running through its gateway, then this
// release's cluster-wide part and the domain applied over it. Every Task of
// the calls finishes, none is completed twice, none fails, and the domain
// ends on this release's image.
import { expect } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { isFinished } from "../../lib/api/task-state.ts";
import { repoRoot, runBuildStep } from "../../lib/control-plane/binaries.ts";
import { kustomizeImage } from "../../lib/control-plane/images.ts";
import {
  createTokenCommand,
  installClusterCommand,
  installDomainCommand,
} from "../../lib/control-plane/install-commands.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { eventually } from "../harness/eventually.ts";
import { gatewayOf, type NodeCluster, waitAvailable } from "../harness/node.ts";

/**
 * The release an upgrade starts from. The project has cut no tagged release
 * yet: this is the last landing of 2026-12-04 (CI green, its manifests and
 * image proven on the node). Move it to the previous release's commit when
 * one is cut.
 */
export const previousRelease = "bf43e772dcf1321d93b5b69dbf30fb008fe3d852";

/** What the previous release's image is called on the node once imported. */
const previousImage = "docker.io/mcp-conductor/conductor:previous";

async function sh(cluster: NodeCluster, line: string, cwd = repoRoot): Promise<string> {
  const res = await cluster.sh(line, { cwd });
  if (res.code !== 0) throw new Error(`${line}\nexit ${res.code}\n${res.stderr}`);
  return res.stdout;
}

/** The previous release's tree, from this checkout's history, in a scratch folder. */
async function previousTree(cluster: NodeCluster): Promise<string> {
  const has = await cluster.sh(`git cat-file -e ${previousRelease}^{commit}`, { cwd: repoRoot });
  if (has.code !== 0)
    throw new Error(
      `the previous release ${previousRelease} is not in this checkout's history (a shallow clone?): fetch it, e.g. git fetch --unshallow`,
    );
  const dir = mkdtempSync(join(tmpdir(), "previous-release-"));
  await sh(cluster, `git archive ${previousRelease} | tar -x -C ${dir}`);
  // Its image build takes the pinned Bun from node_modules (the same version in both).
  symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/**
 * Builds the previous release's conductor image from its own tree (cached by
 * its inputs, as every image is) and imports it into the node as
 * `previousImage`, leaving this release's image where it was.
 */
function importPreviousImage(cluster: NodeCluster, tree: string): void {
  const out = runBuildStep(["bash", join(tree, "hack", "images", "build.sh"), "conductor"]);
  const archive = out
    .split("\n")
    .find((l) => l.startsWith("mcp-conductor:dev="))
    ?.slice("mcp-conductor:dev=".length);
  const current = cluster.images.archives.find((a) => a.endsWith("mcp-conductor.tar"));
  if (!archive || !current) throw new Error(`no conductor image archive: ${out}`);
  const node = cluster.node;
  // Both archives name their image mcp-conductor:dev: import the old one, name it, then put this one back.
  node.ctr(["images", "import", "--no-unpack=false", archive]);
  node.ctr(["images", "tag", "--force", cluster.images.conductor, previousImage]);
  node.ctr(["images", "import", "--no-unpack=false", current]);
  for (const [ref, alias] of cluster.images.aliases) node.ctr(["images", "tag", "--force", ref, alias]);
}

/** The images a domain's Deployments run. */
async function imagesOf(cluster: NodeCluster, ns: string): Promise<string[]> {
  const deployments = await cluster.conn.request<{
    items: { spec: { template: { spec: { containers: { image: string }[] } } } }[];
  }>("GET", `/apis/apps/v1/namespaces/${ns}/deployments`);
  return [...new Set(deployments.items.flatMap((d) => d.spec.template.spec.containers.map((c) => c.image)))];
}

export interface UpgradeFigures {
  calls: number;
  answered: number;
  /** Calls whose client saw an error (a gateway replaced under it); their Tasks must finish all the same. */
  clientErrors: number;
  tasks: number;
  rolloutSeconds: number;
}

/**
 * Installs `domain` at the previous release, runs calls of `tool` through its
 * gateway, upgrades the cluster-wide part and the domain to this release
 * while they run, and checks what every Task of the calls became.
 */
export async function upgradeWithTasksInFlight(
  cluster: NodeCluster,
  domain: string,
  call: (i: number, id: string) => { name: string; arguments: Record<string, unknown>; expect: string },
): Promise<UpgradeFigures> {
  const ns = `mcp-${domain}`;
  const image = kustomizeImage();
  const tree = await previousTree(cluster);
  try {
    importPreviousImage(cluster, tree);
    // The previous release as its README installs it, on its own image.
    const rendered = await sh(cluster, `kubectl kustomize kustomize/overlays/${domain}`, tree);
    if (!rendered.includes(image)) throw new Error(`the previous release's ${domain} overlay does not name ${image}`);
    await sh(cluster, "kubectl kustomize kustomize/cluster | kubectl apply --server-side --force-conflicts -f -", tree);
    const applied = await cluster.kubectl(["apply", "--server-side", "-f", "-"], {
      input: rendered.replaceAll(image, previousImage),
    });
    if (applied.code !== 0) throw new Error(`applying the previous release's ${domain} overlay: ${applied.stderr}`);
    await sh(cluster, createTokenCommand(domain));
    await waitAvailable(cluster, ns, 240);
    expect(await imagesOf(cluster, ns)).toEqual([previousImage]);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }

  const run = Math.random().toString(36).slice(2, 8);
  const finals = new Map<string, Set<string>>();
  const phases = new Map<string, string>();
  const informer = new Informer(mcpClients(cluster.conn).tasks, { namespace: ns });
  const seen = (t: Task) => {
    if (!JSON.stringify(t.spec.payload ?? {}).includes(run)) return;
    const name = t.metadata.name ?? "";
    if (!finals.has(name)) finals.set(name, new Set());
    phases.set(name, t.status?.phase ?? "");
    if (isFinished(t)) finals.get(name)?.add(JSON.stringify([t.status?.phase, t.status?.result]));
  };
  informer.on({ add: seen, update: seen });
  await informer.start();
  try {
    const gateway = await gatewayOf(cluster, ns);
    let upgraded = false;
    let i = 0;
    let answered = 0;
    const errors: string[] = [];
    // Calls one after another from 3 clients, until the upgrade is done and a few more have run on it.
    const client = async () => {
      let after = 0;
      while (!upgraded || after++ < 3) {
        const c = new Client({ name: "e2e-upgrade", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
        try {
          await c.connect(
            new StreamableHTTPClientTransport(gateway.url, {
              requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
            }),
          );
          for (let k = 0; k < 5; k++) {
            const n = i++;
            const want = call(n, `${run}-${n}`);
            const res = await c.callTool({ name: want.name, arguments: want.arguments }, { timeout: 300_000 });
            const text = (res.content as { text?: string }[]).map((x) => x.text ?? "").join("");
            if (res.isError || !text.includes(want.expect)) errors.push(`call ${n}: ${text.slice(0, 200)}`);
            else answered++;
          }
        } catch (err) {
          // A gateway replaced under the call: its Task must finish all the same (checked below).
          errors.push((err as Error).message.slice(0, 200));
          await Bun.sleep(500);
        } finally {
          await c.close().catch(() => undefined);
        }
      }
    };
    const load = Promise.all([client(), client(), client()]);
    // Tasks in flight: wait until calls are running on the previous release.
    await eventually(() => [...phases.values()].some((p) => p === "Running" || p === "Assigned"), {
      message: "calls in flight on the previous release",
      timeout: 60_000,
    });
    const started = performance.now();
    await sh(cluster, installClusterCommand);
    await sh(cluster, installDomainCommand(domain));
    await sh(cluster, `kubectl -n ${ns} rollout status deployment --timeout=300s`);
    await waitAvailable(cluster, ns, 240);
    const rolloutSeconds = (performance.now() - started) / 1000;
    upgraded = true;
    await load;
    expect(await imagesOf(cluster, ns)).toEqual([image]);
    // Every Task of the run finishes, each once, and none failed.
    await eventually(() => [...finals.values()].every((f) => f.size > 0), {
      message: `every Task finished (${[...phases.entries()].filter(([, p]) => p !== "Completed").length} not yet)`,
      timeout: 180_000,
    });
    const failed = [...phases.entries()].filter(([, p]) => p !== "Completed");
    expect(failed).toEqual([]);
    expect([...finals.entries()].filter(([, f]) => f.size > 1)).toEqual([]);
    expect(answered).toBeGreaterThan(0);
    return { calls: i, answered, clientErrors: errors.length, tasks: finals.size, rolloutSeconds };
  } finally {
    await informer.stop();
  }
}
