// Preloaded by bun test (bunfig.toml): stops the shared control plane and the
// end-to-end suite's node, if any test started them, after the last test file.
import { afterAll } from "bun:test";
import { stopTestCluster } from "./harness/cluster.ts";
import { stopTestNodeCluster } from "./harness/node.ts";

afterAll(async () => {
  await stopTestNodeCluster();
  await stopTestCluster();
});
