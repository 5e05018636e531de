/**
 * A local control plane with a real node and the project's images on it: what
 * `up --node` runs and the end-to-end suite tests against. The images are
 * built (or taken from the cache) first, so a build failure leaves nothing
 * running; the conductor's image is also tagged with the name the kustomize
 * base gives it, so the README's install runs unchanged.
 */
import type { Logger } from "../log.ts";
import { nodeRuntimeDir } from "./binaries.ts";
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
  const nodeAddress = LocalNode.prepareNetwork();
  let cp: LocalControlPlane;
  try {
    cp = await LocalControlPlane.start({ controllerManager: true, nodeAddress, logger: opts.logger });
  } catch (err) {
    cleanUpNodeHost({ dataDir: "/nonexistent", pids: [] });
    throw err;
  }
  let node: LocalNode;
  try {
    node = await LocalNode.start(cp, { images: images.archives, runtimeDir, logger: opts.logger });
    for (const [ref, alias] of images.aliases) node.ctr(["images", "tag", "--force", ref, alias]);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  return {
    cp,
    node,
    images,
    startSeconds: (performance.now() - started) / 1000,
    async stop() {
      await node.stop();
      await cp.stop();
    },
  };
}
