/**
 * `up`: runs the conductor. It uses the cluster $KUBECONFIG (or
 * ~/.kube/config) points at when that cluster answers; otherwise it starts a
 * local control plane on loopback. Then it installs the mcp.io CRDs, creates
 * the default domain namespace, starts the scheduler, the controller and the
 * MCP gateway for that domain and one example agent, and prints how to
 * reach everything. Ctrl-C stops what it started.
 *
 *   bun services/up/main.ts [--local] [--namespace mcp-system]
 *   bun services/up/main.ts --node [--domain data-processing]
 *
 * With --node (root only) it runs the conductor as users do: a local control
 * plane with a real node, the images built here, and the README's install
 * (the cluster-wide part, then one domain's overlay) applied to it.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { installCrds } from "../../lib/api/install.ts";
import { loadConfig, loadOrExit } from "../../lib/config/config.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import {
  installClusterCommand,
  installDomainCommand,
  waitReadyCommands,
} from "../../lib/control-plane/install-commands.ts";
import { freePort, LocalControlPlane } from "../../lib/control-plane/local.ts";
import { missingNodePrerequisites } from "../../lib/control-plane/node.ts";
import { startNodeCluster } from "../../lib/control-plane/node-cluster.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { isAlreadyExists } from "../../lib/kube/errors.ts";
import { createLogger } from "../../lib/log.ts";
import { upProgram } from "./config.ts";

const upStarted = performance.now();
const args = loadOrExit(() => loadConfig(upProgram));
const log = createLogger({ service: "up", level: args.logLevel });

if (args.node) {
  await runOnNode(args.domain);
  // runOnNode returns only on a signal, after stopping everything.
  process.exit(0);
}

/** The configured cluster, if there is one and it answers within a few seconds. */
async function reachableCluster(): Promise<{ conn: KubeConnection; kubeconfig: string } | undefined> {
  const path = process.env.KUBECONFIG || join(homedir(), ".kube", "config");
  if (!process.env.KUBECONFIG && !existsSync(path) && !process.env.KUBERNETES_SERVICE_HOST) return undefined;
  try {
    const conn = KubeConnection.fromOptions();
    await conn.request("GET", "/version", { signal: AbortSignal.timeout(3000) });
    return { conn, kubeconfig: path };
  } catch (err) {
    console.log(`The configured cluster (${path}) is not reachable: ${(err as Error).message}`);
    return undefined;
  }
}

let controlPlane: LocalControlPlane | undefined;
let target = args.local ? undefined : await reachableCluster();
if (target) {
  console.log(`Using the cluster at ${target.conn.server} (${target.kubeconfig})`);
} else {
  console.log("Starting a local control plane (etcd, kube-apiserver, kube-controller-manager)…");
  controlPlane = await LocalControlPlane.start({ controllerManager: true, logger: log });
  const stateDir = join(repoRoot, ".cache", "up");
  mkdirSync(stateDir, { recursive: true });
  const kubeconfig = join(stateDir, "kubeconfig");
  writeFileSync(kubeconfig, controlPlane.kubeconfig(), { mode: 0o600 });
  target = { conn: KubeConnection.fromOptions({ kubeconfigPath: kubeconfig }), kubeconfig };
}

const crds = await installCrds(target.conn);
try {
  await target.conn.request("POST", "/api/v1/namespaces", {
    body: {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: args.namespace, labels: { "mcp.io/domain": args.namespace } },
    },
  });
} catch (err) {
  if (!isAlreadyExists(err)) throw err;
}

// The conductor's services, as child processes that log to this terminal.
const schedulerPort = await freePort();
const controllerMetricsPort = await freePort();
const gatewayPort = await freePort();
const gatewayMetricsPort = await freePort();
const agentMetricsPort = await freePort();
const env = { ...process.env, KUBECONFIG: target.kubeconfig, LOG_LEVEL: args.logLevel };
const bun = process.execPath;
const children = [
  // No metrics port: the fixed default (9091) would clash with any other scheduler on the machine.
  Bun.spawn(
    [
      bun,
      join(repoRoot, "services", "scheduler", "main.ts"),
      `--port=${schedulerPort}`,
      "--host=127.0.0.1",
      "--metrics-port=0",
    ],
    { env, stdout: "ignore", stderr: "inherit" },
  ),
  Bun.spawn(
    [
      bun,
      join(repoRoot, "services", "controller", "main.ts"),
      `--namespace=${args.namespace}`,
      `--scheduler-address=127.0.0.1:${schedulerPort}`,
      `--metrics-port=${controllerMetricsPort}`,
    ],
    { env, stdout: "ignore", stderr: "inherit" },
  ),
  Bun.spawn(
    [
      bun,
      join(repoRoot, "services", "gateway", "main.ts"),
      `--namespace=${args.namespace}`,
      `--port=${gatewayPort}`,
      "--host=127.0.0.1",
      `--metrics-port=${gatewayMetricsPort}`,
      // Local and loopback only: open mode, no tokens (said in the banner below).
      "--allow-unauthenticated",
    ],
    { env, stdout: "ignore", stderr: "inherit" },
  ),
  // One example agent, so there are tools to call.
  Bun.spawn(
    [
      bun,
      join(repoRoot, "services", "agents", "data-processor", "main.ts"),
      `--namespace=${args.namespace}`,
      "--name=data-processor-local",
      `--metrics-port=${agentMetricsPort}`,
    ],
    { env, stdout: "ignore", stderr: "inherit" },
  ),
];
for (const url of [
  `http://127.0.0.1:${controllerMetricsPort}/readyz`,
  `http://127.0.0.1:${gatewayPort}/readyz`,
  `http://127.0.0.1:${agentMetricsPort}/readyz`,
]) {
  for (let i = 0; ; i++) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 300) throw new Error(`${url} did not become ready`);
    await Bun.sleep(100);
  }
}

const kubectl = controlPlane ? controlPlane.binaries.kubectl : "kubectl";
console.log(`
Ready.
  Kubernetes API   ${target.conn.server}
  CRDs             ${crds.join(", ")}
  Domain           namespace ${args.namespace}
  Scheduler        127.0.0.1:${schedulerPort} (gRPC, reflection on)
  Controller       http://127.0.0.1:${controllerMetricsPort}/metrics
  MCP gateway      http://127.0.0.1:${gatewayPort}/mcp (Streamable HTTP; open: no authentication, loopback only)
  Gateway metrics  http://127.0.0.1:${gatewayMetricsPort}/metrics
  Agent            data-processor-local (csv_to_json, json_to_csv, query_records, validate_json)
  Try              export KUBECONFIG=${target.kubeconfig}
                   ${kubectl} apply -f ${join(repoRoot, "deploy", "samples")}
                   ${kubectl} get mcp -n ${args.namespace}
                   grpcurl -plaintext -d '{"namespace":"${args.namespace}","task":{"requiredCapabilities":["data-processing"]}}' 127.0.0.1:${schedulerPort} mcp.conductor.scheduler.v1.SchedulerService/WhatIf
Press Ctrl-C to stop.`);

async function shutdown(signal: string): Promise<void> {
  console.log(`\n${signal}: stopping…`);
  for (const c of children) c.kill("SIGTERM");
  await Promise.all(children.map((c) => c.exited));
  await controlPlane?.stop();
  console.log("Stopped.");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
// Keep the process alive until a signal arrives.
setInterval(() => {}, 1 << 30);

/** `up --node`: the conductor as pods on a local node, installed by the README's commands. */
async function runOnNode(domain: string): Promise<void> {
  const unavailable = missingNodePrerequisites();
  if (unavailable.length) {
    console.error(`up --node needs: ${unavailable.join("; ")}`);
    process.exit(1);
  }
  console.log("Building images and starting a local control plane with a node…");
  const cluster = await startNodeCluster({ logger: log });
  const stateDir = join(repoRoot, ".cache", "up");
  mkdirSync(stateDir, { recursive: true });
  const kubeconfig = join(stateDir, "kubeconfig");
  writeFileSync(kubeconfig, cluster.cp.kubeconfig(), { mode: 0o600 });
  const namespace = `mcp-${domain}`;
  const sh = (line: string) => {
    const res = Bun.spawnSync(["bash", "-euo", "pipefail", "-c", line], {
      cwd: repoRoot,
      env: { ...process.env, KUBECONFIG: kubeconfig, PATH: `${cluster.cp.binaries.dir}:${process.env.PATH}` },
      stdout: "pipe",
      stderr: "pipe",
    });
    if (res.exitCode !== 0) throw new Error(`${line}: ${res.stderr.toString().trim()}`);
    return res.stdout.toString().trim();
  };
  const stop = async (signal: string) => {
    console.log(`\n${signal}: stopping…`);
    await cluster.stop();
    console.log("Stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  try {
    sh(installClusterCommand);
    sh(installDomainCommand(domain));
    const token = crypto.randomUUID().replaceAll("-", "");
    sh(`kubectl -n ${namespace} create secret generic mcp-gateway-tokens --from-literal=local=${token}`);
    for (const line of waitReadyCommands(domain)) sh(line);
    const ip = sh(`kubectl -n ${namespace} get service mcp-gateway -o jsonpath='{.spec.clusterIP}'`);
    console.log(`
Ready in ${((performance.now() - upStarted) / 1000).toFixed(1)} s (node ${cluster.startSeconds.toFixed(1)} s).
  Kubernetes API   ${cluster.cp.server}
  Node             ${cluster.node.dataDir} (kubelet, containerd, kube-proxy, CoreDNS)
  Domain           namespace ${namespace}, installed from kustomize/cluster and kustomize/overlays/${domain}
  MCP gateway      http://${ip}:8080/mcp (the Service, through kube-proxy)
  Token            ${token} (Authorization: Bearer …)
  Try              export KUBECONFIG=${kubeconfig}
                   ${cluster.cp.binaries.kubectl} get pods,agents,tasks -n ${namespace}
Press Ctrl-C to stop.`);
  } catch (err) {
    console.error(`up --node: ${(err as Error).message}`);
    await cluster.stop();
    process.exit(1);
  }
  await new Promise(() => {});
}
