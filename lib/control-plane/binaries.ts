/**
 * Finds the control-plane binaries: KUBEBUILDER_ASSETS when set, else the
 * cache that hack/control-plane/build.sh fills from the pinned Go modules
 * (building them first if the pins changed).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = join(import.meta.dir, "..", "..");

export interface ControlPlaneBinaries {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  /** The node's binaries, from the same pinned module (absent from KUBEBUILDER_ASSETS). */
  kubelet: string;
  kubeProxy: string;
  kubeScheduler: string;
}

let cached: ControlPlaneBinaries | undefined;

/** Runs a build step in the repository, its progress on stderr; returns what it printed on stdout. */
export function runBuildStep(cmd: string[]): string {
  const res = Bun.spawnSync(cmd, { cwd: repoRoot, stdout: "pipe", stderr: "inherit" });
  if (res.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed with exit code ${res.exitCode}`);
  return res.stdout.toString();
}

/** Runs a hack/ build script that prints the folder of what it built as its last line. */
export function runBuildScript(script: string): string {
  return runBuildStep(["bash", script]).trim().split("\n").pop() ?? "";
}

let inspector: string | undefined;

/** The launcher of the pinned MCP Inspector, installed by hack/tools/install-inspector.sh. */
export function inspectorLauncher(): string {
  inspector ??= runBuildScript(join(repoRoot, "hack", "tools", "install-inspector.sh"));
  return inspector;
}

let toolsDir: string | undefined;
const tools = () => {
  toolsDir ??= runBuildScript(join(repoRoot, "hack", "tools", "build.sh"));
  return toolsDir;
};

/** The pinned grpcurl, built by hack/tools/build.sh. */
export function grpcurlBinary(): string {
  return join(tools(), "grpcurl");
}

/** The pinned kustomize (the one kubectl embeds), built by hack/tools/build.sh. */
export function kustomizeBinary(): string {
  return join(tools(), "kustomize");
}

let nodeAddons: string | undefined;

/** The folder holding the node's add-ons (CoreDNS), built by hack/node/build.sh. */
export function nodeAddonsDir(): string {
  nodeAddons ??= runBuildScript(join(repoRoot, "hack", "node", "build.sh"));
  return nodeAddons;
}

let nodeRuntime: string | undefined;

/** The folder holding containerd 2.x, its shim, ctr and runc, built by hack/node/build-runtime.sh. */
export function nodeRuntimeDir(): string {
  nodeRuntime ??= runBuildScript(join(repoRoot, "hack", "node", "build-runtime.sh"));
  return nodeRuntime;
}

let nodeNetworkPolicies: string | undefined;

/**
 * The folder holding the node's NetworkPolicy engine, kube-network-policies
 * patched for kernels without the nftables queue expression, built by
 * hack/node/build-network-policies.sh.
 */
export function nodeNetworkPoliciesDir(): string {
  nodeNetworkPolicies ??= runBuildScript(join(repoRoot, "hack", "node", "build-network-policies.sh"));
  return nodeNetworkPolicies;
}

export function controlPlaneBinaries(): ControlPlaneBinaries {
  if (cached) return cached;
  const dir = runBuildScript(join(repoRoot, "hack", "control-plane", "build.sh"));
  const bin = (name: string) => join(dir, name);
  if (!existsSync(bin("kube-apiserver"))) throw new Error(`no kube-apiserver in ${dir}`);
  cached = {
    dir,
    etcd: bin("etcd"),
    kubeApiserver: bin("kube-apiserver"),
    kubeControllerManager: bin("kube-controller-manager"),
    kubectl: existsSync(bin("kubectl")) ? bin("kubectl") : "kubectl",
    kubelet: bin("kubelet"),
    kubeProxy: bin("kube-proxy"),
    kubeScheduler: bin("kube-scheduler"),
  };
  return cached;
}
