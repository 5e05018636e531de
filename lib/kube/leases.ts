/**
 * coordination.k8s.io/v1 Leases: the type, a typed client and the time format
 * of their timestamps. The agents renew one each as their heartbeat
 * (lib/agent/lease.ts) and the controller watches those
 * (services/controller/agent-health.ts).
 */
import type { KubeConnection } from "./connection.ts";
import { type KubeObject, ResourceClient, type ResourceType } from "./resource-client.ts";

export interface Lease extends KubeObject {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export const leaseType: ResourceType = {
  group: "coordination.k8s.io",
  version: "v1",
  plural: "leases",
  kind: "Lease",
  namespaced: true,
};

export const leaseClient = (conn: KubeConnection): ResourceClient<Lease> => new ResourceClient<Lease>(conn, leaseType);

/**
 * A Lease's timestamps are MicroTime: RFC 3339 with exactly six fractional
 * digits. The apiserver parses them with that layout and refuses the three
 * digits of toISOString ("cannot parse").
 */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
