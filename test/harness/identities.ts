/**
 * The identities the overlays give the conductor's services, as a test on
 * the shared control plane takes them on: a ServiceAccount token from
 * TokenRequest, bound to a pod when one is named, as the kubelet mounts it
 * (an agent's token then names its pod, which the admission policies and the
 * task authorizer check).
 */
import { KubeConnection } from "../../lib/kube/connection.ts";
import type { TestCluster } from "./cluster.ts";

export interface PodRef {
  name: string;
  uid: string;
}

/** A connection with a token for `sa` in `namespace`, bound to `pod` when given. */
export async function serviceAccountConnection(
  cluster: TestCluster,
  namespace: string,
  sa: string,
  pod?: PodRef,
): Promise<KubeConnection> {
  const res = await cluster.conn.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: {
          expirationSeconds: 600,
          ...(pod ? { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: pod.name, uid: pod.uid } } : {}),
        },
      },
    },
  );
  return KubeConnection.fromOptions({ kubeconfigYaml: cluster.cp.kubeconfig({ token: res.status.token }) });
}

/** An agent's pod object, restricted as the overlays run it; it never runs (no node), it only names a token. */
export async function createAgentPod(cluster: TestCluster, namespace: string, name: string): Promise<PodRef> {
  const pod = await cluster.conn.request<{ metadata: { uid: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/pods`,
    {
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name },
        spec: {
          serviceAccountName: "mcp-agent",
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "agent",
              image: "mcp-conductor",
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
            },
          ],
        },
      },
    },
  );
  return { name, uid: pod.metadata.uid };
}
