/**
 * Installs the mcp.io CRDs from deploy/crds and waits until the apiserver
 * serves them (condition Established).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applyObjects, parseManifests } from "../kube/apply.ts";
import type { KubeConnection } from "../kube/connection.ts";
import type { KubeObject } from "../kube/resource-client.ts";

export const crdDir = join(import.meta.dir, "..", "..", "deploy", "crds");

interface CrdStatus {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export function readCrds(dir = crdDir): KubeObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => parseManifests(readFileSync(join(dir, f), "utf8")))
    .filter((o) => o.kind === "CustomResourceDefinition");
}

export async function installCrds(conn: KubeConnection, opts: { timeoutMs?: number } = {}): Promise<string[]> {
  const crds = readCrds();
  await applyObjects(conn, crds);
  const names = crds.map((c) => c.metadata.name as string);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (const name of names) {
    for (;;) {
      const crd = await conn.request<CrdStatus>(
        "GET",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      const cond = (t: string) => crd.status?.conditions?.find((c) => c.type === t);
      if (cond("NamesAccepted")?.status === "False") throw new Error(`CRD ${name}: ${cond("NamesAccepted")?.message}`);
      if (cond("Established")?.status === "True") break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established in time`);
      await Bun.sleep(50);
    }
  }
  return names;
}
