/**
 * A bench's domain on a local control plane: the CRDs installed, its
 * namespaces made, and a kubeconfig file for the conductor processes the bench
 * starts. The bench starts and stops the control plane itself, so it can
 * arrange the stop (its finally, Ctrl-C) before anything here can fail.
 */
import { installCrds } from "../lib/api/install.ts";
import { type McpClients, mcpClients, type Task } from "../lib/api/resources.ts";
import type { LocalControlPlane } from "../lib/control-plane/local.ts";
import { KubeConnection } from "../lib/kube/connection.ts";
import { Informer } from "../lib/kube/informer.ts";
import { silentLogger } from "../lib/log.ts";
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

/** A bare client's view of its Tasks: one watch, and a promise per Task awaited. */
export interface TaskWatch {
  /** Resolves once the watch shows Task `name` meeting `until` (at once if its cache already does). */
  seen(name: string, until: (t: Task) => boolean): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Watches the Tasks of `namespace` (those with `labelSelector`, if given), as
 * the benches' bare clients observe their own writes: a create or status write
 * counts as done when the watch shows it, as a call through the gateway is
 * answered when its watch shows the result.
 */
export async function watchTasks(conn: KubeConnection, namespace: string, labelSelector?: string): Promise<TaskWatch> {
  const informer = new Informer(mcpClients(conn).tasks, { namespace, labelSelector, logger: silentLogger });
  const waiting = new Map<string, { until: (t: Task) => boolean; resolve: () => void }>();
  const notify = (t: Task) => {
    const w = waiting.get(t.metadata.name ?? "");
    if (w?.until(t)) {
      waiting.delete(t.metadata.name ?? "");
      w.resolve();
    }
  };
  informer.on({ add: notify, update: notify, delete: () => {} });
  await informer.start();
  return {
    seen: (name, until) =>
      new Promise<void>((resolve) => {
        waiting.set(name, { until, resolve });
        const cached = informer.get(namespace, name);
        if (cached) notify(cached);
      }),
    stop: () => informer.stop(),
  };
}
