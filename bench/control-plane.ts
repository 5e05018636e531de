/**
 * A bench's domain on a local control plane: the CRDs installed, its
 * namespaces made, and a kubeconfig file for the conductor processes the bench
 * starts. The bench starts and stops the control plane itself, so it can
 * arrange the stop (its finally, Ctrl-C) before anything here can fail.
 */
import { installCrds } from "../lib/api/install.ts";
import { type McpClients, mcpClients } from "../lib/api/resources.ts";
import type { LocalControlPlane } from "../lib/control-plane/local.ts";
import { KubeConnection } from "../lib/kube/connection.ts";

export interface BenchDomain {
  /** A kubeconfig file, for processes: they read it from KUBECONFIG. */
  kubeconfig: string;
  conn: KubeConnection;
  mcp: McpClients;
}

/** The CRDs and `namespaces`; a bench that makes a namespace per phase adds it later with createNamespace. */
export async function setUpDomain(cp: LocalControlPlane, ...namespaces: string[]): Promise<BenchDomain> {
  const kubeconfig = cp.writeKubeconfig();
  const conn = KubeConnection.fromOptions({ kubeconfigPath: kubeconfig });
  await installCrds(conn);
  for (const namespace of namespaces) await createNamespace(conn, namespace);
  return { kubeconfig, conn, mcp: mcpClients(conn) };
}

export async function createNamespace(conn: KubeConnection, name: string): Promise<string> {
  await conn.request("POST", "/api/v1/namespaces", { body: { metadata: { name } } });
  return name;
}
