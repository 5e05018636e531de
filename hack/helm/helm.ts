/**
 * The pinned Helm, built from its Go module by hack/helm/build.sh (cached;
 * nothing is built when current), and a runner for it whose configuration,
 * cache and data folders are a scratch folder of its own, so that tests
 * neither read nor write the user's Helm settings and repositories.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, runBuildStep } from "../../lib/control-plane/binaries.ts";

let helmDir: string | undefined;

/** The path of the pinned helm binary, building it first if the pins changed. */
export function helmBinary(): string {
  helmDir ??=
    runBuildStep(["bash", join(repoRoot, "hack", "helm", "build.sh")])
      .trim()
      .split("\n")
      .pop() ?? "";
  return join(helmDir, "helm");
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm in the repository with `args`; `kubeconfig` names the cluster for the commands that need one. */
export type Helm = (args: string[]) => Promise<HelmResult>;

export function helmRunner(opts: { kubeconfig?: string } = {}): Helm {
  const binary = helmBinary();
  const home = mkdtempSync(join(tmpdir(), "helm-home-"));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_DATA_HOME: join(home, "data"),
    NO_COLOR: "1",
  };
  if (opts.kubeconfig) env.KUBECONFIG = opts.kubeconfig;
  return async (args) => {
    const proc = Bun.spawn([binary, ...args], { cwd: repoRoot, env, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { code, stdout, stderr };
  };
}
