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

/** A container's status as the kubelet reports it, as far as the operator reads it. */
export interface ContainerStatusView {
  name: string;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; running?: object; terminated?: object };
  lastState?: { terminated?: { exitCode?: number; reason?: string; message?: string } };
}

/** A Pod of a managed server, as far as the operator reads it. */
export interface PodView extends KubeObject {
  status?: {
    phase?: string;
    initContainerStatuses?: ContainerStatusView[];
    containerStatuses?: ContainerStatusView[];
  };
}

/** Why a managed server's pods do not run, in the kubelet's words. */
export interface WorkloadProblem {
  /** The condition reason: ContainerCannotStart, CrashLoopBackOff, ImagePullFailed or FailedCreate. */
  reason: string;
  message: string;
}

/**
 * The kubelet's waiting reasons that mean a container will not run until
 * someone changes something, by the condition reason they become. Others
 * (ContainerCreating, PodInitializing) are the normal way to start.
 */
const waitingReasons: Record<string, string> = {
  // e.g. "container has runAsNonRoot and image will run as root": the image needs spec.securityContext.runAsUser
  CreateContainerConfigError: "ContainerCannotStart",
  CreateContainerError: "ContainerCannotStart",
  RunContainerError: "ContainerCannotStart",
  CrashLoopBackOff: "CrashLoopBackOff",
  ImagePullBackOff: "ImagePullFailed",
  ErrImagePull: "ImagePullFailed",
  ErrImageNeverPull: "ImagePullFailed",
  InvalidImageName: "ImagePullFailed",
};

/** The condition reasons that say a managed server's pods cannot run. */
export const workloadProblemReasons: ReadonlySet<string> = new Set([...Object.values(waitingReasons), "FailedCreate"]);

/** How a crash-looping container last ended: "the container keeps exiting, last with exit code 1 (Error): …". */
function lastExit(c: ContainerStatusView): string {
  const last = c.lastState?.terminated;
  if (!last) return "the container keeps exiting";
  const why = last.reason ? ` (${last.reason})` : "";
  const said = last.message ? `: ${last.message}` : "";
  return `the container keeps exiting, last with exit code ${last.exitCode ?? "?"}${why}${said}`;
}

/**
 * The first container of the server's pods (by pod name, so the answer is
 * stable) that waits for a reason it will not get over by itself, with what
 * the kubelet says about it. Without this, a server whose image runs as root
 * sits at 0 ready replicas with nothing on the MCPServer saying why.
 */
export function podProblem(pods: readonly PodView[]): WorkloadProblem | undefined {
  const live = pods
    .filter((p) => !p.metadata.deletionTimestamp)
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
  for (const pod of live) {
    for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = c.state?.waiting;
      const reason = waiting?.reason ? waitingReasons[waiting.reason] : undefined;
      if (!reason || !waiting?.reason) continue;
      // The back-off message ("back-off 40s restarting failed container…") changes with every
      // restart; how the container last ended is what its owner needs, and it holds still.
      const detail = waiting.reason === "CrashLoopBackOff" ? lastExit(c) : (waiting.message ?? "");
      const message = `pod ${pod.metadata.name}, container ${c.name}: ${waiting.reason}${detail ? `: ${detail}` : ""}`;
      return { reason, message: message.slice(0, 1024) };
    }
  }
  return undefined;
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

/**
 * The container settings Pod Security "restricted" requires. They are applied
 * after the user's, so nothing overrides them: the CRD already refuses the
 * values that would (runAsNonRoot false, allowPrivilegeEscalation true, an
 * added capability other than NET_BIND_SERVICE), and this keeps an object
 * stored before those rules existed from weakening them either. Otherwise the
 * namespace would refuse the pod when the ReplicaSet creates it, far from the
 * MCPServer its owner looks at.
 */
const restrictedContainer = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ["ALL"] },
  runAsNonRoot: true,
  seccompProfile: { type: "RuntimeDefault" },
} as const;

/**
 * The pod's security context: the restricted defaults with the user's
 * spec.securityContext merged over them. A user sets runAsUser (the image
 * would otherwise run as root, which the kubelet refuses under runAsNonRoot),
 * runAsGroup, fsGroup or a Localhost seccomp profile; runAsNonRoot stays true.
 */
export function podSecurityContext(s: MCPServer): Record<string, unknown> {
  const context: Record<string, unknown> = {
    seccompProfile: { type: "RuntimeDefault" },
    ...s.spec.securityContext,
    runAsNonRoot: true,
  };
  if (context.runAsUser === 0) delete context.runAsUser;
  return context;
}

/**
 * The server container's security context: the restricted defaults with the
 * user's spec.containerSecurityContext merged over them, ALL capabilities
 * dropped whatever else is listed, and NET_BIND_SERVICE the only one that may
 * be added back. The seccomp profile follows the pod's unless the container
 * names its own, so a Localhost profile set for the pod is not overridden.
 */
export function containerSecurityContext(s: MCPServer): Record<string, unknown> {
  const user = s.spec.containerSecurityContext ?? {};
  const add = (user.capabilities?.add ?? []).filter((c) => c === "NET_BIND_SERVICE");
  const drop = [...new Set(["ALL", ...(user.capabilities?.drop ?? [])])];
  const seccompProfile = user.seccompProfile ?? s.spec.securityContext?.seccompProfile ?? { type: "RuntimeDefault" };
  const context: Record<string, unknown> = {
    ...user,
    seccompProfile,
    allowPrivilegeEscalation: false,
    runAsNonRoot: true,
    capabilities: { ...(add.length ? { add } : {}), drop },
  };
  if (context.runAsUser === 0) delete context.runAsUser;
  return context;
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
    securityContext: containerSecurityContext(s),
    readinessProbe: probe(5, 3),
    livenessProbe: { ...probe(10, 6), initialDelaySeconds: 10 },
    ...(stdio ? { volumeMounts: [{ name: "mcp-bridge", mountPath: bridgeMountPath, readOnly: true }] } : {}),
  };
  const bridgeInstall = {
    name: "install-bridge",
    image: opts.bridgeImage,
    command: ["cp", bridgeBinaryInImage, `${bridgeMountPath}/mcp-stdio-bridge`],
    volumeMounts: [{ name: "mcp-bridge", mountPath: bridgeMountPath }],
    // The conductor's image, not the user's: the restricted defaults, not spec.containerSecurityContext
    // (the pod's runAsUser and fsGroup still apply, so the copy is readable by the server's user).
    securityContext: { ...restrictedContainer, readOnlyRootFilesystem: true },
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
          // A server that names its ServiceAccount wants its token (the ServiceAccount may still say
          // no); one that does not runs as the namespace's default and needs none.
          ...(s.spec.serviceAccountName
            ? { serviceAccountName: s.spec.serviceAccountName }
            : { automountServiceAccountToken: false }),
          ...(s.spec.imagePullSecrets?.length
            ? { imagePullSecrets: s.spec.imagePullSecrets.map((r) => ({ name: r.name })) }
            : {}),
          enableServiceLinks: false,
          securityContext: podSecurityContext(s),
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

/**
 * Available and Progressing of a managed server, read off its Deployment and
 * its pods: with no replica ready, a pod that cannot start (or a ReplicaSet
 * that cannot create pods) is the reason, and the server has Failed until
 * someone changes its spec; with replicas ready it only holds up the rollout.
 */
export function workloadConditions(
  s: MCPServer,
  d: DeploymentView | undefined,
  pods: readonly PodView[] = [],
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
  // The ReplicaSet could not create a pod (a quota, Pod Security, a missing ServiceAccount).
  const replicaFailure = st.conditions?.find((c) => c.type === "ReplicaFailure" && c.status === "True");
  const problem =
    podProblem(pods) ??
    (replicaFailure
      ? { reason: "FailedCreate", message: (replicaFailure.message ?? replicaFailure.reason ?? "").slice(0, 1024) }
      : undefined);
  const progress = `${updated}/${want} replicas updated, ${ready} ready`;
  const progressing: ConditionInput = deadline
    ? {
        type: P,
        status: "False",
        reason: deadline.reason ?? "ProgressDeadlineExceeded",
        message: deadline.message ?? "",
      }
    : rolledOut
      ? { type: P, status: "False", reason: "RolloutComplete", message: `${updated}/${want} replicas updated` }
      : problem
        ? { type: P, status: "True", reason: problem.reason, message: `${progress}; ${problem.message}` }
        : { type: P, status: "True", reason: "RollingOut", message: progress };
  const available: ConditionInput =
    want === 0
      ? { type: A, status: "False", reason: "ScaledToZero", message: "spec.replicas is 0" }
      : ready > 0
        ? { type: A, status: "True", reason: "MinimumReplicasReady", message: `${ready}/${want} replicas ready` }
        : problem
          ? { type: A, status: "False", reason: problem.reason, message: problem.message }
          : { type: A, status: "False", reason: "NoReadyReplicas", message: `0/${want} replicas ready` };
  return { available, progressing, failed: !!deadline || (want > 0 && ready === 0 && !!problem) };
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
 * Deployment and pods (managed) and the last MCP handshake. Ready means a client can
 * use it now: available (managed) and reachable.
 */
export function mcpServerStatus(
  s: MCPServer,
  observed: { deployment?: DeploymentView; pods?: readonly PodView[]; probe?: ProbeResult },
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
    const w = workloadConditions(s, observed.deployment, observed.pods);
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
