/**
 * The test run's one control plane, started on first use and stopped after
 * the last test (see test/setup.ts), plus helpers every integration test
 * needs: an admin connection, a fresh namespace per test, and kubectl. Its
 * apiserver authorizes as deploy/authorization/ configures a cluster's
 * (ADR 0011): RBAC, then the agents' task authorizer, which runs in this
 * process on loopback with a certificate from the plane's CA.
 */

import { installCrds } from "../../lib/api/install.ts";
import { type McpClients, mcpClients } from "../../lib/api/resources.ts";
import { shippedAgentTasksAuthorizer } from "../../lib/control-plane/authorization.ts";
import { freePort, LocalControlPlane } from "../../lib/control-plane/local.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { silentLogger } from "../../lib/log.ts";
import { AuthorizerMetrics } from "../../services/authorizer/metrics.ts";
import { serveAuthorizer } from "../../services/authorizer/server.ts";

/** The agents' task authorizer beside the shared control plane. */
export interface TestAuthorizer {
  port: number;
  /** Its reviews so far, by decision. */
  metrics: AuthorizerMetrics;
  /** Stops it (what the apiserver would ask it then fails: failurePolicy Deny). */
  stop(): Promise<void>;
  /** Starts it again on its port, if stopped. */
  start(): void;
}

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
  authorizer: TestAuthorizer;
}

const key = Symbol.for("mcp-conductor.test-cluster");
type Holder = { [key]?: Promise<TestCluster> };

/** The authorizer on loopback, on a port chosen before the apiserver starts (which names it in its config). */
function startAuthorizer(cp: LocalControlPlane, port: number): TestAuthorizer {
  const serving = cp.pki.servingCert("mcp-authorizer", ["127.0.0.1"], ["localhost"]);
  const metrics = new AuthorizerMetrics();
  let server: ReturnType<typeof serveAuthorizer> | undefined;
  const authorizer: TestAuthorizer = {
    port,
    metrics,
    start() {
      server ??= serveAuthorizer({
        port,
        hostname: "127.0.0.1",
        tls: { cert: serving.cert, key: serving.key },
        log: silentLogger,
        metrics,
      });
    },
    async stop() {
      const s = server;
      server = undefined;
      await s?.stop();
    },
  };
  authorizer.start();
  return authorizer;
}

async function startCluster(): Promise<TestCluster> {
  const authorizerPort = await freePort();
  const cp = await LocalControlPlane.start({
    authorizationWebhook: {
      authorizer: shippedAgentTasksAuthorizer(),
      url: `https://127.0.0.1:${authorizerPort}/authorize`,
    },
  });
  const kubeconfigPath = cp.writeKubeconfig();
  const conn = KubeConnection.fromOptions({ kubeconfigPath });
  let authorizer: TestAuthorizer | undefined;
  try {
    authorizer = startAuthorizer(cp, authorizerPort);
    await installCrds(conn);
  } catch (err) {
    await authorizer?.stop();
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
    authorizer,
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
  if (!running) return;
  const cluster = await running;
  await cluster.authorizer.stop();
  await cluster.cp.stop();
}
