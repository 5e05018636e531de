/**
 * A local control plane with a real node and the project's images on it: what
 * `up --node` runs and the end-to-end suite tests against. The images are
 * built (or taken from the cache) first, so a build failure leaves nothing
 * running. The node enforces NetworkPolicies (kube-network-policies); the
 * apiserver asks the agents' task authorizer, installed as a cluster admin
 * would (ADR 0011); the conductor's image is also tagged with the name the
 * kustomize base gives it, so the README's install runs unchanged.
 */
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { shippedAgentTasksAuthorizer, shippedAuthorizerUrl } from "./authorization.ts";
import { nodeNetworkPoliciesDir, nodeRuntimeDir, repoRoot } from "./binaries.ts";
import { type BuiltImages, buildImages } from "./images.ts";
import { LocalControlPlane } from "./local.ts";
import { cleanUpNodeHost, LocalNode } from "./node.ts";

export interface NodeCluster {
  cp: LocalControlPlane;
  node: LocalNode;
  images: BuiltImages;
  /** Seconds from the call to Node Ready with CoreDNS running and the images imported. */
  startSeconds: number;
  stop(): Promise<void>;
}

export async function startNodeCluster(opts: { logger?: Logger } = {}): Promise<NodeCluster> {
  const started = performance.now();
  const images = buildImages();
  const runtimeDir = nodeRuntimeDir();
  const networkPoliciesDir = nodeNetworkPoliciesDir();
  const nodeAddress = LocalNode.prepareNetwork();
  let cp: LocalControlPlane;
  try {
    cp = await LocalControlPlane.start({
      controllerManager: true,
      nodeAddress,
      authorizationWebhook: { authorizer: shippedAgentTasksAuthorizer(), url: shippedAuthorizerUrl().href },
      logger: opts.logger,
    });
  } catch (err) {
    cleanUpNodeHost({ dataDir: "/nonexistent", pids: [] });
    throw err;
  }
  let node: LocalNode | undefined;
  try {
    node = await LocalNode.start(cp, {
      images: images.archives,
      runtimeDir,
      networkPoliciesDir,
      logger: opts.logger,
    });
    for (const [ref, alias] of images.aliases) node.ctr(["images", "tag", "--force", ref, alias]);
    installAgentTasksAuthorizer(cp, node);
  } catch (err) {
    await node?.stop();
    await cp.stop();
    throw err;
  }
  const running = node;
  return {
    cp,
    node: running,
    images,
    startSeconds: (performance.now() - started) / 1000,
    async stop() {
      await running.stop();
      await cp.stop();
    },
  };
}

/**
 * The agents' task authorizer the apiserver was started to ask, installed as
 * docs/deployment.md has a cluster admin do it: a serving certificate for the
 * Service's fixed address signed by the CA the apiserver trusts for it, the
 * Secret, kustomize/cluster/authorizer; and waits for it, since until a
 * replica answers agents read no Task (failurePolicy Deny).
 */
function installAgentTasksAuthorizer(cp: LocalControlPlane, node: LocalNode): void {
  const namespace = "mcp-conductor-system";
  const serving = cp.pki.servingCert(
    "mcp-authorizer",
    [shippedAuthorizerUrl().hostname],
    [`mcp-authorizer.${namespace}.svc`, `mcp-authorizer.${namespace}.svc.cluster.local`],
  );
  node.kubectl(
    ["apply", "--server-side", "-f", "-"],
    node.kubectl(["kustomize", join(repoRoot, "kustomize", "cluster", "authorizer")]),
  );
  node.kubectl(
    ["apply", "--server-side", "-f", "-"],
    node.kubectl([
      "-n",
      namespace,
      "create",
      "secret",
      "tls",
      "mcp-authorizer-tls",
      `--cert=${serving.certPath}`,
      `--key=${serving.keyPath}`,
      "--dry-run=client",
      "-o",
      "yaml",
    ]),
  );
  node.kubectl(["-n", namespace, "rollout", "status", "deployment/mcp-authorizer", "--timeout=3m"]);
}
