// The node's teardown: stopping it leaves nothing on the machine. The last
// part of the suite: it stops the node the others share.
import { describe, expect, test } from "bun:test";
import { nodeHostTraces } from "../../lib/control-plane/node.ts";
import { stopTestNodeCluster } from "../harness/node.ts";
import type { E2e } from "./suite.ts";

/** Stops the node and checks it left nothing behind. */
export function registerTeardown(e2e: E2e): void {
  describe("teardown", () => {
    test("stopping the node leaves no process, iptables rule, interface, mount or lock behind", async () => {
      // While it runs, its traces are there: the check below can fail.
      const running = nodeHostTraces();
      expect(running.some((t) => t.startsWith("interface"))).toBe(true);
      expect(running.some((t) => t.startsWith("process"))).toBe(true);
      expect(running.some((t) => t.includes("KUBE-"))).toBe(true);
      const started = performance.now();
      await stopTestNodeCluster();
      e2e.figures.teardownSeconds = (performance.now() - started) / 1000;
      expect(nodeHostTraces()).toEqual([]);
    }, 120_000);
  });
}
