/**
 * The test run's one control plane, started on first use and stopped after
 * the last test (see test/setup.ts), plus helpers every integration test
 * needs: an admin connection, a fresh namespace per test, and kubectl.
 */

import { installCrds } from "../../lib/api/install.ts";
import { type McpClients, mcpClients } from "../../lib/api/resources.ts";
import { LocalControlPlane } from "../../lib/control-plane/local.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";

export interface TestCluster {
  cp: LocalControlPlane;
  kubeconfigPath: string;
  conn: KubeConnection;
  mcp: McpClients;
  /** Creates a namespace with a unique name for one test. */
  newNamespace(prefix: string): Promise<string>;
  /** Runs the pinned kubectl with the admin kubeconfig. */
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /**
   * Starts kube-controller-manager beside the shared control plane, once
   * (Deployments make ReplicaSets and Pods, the garbage collector follows
   * owner references); later tests of the run keep it.
   */
  ensureControllerManager(): Promise<void>;
}

const key = Symbol.for("mcp-conductor.test-cluster");
type Holder = { [key]?: Promise<TestCluster> };

async function startCluster(): Promise<TestCluster> {
  const cp = await LocalControlPlane.start();
  const kubeconfigPath = cp.writeKubeconfig();
  const conn = KubeConnection.fromOptions({ kubeconfigPath });
  try {
    await installCrds(conn);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  let counter = 0;
  let controllerManager: Promise<void> | undefined;
  return {
    ensureControllerManager() {
      controllerManager ??= cp.startControllerManager();
      return controllerManager;
    },
    cp,
    kubeconfigPath,
    conn,
    mcp: mcpClients(conn),
    async newNamespace(prefix) {
      const name = `${prefix}-${process.pid % 1000}-${++counter}-${Math.random().toString(36).slice(2, 6)}`
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, "-")
        .slice(0, 63);
      await conn.request("POST", "/api/v1/namespaces", {
        body: { apiVersion: "v1", kind: "Namespace", metadata: { name } },
      });
      return name;
    },
    async kubectl(args, input) {
      const proc = Bun.spawn([cp.binaries.kubectl, `--kubeconfig=${kubeconfigPath}`, ...args], {
        stdin: input ? Buffer.from(input) : "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ]);
      return { code, stdout, stderr };
    },
  };
}

/** The shared control plane of this test run. */
export function testCluster(): Promise<TestCluster> {
  const holder = globalThis as Holder;
  holder[key] ??= startCluster();
  return holder[key];
}

/** Stops the shared control plane if a test started it. */
export async function stopTestCluster(): Promise<void> {
  const holder = globalThis as Holder;
  const running = holder[key];
  delete holder[key];
  if (running) await (await running).cp.stop();
}
