// What the end-to-end suite's parts share: the cluster with a node (started
// once, in node.test.ts's beforeAll) and the figures printed at the end.
import type { NodeCluster } from "../harness/node.ts";

export interface E2e {
  cluster: NodeCluster;
  figures: Record<string, number | string>;
}
