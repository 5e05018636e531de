/**
 * The cluster a command talks to: `--kubeconfig`, else $KUBECONFIG or
 * ~/.kube/config (or the in-cluster service account), through the same
 * KubeConnection the services use, so TLS and credentials work under Bun.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { CommandError } from "./errors.ts";

/** The conductor's default domain, used when neither the flag nor the kubeconfig names a namespace. */
export const defaultNamespace = "mcp-system";

export interface Target {
  conn: KubeConnection;
  /** `-n`, else the kubeconfig context's namespace, else mcp-system. */
  namespace: string;
}

let server: string | undefined;

/** The apiserver this process connected to, for error messages (one command runs per process). */
export const connectedServer = (): string | undefined => server;

export function connect(flags: { kubeconfig?: string; namespace?: string }): Target {
  // Say what to do, rather than the loader's account of where it looked.
  if (
    !flags.kubeconfig &&
    !process.env.KUBECONFIG &&
    !process.env.KUBERNETES_SERVICE_HOST &&
    !existsSync(join(homedir(), ".kube", "config"))
  ) {
    throw new CommandError("no kubeconfig: set $KUBECONFIG or pass --kubeconfig (`conductor up` prints one)");
  }
  let conn: KubeConnection;
  try {
    conn = KubeConnection.fromOptions({ kubeconfigPath: flags.kubeconfig });
  } catch (err) {
    const where = flags.kubeconfig ?? process.env.KUBECONFIG ?? "the default kubeconfig";
    throw new CommandError(`cannot load the kubeconfig (${where}): ${(err as Error).message}`);
  }
  server = conn.server;
  return {
    conn,
    namespace: flags.namespace || conn.kubeconfig.namespace || defaultNamespace,
  };
}
