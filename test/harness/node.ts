/**
 * The end-to-end suite's cluster: the local control plane with a real node
 * (lib/control-plane/node.ts) and the project's images built here and
 * imported into it. Started once per test run on first use, stopped after the
 * last test (test/setup.ts). Separate from the integration tests' control
 * plane, which has no node.
 */

import { repoRoot } from "../../lib/control-plane/binaries.ts";
import {
  createTokenCommand,
  installClusterCommand,
  installDomainCommand,
} from "../../lib/control-plane/install-commands.ts";
import { missingNodePrerequisites } from "../../lib/control-plane/node.ts";
import { type NodeCluster as LocalNodeCluster, startNodeCluster } from "../../lib/control-plane/node-cluster.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { eventually } from "./eventually.ts";

export interface NodeCluster extends LocalNodeCluster {
  kubeconfigPath: string;
  conn: KubeConnection;
  /** Runs the pinned kubectl with the admin kubeconfig, in `cwd` when given. */
  kubectl(
    args: string[],
    opts?: { input?: string; cwd?: string },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs a shell command line with KUBECONFIG and the pinned kubectl first on PATH. */
  sh(line: string, opts?: { cwd?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Why the end-to-end suite cannot run on this machine, or undefined when it can. */
export function nodeUnavailable(): string | undefined {
  // CI installs everything (.ci/run): there a missing piece must fail the suite, not skip it.
  if (process.env.CI) return undefined;
  const missing = missingNodePrerequisites();
  return missing.length ? `no local node: missing ${missing.join("; ")}` : undefined;
}

const key = Symbol.for("mcp-conductor.test-node");
type Holder = { [key]?: Promise<NodeCluster> };

async function collect(proc: {
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  exited: Promise<number>;
}) {
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

async function startE2eCluster(): Promise<NodeCluster> {
  const local = await startNodeCluster();
  const { cp } = local;
  const kubeconfigPath = cp.writeKubeconfig();
  const binDir = cp.binaries.dir;
  return {
    ...local,
    kubeconfigPath,
    conn: KubeConnection.fromOptions({ kubeconfigPath }),
    kubectl: (args, opts = {}) =>
      collect(
        Bun.spawn([cp.binaries.kubectl, `--kubeconfig=${kubeconfigPath}`, ...args], {
          cwd: opts.cwd,
          stdin: opts.input ? Buffer.from(opts.input) : "ignore",
          stdout: "pipe",
          stderr: "pipe",
        }),
      ),
    sh: (line, opts = {}) =>
      collect(
        Bun.spawn(["bash", "-euo", "pipefail", "-c", line], {
          cwd: opts.cwd,
          env: { ...process.env, KUBECONFIG: kubeconfigPath, PATH: `${binDir}:${process.env.PATH}` },
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
        }),
      ),
  };
}

/** The run's one cluster with a node. */
export function testNodeCluster(): Promise<NodeCluster> {
  const holder = globalThis as Holder;
  holder[key] ??= startE2eCluster();
  return holder[key];
}

export async function stopTestNodeCluster(): Promise<void> {
  const holder = globalThis as Holder;
  const running = holder[key];
  delete holder[key];
  if (!running) return;
  const c = await running.catch(() => undefined);
  if (!c) return;
  await c.stop();
}

/**
 * Installs the cluster-wide part and a domain with the README's commands (idempotent: server-side
 * apply, the token Secret applied rather than created), waits for every Deployment to be
 * Available, and returns the domain's gateway URL (its ClusterIP Service) and a client token.
 */
export async function ensureDomain(cluster: NodeCluster, domain: string): Promise<{ url: URL; token: string }> {
  const ns = `mcp-${domain}`;
  const steps = [
    installClusterCommand,
    installDomainCommand(domain),
    `kubectl -n ${ns} get secret mcp-gateway-tokens >/dev/null 2>&1 || ${createTokenCommand(domain)}`,
  ];
  for (const line of steps) {
    const res = await cluster.sh(line, { cwd: repoRoot });
    if (res.code !== 0) throw new Error(`${line}\nexit ${res.code}\n${res.stderr}`);
  }
  await waitAvailable(cluster, ns, 240);
  return gatewayOf(cluster, ns);
}

/** A domain's gateway as a client in the cluster reaches it: the Service's ClusterIP, a token of its Secret. */
export async function gatewayOf(cluster: NodeCluster, ns: string): Promise<{ url: URL; token: string }> {
  const secret = await cluster.conn.request<{ data: Record<string, string> }>(
    "GET",
    `/api/v1/namespaces/${ns}/secrets/mcp-gateway-tokens`,
  );
  const token = Buffer.from(Object.values(secret.data)[0] ?? "", "base64").toString();
  const svc = await cluster.conn.request<{ spec: { clusterIP: string; ports: { port: number }[] } }>(
    "GET",
    `/api/v1/namespaces/${ns}/services/mcp-gateway`,
  );
  const url = new URL(`http://${svc.spec.clusterIP}:${svc.spec.ports[0]?.port}/mcp`);
  // Available pods are not yet a Service that answers: kube-proxy programs its rules a moment later.
  await eventually(async () => (await fetch(new URL("/readyz", url))).ok, {
    message: `the gateway Service ${ns}/mcp-gateway answers`,
    timeout: 30_000,
  });
  return { url, token };
}

/** Waits until every Deployment of the namespace is Available (kubectl wait); throws with kubectl's words if not. */
export async function waitAvailable(cluster: NodeCluster, namespace: string, timeoutSeconds: number): Promise<void> {
  const waits = [
    ["-n", namespace, "wait", "--for=condition=Available", "deployment", "--all"],
    // until Kubernetes counts the domain's quota on Tasks, every Task is refused (quota-recount.ts)
    ["-n", namespace, "wait", "resourcequota/mcp-tasks", "--for=jsonpath={.status.used.count/tasks\\.mcp\\.io}"],
  ];
  for (const args of waits) {
    const res = await cluster.kubectl([...args, `--timeout=${timeoutSeconds}s`]);
    if (res.code !== 0 || res.stderr) throw new Error(`kubectl ${args.join(" ")}: ${res.stderr || `exit ${res.code}`}`);
  }
}

/** The names of the namespace's Running pods of one app (label app.kubernetes.io/name), with their addresses. */
export async function runningPods(cluster: NodeCluster, namespace: string, app: string) {
  const pods = await cluster.conn.request<{
    items: { metadata: { name: string }; status: { phase: string; podIP?: string } }[];
  }>(
    "GET",
    `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/name=${app}`)}`,
  );
  return pods.items
    .filter((p) => p.status.phase === "Running")
    .map((p) => ({ name: p.metadata.name, ip: p.status.podIP }));
}
