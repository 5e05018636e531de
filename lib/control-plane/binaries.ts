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
}

let cached: ControlPlaneBinaries | undefined;

function runBuildScript(script: string): string {
  const res = Bun.spawnSync(["bash", script], { stdout: "pipe", stderr: "inherit" });
  if (res.exitCode !== 0) throw new Error(`${script} failed with exit code ${res.exitCode}`);
  return res.stdout.toString().trim().split("\n").pop() ?? "";
}

let grpcurl: string | undefined;
let inspector: string | undefined;

/** The launcher of the pinned MCP Inspector, installed by hack/tools/install-inspector.sh. */
export function inspectorLauncher(): string {
  inspector ??= runBuildScript(join(repoRoot, "hack", "tools", "install-inspector.sh"));
  return inspector;
}

/** The pinned grpcurl, built by hack/tools/build.sh. */
export function grpcurlBinary(): string {
  grpcurl ??= join(runBuildScript(join(repoRoot, "hack", "tools", "build.sh")), "grpcurl");
  return grpcurl;
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
  };
  return cached;
}
