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
import { procCpuMs } from "./chaos/processes.ts";

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

/** CPU time used so far, in ms: the control plane's apiserver and etcd, and this process (whatever the bench runs in it). */
export interface CpuTimes {
  apiserver: number;
  etcd: number;
  bench: number;
}

export function cpuNow(cp: LocalControlPlane): CpuTimes {
  const ms = (pid: number | undefined) => (pid ? (procCpuMs(pid) ?? 0) : 0);
  return { apiserver: ms(cp.pids["kube-apiserver"]), etcd: ms(cp.pids.etcd), bench: ownCpuMs() };
}

/** This process's CPU time so far (user + system), in ms. */
export function ownCpuMs(): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1000;
}

/** The CPU time used between two readings, per unit of work (a call, a task), in ms. */
export function cpuPer(from: CpuTimes, to: CpuTimes, units: number): CpuTimes {
  return {
    apiserver: (to.apiserver - from.apiserver) / units,
    etcd: (to.etcd - from.etcd) / units,
    bench: (to.bench - from.bench) / units,
  };
}
