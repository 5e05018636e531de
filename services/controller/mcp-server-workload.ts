/**
 * What an MCPServer should become, and what its status says, as pure
 * functions: the operator applies the objects these return and writes the
 * status they compute, and the tests check them without a cluster.
 *
 * A managed server (spec.image) is a Deployment and a Service of the same
 * name, owned by the MCPServer so that deleting it deletes them. A stdio
 * server runs behind the conductor's Streamable HTTP bridge: an init
 * container copies the bridge (one static file) from the conductor image
 * into a shared emptyDir, and the server container starts the bridge, which
 * starts the server's command and speaks MCP over HTTP on its behalf.
 */
import type { MCPServer, MCPServerStatus } from "../../lib/api/resources.ts";
import { apiVersion } from "../../lib/api/resources.ts";
import { type ConditionInput, findCondition, setCondition } from "../../lib/controller/conditions.ts";
import type { KubeObject } from "../../lib/kube/resource-client.ts";

export const serverLabel = "mcp.io/mcp-server";
export const managedByLabel = "app.kubernetes.io/managed-by";
export const managedBy = "mcp-conductor";

/** Where the bridge lives inside a stdio server's pod, and where the conductor image keeps it. */
export const bridgeMountPath = "/mcp-bridge";
export const bridgeBinaryInImage = "/app/bin/mcp-stdio-bridge";

export const mcpServerConditions = {
  available: "Available",
  progressing: "Progressing",
  reachable: "Reachable",
} as const;

export interface WorkloadOptions {
  /** The conductor image, which carries the stdio bridge. */
  bridgeImage: string;
}

/** A Deployment as far as the operator reads it. */
export interface DeploymentView extends KubeObject {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

/** The result of an MCP handshake with the server. */
export interface ProbeResult {
  ok: boolean;
  /** serverInfo name/version on success, the error on failure. */
  message: string;
  /** For which URL and generation this was learnt. */
  url: string;
}

export const isManaged = (s: MCPServer): boolean => !!s.spec.image;

export function labelsFor(s: MCPServer): Record<string, string> {
  return {
    "app.kubernetes.io/name": "mcp-server",
    "app.kubernetes.io/instance": s.metadata.name ?? "",
    [managedByLabel]: managedBy,
    [serverLabel]: s.metadata.name ?? "",
  };
}

function ownerReference(s: MCPServer) {
  return {
    apiVersion,
    kind: "MCPServer",
    name: s.metadata.name ?? "",
    uid: s.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The endpoint the gateway and the probe use: in-cluster DNS for a managed server. */
export function serverUrl(s: MCPServer): string {
  if (s.spec.url) return s.spec.url;
  return `http://${s.metadata.name}.${s.metadata.namespace}.svc:${s.spec.port ?? 8080}${s.spec.path ?? "/mcp"}`;
}

export function desiredDeployment(s: MCPServer, opts: WorkloadOptions): KubeObject {
  const name = s.metadata.name ?? "";
  const port = s.spec.port ?? 8080;
  const path = s.spec.path ?? "/mcp";
  const stdio = s.spec.transport === "stdio";
  const labels = labelsFor(s);
  const selector = { [serverLabel]: name };
  const probe = (periodSeconds: number, failureThreshold: number) => ({
    // A TCP check: an MCP endpoint answers GET with 405 or an SSE stream, neither a good health signal.
    tcpSocket: { port: "mcp" },
    periodSeconds,
    failureThreshold,
  });
  const command = stdio
    ? [
        `${bridgeMountPath}/mcp-stdio-bridge`,
        "--port",
        String(port),
        "--path",
        path,
        "--",
        ...(s.spec.command ?? []),
        ...(s.spec.args ?? []),
      ]
    : s.spec.command;
  const server = {
    name: "server",
    image: s.spec.image,
    ...(command ? { command } : {}),
    ...(!stdio && s.spec.args ? { args: s.spec.args } : {}),
    ports: [{ name: "mcp", containerPort: port, protocol: "TCP" }],
    ...(s.spec.env?.length ? { env: s.spec.env } : {}),
    ...(s.spec.resources ? { resources: s.spec.resources } : {}),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    },
    readinessProbe: probe(5, 3),
    livenessProbe: { ...probe(10, 6), initialDelaySeconds: 10 },
    ...(stdio ? { volumeMounts: [{ name: "mcp-bridge", mountPath: bridgeMountPath, readOnly: true }] } : {}),
  };
  const bridgeInstall = {
    name: "install-bridge",
    image: opts.bridgeImage,
    command: ["cp", bridgeBinaryInImage, `${bridgeMountPath}/mcp-stdio-bridge`],
    volumeMounts: [{ name: "mcp-bridge", mountPath: bridgeMountPath }],
    securityContext: server.securityContext,
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
  };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: s.metadata.namespace, labels, ownerReferences: [ownerReference(s)] },
    spec: {
      replicas: s.spec.replicas ?? 1,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          ...(stdio ? { initContainers: [bridgeInstall] } : {}),
          containers: [server],
          ...(stdio ? { volumes: [{ name: "mcp-bridge", emptyDir: { sizeLimit: "256Mi" } }] } : {}),
        },
      },
    },
  } as KubeObject;
}

export function desiredService(s: MCPServer): KubeObject {
  const name = s.metadata.name ?? "";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: s.metadata.namespace, labels: labelsFor(s), ownerReferences: [ownerReference(s)] },
    spec: {
      selector: { [serverLabel]: name },
      ports: [{ name: "mcp", port: s.spec.port ?? 8080, targetPort: "mcp", protocol: "TCP" }],
    },
  } as KubeObject;
}

/** Available and Progressing of a managed server, read off its Deployment. */
export function workloadConditions(
  s: MCPServer,
  d: DeploymentView | undefined,
): { available: ConditionInput; progressing: ConditionInput; failed: boolean } {
  const { available: A, progressing: P } = mcpServerConditions;
  if (!d) {
    return {
      available: {
        type: A,
        status: "Unknown",
        reason: "DeploymentMissing",
        message: "the Deployment is not there yet",
      },
      progressing: { type: P, status: "True", reason: "Creating", message: "creating the Deployment and Service" },
      failed: false,
    };
  }
  const want = s.spec.replicas ?? 1;
  const st = d.status ?? {};
  const ready = st.readyReplicas ?? 0;
  const updated = st.updatedReplicas ?? 0;
  const total = st.replicas ?? 0;
  const observed = (st.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
  const deadline = st.conditions?.find((c) => c.type === "Progressing" && c.status === "False");
  const rolledOut = observed && updated >= want && total <= want && (st.availableReplicas ?? 0) >= want;
  const progressing: ConditionInput = deadline
    ? {
        type: P,
        status: "False",
        reason: deadline.reason ?? "ProgressDeadlineExceeded",
        message: deadline.message ?? "",
      }
    : rolledOut
      ? { type: P, status: "False", reason: "RolloutComplete", message: `${updated}/${want} replicas updated` }
      : {
          type: P,
          status: "True",
          reason: "RollingOut",
          message: `${updated}/${want} replicas updated, ${ready} ready`,
        };
  const available: ConditionInput =
    want === 0
      ? { type: A, status: "False", reason: "ScaledToZero", message: "spec.replicas is 0" }
      : ready > 0
        ? { type: A, status: "True", reason: "MinimumReplicasReady", message: `${ready}/${want} replicas ready` }
        : { type: A, status: "False", reason: "NoReadyReplicas", message: `0/${want} replicas ready` };
  return { available, progressing, failed: !!deadline };
}

function reachableCondition(probe: ProbeResult | undefined, url: string): ConditionInput {
  const type = mcpServerConditions.reachable;
  if (!probe || probe.url !== url)
    return { type, status: "Unknown", reason: "NotProbed", message: "no MCP handshake attempted yet" };
  return probe.ok
    ? { type, status: "True", reason: "HandshakeSucceeded", message: probe.message }
    : { type, status: "False", reason: "HandshakeFailed", message: probe.message.slice(0, 1024) };
}

/**
 * The status an MCPServer should have, from what was observed: its
 * Deployment (managed) and the last MCP handshake. Ready means a client can
 * use it now: available (managed) and reachable.
 */
export function mcpServerStatus(
  s: MCPServer,
  observed: { deployment?: DeploymentView; probe?: ProbeResult },
  now: Date,
): MCPServerStatus {
  const generation = s.metadata.generation;
  const url = serverUrl(s);
  let conditions = s.status?.conditions;
  const reachable = reachableCondition(observed.probe, url);
  let phase: MCPServerStatus["phase"];
  let replicas: number | undefined;
  let readyReplicas: number | undefined;
  if (isManaged(s)) {
    const w = workloadConditions(s, observed.deployment);
    conditions = setCondition(conditions, w.available, now, generation);
    conditions = setCondition(conditions, w.progressing, now, generation);
    replicas = observed.deployment?.status?.replicas ?? 0;
    readyReplicas = observed.deployment?.status?.readyReplicas ?? 0;
    const available = w.available.status === "True";
    // Before the pods are up there is nothing to shake hands with.
    const reach: ConditionInput = available
      ? reachable
      : { ...reachable, status: "Unknown", reason: "NotAvailable", message: "waiting for a ready replica" };
    conditions = setCondition(conditions, reach, now, generation);
    phase = w.failed
      ? "Failed"
      : available && reach.status === "True"
        ? "Ready"
        : available && reach.status === "False"
          ? "Failed"
          : observed.deployment
            ? "Progressing"
            : "Pending";
  } else {
    conditions = setCondition(conditions, reachable, now, generation);
    phase = reachable.status === "True" ? "Ready" : reachable.status === "False" ? "Failed" : "Pending";
  }
  return {
    phase,
    ...(replicas !== undefined ? { replicas, readyReplicas } : {}),
    url,
    observedGeneration: generation,
    conditions,
  };
}

/** Whether writing `next` would change what the MCPServer's status says. */
export function statusDiffers(current: MCPServerStatus | undefined, next: MCPServerStatus): boolean {
  if (!current) return true;
  if (
    current.phase !== next.phase ||
    current.url !== next.url ||
    current.replicas !== next.replicas ||
    current.readyReplicas !== next.readyReplicas ||
    current.observedGeneration !== next.observedGeneration
  )
    return true;
  for (const c of next.conditions ?? []) {
    const o = findCondition(current.conditions, c.type);
    if (!o || o.status !== c.status || o.reason !== c.reason || o.message !== c.message) return true;
    if (o.observedGeneration !== c.observedGeneration) return true;
  }
  return (current.conditions?.length ?? 0) !== (next.conditions?.length ?? 0);
}
