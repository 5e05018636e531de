/**
 * Server-side apply of manifests (multi-document YAML), the way
 * `kubectl apply --server-side` does it, with a field manager of our own.
 */
import { parseAllDocuments } from "yaml";
import type { KubeConnection } from "./connection.ts";
import type { KubeObject } from "./resource-client.ts";

export const fieldManager = "mcp-conductor";

/** Well-known built-in kinds the conductor applies, by kind. */
const builtinPaths: Record<string, { prefix: string; plural: string; namespaced: boolean }> = {
  CustomResourceDefinition: {
    prefix: "/apis/apiextensions.k8s.io/v1",
    plural: "customresourcedefinitions",
    namespaced: false,
  },
  Namespace: { prefix: "/api/v1", plural: "namespaces", namespaced: false },
  ServiceAccount: { prefix: "/api/v1", plural: "serviceaccounts", namespaced: true },
  ConfigMap: { prefix: "/api/v1", plural: "configmaps", namespaced: true },
  Secret: { prefix: "/api/v1", plural: "secrets", namespaced: true },
  Service: { prefix: "/api/v1", plural: "services", namespaced: true },
  Deployment: { prefix: "/apis/apps/v1", plural: "deployments", namespaced: true },
  Role: { prefix: "/apis/rbac.authorization.k8s.io/v1", plural: "roles", namespaced: true },
  RoleBinding: { prefix: "/apis/rbac.authorization.k8s.io/v1", plural: "rolebindings", namespaced: true },
  ClusterRole: { prefix: "/apis/rbac.authorization.k8s.io/v1", plural: "clusterroles", namespaced: false },
  ClusterRoleBinding: {
    prefix: "/apis/rbac.authorization.k8s.io/v1",
    plural: "clusterrolebindings",
    namespaced: false,
  },
  Agent: { prefix: "/apis/mcp.io/v1", plural: "agents", namespaced: true },
  Task: { prefix: "/apis/mcp.io/v1", plural: "tasks", namespaced: true },
  MCPServer: { prefix: "/apis/mcp.io/v1", plural: "mcpservers", namespaced: true },
};

export function parseManifests(yamlText: string): KubeObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => {
      if (d.errors.length) throw new Error(`invalid YAML: ${d.errors[0]?.message}`);
      return d.toJSON() as KubeObject | null;
    })
    .filter((o): o is KubeObject => !!o && typeof o === "object");
}

/** Applies each object with server-side apply (creating it when missing). */
export async function applyObjects(
  conn: KubeConnection,
  objects: KubeObject[],
  opts: { namespace?: string; force?: boolean } = {},
): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const obj of objects) {
    const where = obj.kind ? builtinPaths[obj.kind] : undefined;
    if (!where) throw new Error(`applyObjects does not know kind ${obj.kind}`);
    const ns = obj.metadata.namespace ?? opts.namespace;
    if (where.namespaced && !ns) throw new Error(`${obj.kind} ${obj.metadata.name} needs a namespace`);
    const base = where.namespaced
      ? `${where.prefix}/namespaces/${ns}/${where.plural}`
      : `${where.prefix}/${where.plural}`;
    const body = where.namespaced ? { ...obj, metadata: { ...obj.metadata, namespace: ns } } : obj;
    applied.push(
      await conn.request<KubeObject>("PATCH", `${base}/${obj.metadata.name}`, {
        body,
        contentType: "application/apply-patch+yaml",
        query: { fieldManager, force: opts.force ?? true },
      }),
    );
  }
  return applied;
}
