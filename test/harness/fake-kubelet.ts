/**
 * A stand-in for kube-scheduler and a kubelet, as kwok does it: pods of one
 * namespace are bound to a node object that exists only in the apiserver and
 * reported Running and Ready, so that the real ReplicaSet and Deployment
 * controllers count them. No container runs; tests that need an MCP server
 * behind the pod run one on loopback themselves.
 */
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../../lib/kube/errors.ts";

export interface FakeKubeletPod {
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
    deletionTimestamp?: string;
  };
  spec: {
    nodeName?: string;
    securityContext?: { runAsUser?: number };
    containers: { name: string; image: string; securityContext?: { runAsUser?: number } }[];
  };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}
type Pod = FakeKubeletPod;

export interface FakeKubeletOptions {
  /**
   * Pods it neither binds nor makes Ready: the test plays the kubelet's part
   * for them (a container that cannot start, an image that cannot be pulled)
   * by writing their status itself.
   */
  leave?: (pod: FakeKubeletPod) => boolean;
}

export interface FakeKubelet {
  /** Stops making pods Ready; the ones it made stay as they are. */
  stop(): Promise<void>;
  /** Pauses: new pods stay Pending (to watch a rollout that does not finish). */
  pause(paused: boolean): void;
}

export const fakeNodeName = "fake-node-1";

async function ensureNode(conn: KubeConnection): Promise<void> {
  try {
    await conn.request("POST", "/api/v1/nodes", {
      body: { apiVersion: "v1", kind: "Node", metadata: { name: fakeNodeName, labels: { type: "fake" } } },
    });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

export async function startFakeKubelet(
  conn: KubeConnection,
  namespace: string,
  opts: FakeKubeletOptions = {},
): Promise<FakeKubelet> {
  await ensureNode(conn);
  let stopped = false;
  let paused = false;
  const base = `/api/v1/namespaces/${namespace}/pods`;
  const pass = async () => {
    const pods = await conn.request<{ items: Pod[] }>("GET", base);
    for (const pod of pods.items) {
      if (pod.metadata.deletionTimestamp) {
        // No kubelet confirms the shutdown, so finish it.
        await conn
          .request("DELETE", `${base}/${pod.metadata.name}`, { body: { gracePeriodSeconds: 0 } })
          .catch(() => {});
        continue;
      }
      if (paused || opts.leave?.(pod)) continue;
      try {
        if (!pod.spec.nodeName) {
          await conn.request("POST", `${base}/${pod.metadata.name}/binding`, {
            body: {
              apiVersion: "v1",
              kind: "Binding",
              metadata: { name: pod.metadata.name },
              target: { apiVersion: "v1", kind: "Node", name: fakeNodeName },
            },
          });
          continue; // its status next pass, on the bound object
        }
        if (pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) continue;
        const now = new Date().toISOString();
        const cond = (type: string) => ({ type, status: "True", lastTransitionTime: now });
        await conn.request("PUT", `${base}/${pod.metadata.name}/status`, {
          body: {
            ...pod,
            status: {
              phase: "Running",
              hostIP: "127.0.0.1",
              podIP: "127.0.0.1",
              startTime: now,
              conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map(cond),
              containerStatuses: pod.spec.containers.map((c) => ({
                name: c.name,
                image: c.image,
                imageID: "",
                ready: true,
                started: true,
                restartCount: 0,
                state: { running: { startedAt: now } },
              })),
            },
          },
        });
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await pass().catch(() => {});
      await Bun.sleep(150);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
    pause(p) {
      paused = p;
    },
  };
}
