// Preloaded by bun test (bunfig.toml): stops the shared control plane, if any
// test started it, after the last test file.
import { afterAll } from "bun:test";
import { stopTestCluster } from "./harness/cluster.ts";

afterAll(async () => {
  await stopTestCluster();
});
