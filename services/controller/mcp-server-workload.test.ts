import { describe, expect, test } from "bun:test";
import { toolPrefixOf } from "../../lib/api/mcp-server-state.ts";
import type { MCPServer } from "../../lib/api/resources.ts";
import {
  type DeploymentView,
  desiredDeployment,
  desiredService,
  mcpServerStatus,
  type PodView,
  podProblem,
  serverUrl,
  statusDiffers,
} from "./mcp-server-workload.ts";

const opts = { bridgeImage: "ghcr.io/example/mcp-conductor:1" };
const now = new Date("2026-11-30T00:00:00Z");

function server(spec: MCPServer["spec"], generation = 1): MCPServer {
  return { metadata: { name: "files", namespace: "dom", uid: "u-1", generation }, spec };
}

// biome-ignore lint/suspicious/noExplicitAny: reading into untyped manifests
const podSpec = (d: any) => d.spec.template.spec;

function deployment(status: DeploymentView["status"], generation = 1): DeploymentView {
  return { metadata: { name: "files", generation }, status };
}

describe("desired workload", () => {
  test("a streamable-http server: image, command, port, env from a Secret, resources, owner", () => {
    const s = server({
      image: "example/files:2",
      port: 9000,
      replicas: 2,
      command: ["/srv"],
      args: ["--root", "/data"],
      env: [
        { name: "MODE", value: "ro" },
        { name: "TOKEN", valueFrom: { secretKeyRef: { name: "files-token", key: "token" } } },
      ],
      resources: { limits: { cpu: "500m", memory: "256Mi" } },
    });
    const d = desiredDeployment(s, opts);
    expect(d.metadata.ownerReferences).toEqual([
      {
        apiVersion: "mcp.io/v1",
        kind: "MCPServer",
        name: "files",
        uid: "u-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    // biome-ignore lint/suspicious/noExplicitAny: reading into untyped manifests
    expect((d as any).spec.replicas).toBe(2);
    const c = podSpec(d).containers[0];
    expect(c).toMatchObject({
      image: "example/files:2",
      command: ["/srv"],
      args: ["--root", "/data"],
      ports: [{ name: "mcp", containerPort: 9000 }],
      resources: { limits: { cpu: "500m", memory: "256Mi" } },
      securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
      readinessProbe: { tcpSocket: { port: "mcp" } },
      livenessProbe: { tcpSocket: { port: "mcp" } },
    });
    expect(c.env[1]).toEqual({ name: "TOKEN", valueFrom: { secretKeyRef: { name: "files-token", key: "token" } } });
    expect(podSpec(d).initContainers).toBeUndefined();
    const svc = desiredService(s);
    // biome-ignore lint/suspicious/noExplicitAny: reading into untyped manifests
    expect((svc as any).spec).toEqual({
      selector: { "mcp.io/mcp-server": "files" },
      ports: [{ name: "mcp", port: 9000, targetPort: "mcp", protocol: "TCP" }],
    });
    expect(serverUrl(s)).toBe("http://files.dom.svc:9000/mcp");
  });

  test("a stdio server runs behind the bridge, copied in by an init container", () => {
    const s = server({ image: "example/stdio:1", transport: "stdio", command: ["npx", "srv"], args: ["--x"] });
    const spec = podSpec(desiredDeployment(s, opts));
    expect(spec.initContainers[0]).toMatchObject({
      image: opts.bridgeImage,
      command: ["cp", expect.any(String), expect.any(String)],
    });
    expect(spec.containers[0].command).toEqual([
      "/mcp-bridge/mcp-stdio-bridge",
      "--port",
      "8080",
      "--path",
      "/mcp",
      "--",
      "npx",
      "srv",
      "--x",
    ]);
    expect(spec.containers[0].args).toBeUndefined();
    expect(spec.volumes).toEqual([{ name: "mcp-bridge", emptyDir: { sizeLimit: "256Mi" } }]);
  });

  test("security: restricted by default; no ServiceAccount token, no pull secrets", () => {
    const spec = podSpec(desiredDeployment(server({ image: "example/files:2" }), opts));
    expect(spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(spec.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.serviceAccountName).toBeUndefined();
    expect(spec.imagePullSecrets).toBeUndefined();
  });

  test("security: the user's settings merge over the defaults, which stay restricted", () => {
    const s = server({
      image: "example/files:2",
      serviceAccountName: "files-reader",
      imagePullSecrets: [{ name: "registry" }],
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
      containerSecurityContext: {
        readOnlyRootFilesystem: true,
        capabilities: { add: ["NET_BIND_SERVICE"], drop: ["NET_RAW"] },
        runAsUser: 1001,
      },
    });
    const spec = podSpec(desiredDeployment(s, opts));
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 2000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(spec.containers[0].securityContext).toEqual({
      readOnlyRootFilesystem: true,
      runAsUser: 1001,
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL", "NET_RAW"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    // a named ServiceAccount mounts its token (unless the ServiceAccount says no)
    expect(spec.serviceAccountName).toBe("files-reader");
    expect(spec.automountServiceAccountToken).toBeUndefined();
    expect(spec.imagePullSecrets).toEqual([{ name: "registry" }]);
  });

  test("security: values the CRD refuses cannot weaken the defaults either", () => {
    // An object stored before the CRD's rules existed, or written around them.
    const s = server({
      image: "example/files:2",
      securityContext: { runAsNonRoot: false, runAsUser: 0 },
      containerSecurityContext: {
        allowPrivilegeEscalation: true,
        runAsNonRoot: false,
        capabilities: { add: ["SYS_ADMIN" as "NET_BIND_SERVICE"], drop: [] },
      },
    });
    const spec = podSpec(desiredDeployment(s, opts));
    expect(spec.securityContext.runAsNonRoot).toBe(true);
    expect(spec.securityContext.runAsUser).toBeUndefined();
    expect(spec.containers[0].securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(spec.containers[0].securityContext.capabilities.add).toBeUndefined();
  });

  test("security: a Localhost seccomp profile for the pod is the container's too", () => {
    const profile = { type: "Localhost" as const, localhostProfile: "profiles/mcp.json" };
    const s = server({ image: "example/files:2", securityContext: { seccompProfile: profile } });
    const spec = podSpec(desiredDeployment(s, opts));
    expect(spec.securityContext.seccompProfile).toEqual(profile);
    expect(spec.containers[0].securityContext.seccompProfile).toEqual(profile);
  });

  test("security: the bridge's init container keeps the restricted defaults, not the server's settings", () => {
    const s = server({
      image: "example/stdio:1",
      transport: "stdio",
      command: ["srv"],
      securityContext: { runAsUser: 1000 },
      containerSecurityContext: { capabilities: { add: ["NET_BIND_SERVICE"] } },
    });
    const spec = podSpec(desiredDeployment(s, opts));
    expect(spec.initContainers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(spec.securityContext.runAsUser).toBe(1000);
  });

  test("tool prefix: the name by default, as set, or none", () => {
    expect(toolPrefixOf(server({ image: "x" }))).toBe("files__");
    expect(toolPrefixOf(server({ image: "x", toolPrefix: "fs." }))).toBe("fs.");
    expect(toolPrefixOf(server({ image: "x", toolPrefix: "" }))).toBe("");
  });
});

describe("status", () => {
  const managed = server({ image: "example/files:2", replicas: 1 });
  const url = serverUrl(managed);

  test("no Deployment yet: Pending", () => {
    const st = mcpServerStatus(managed, {}, now);
    expect(st.phase).toBe("Pending");
    expect(st.observedGeneration).toBe(1);
    expect(st.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration])).toEqual([
      ["Available", "Unknown", "DeploymentMissing", 1],
      ["Progressing", "True", "Creating", 1],
      ["Reachable", "Unknown", "NotAvailable", 1],
    ]);
  });

  test("rolling out: Progressing", () => {
    const st = mcpServerStatus(managed, { deployment: deployment({ observedGeneration: 1, replicas: 1 }) }, now);
    expect(st.phase).toBe("Progressing");
    expect(st.conditions?.find((c) => c.type === "Progressing")?.reason).toBe("RollingOut");
  });

  const up = deployment({
    observedGeneration: 1,
    replicas: 1,
    readyReplicas: 1,
    availableReplicas: 1,
    updatedReplicas: 1,
  });

  test("available and the handshake works: Ready", () => {
    const st = mcpServerStatus(managed, { deployment: up, probe: { ok: true, url, message: "files 1.0" } }, now);
    expect(st).toMatchObject({ phase: "Ready", replicas: 1, readyReplicas: 1, url });
    expect(st.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ["Available", "True", "MinimumReplicasReady"],
      ["Progressing", "False", "RolloutComplete"],
      ["Reachable", "True", "HandshakeSucceeded"],
    ]);
  });

  test("available but the handshake fails: Failed, with the error", () => {
    const st = mcpServerStatus(managed, { deployment: up, probe: { ok: false, url, message: "ECONNREFUSED" } }, now);
    expect(st.phase).toBe("Failed");
    expect(st.conditions?.find((c) => c.type === "Reachable")).toMatchObject({
      status: "False",
      message: "ECONNREFUSED",
    });
  });

  test("a probe of an older URL does not count", () => {
    const st = mcpServerStatus(
      managed,
      { deployment: up, probe: { ok: true, url: "http://old/mcp", message: "" } },
      now,
    );
    expect(st.phase).toBe("Progressing");
  });

  test("progress deadline exceeded: Failed", () => {
    const d = deployment({
      observedGeneration: 1,
      replicas: 1,
      conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "too slow" }],
    });
    const st = mcpServerStatus(managed, { deployment: d }, now);
    expect(st.phase).toBe("Failed");
    expect(st.conditions?.find((c) => c.type === "Progressing")).toMatchObject({
      status: "False",
      reason: "ProgressDeadlineExceeded",
    });
  });

  const waitingPod = (name: string, reason: string, message: string, extra: object = {}): PodView => ({
    metadata: { name },
    status: {
      phase: "Pending",
      containerStatuses: [{ name: "server", restartCount: 0, state: { waiting: { reason, message } }, ...extra }],
    },
  });
  const notReady = deployment({ observedGeneration: 1, replicas: 1, updatedReplicas: 1 });

  test("a container the kubelet will not start: Available=False ContainerCannotStart, in its words; Failed", () => {
    const kubelet = 'container has runAsNonRoot and image will run as root (pod: "files-1_dom(u)", container: server)';
    const pods = [waitingPod("files-1", "CreateContainerConfigError", kubelet)];
    const st = mcpServerStatus(managed, { deployment: notReady, pods }, now);
    expect(st.phase).toBe("Failed");
    expect(st.conditions?.find((c) => c.type === "Available")).toMatchObject({
      status: "False",
      reason: "ContainerCannotStart",
      message: `pod files-1, container server: CreateContainerConfigError: ${kubelet}`,
      observedGeneration: 1,
    });
    expect(st.conditions?.find((c) => c.type === "Progressing")).toMatchObject({
      status: "True",
      reason: "ContainerCannotStart",
    });
    // without the pods, the same Deployment says only that nothing is ready
    const blind = mcpServerStatus(managed, { deployment: notReady }, now);
    expect(blind.phase).toBe("Progressing");
    expect(blind.conditions?.find((c) => c.type === "Available")?.reason).toBe("NoReadyReplicas");
  });

  test("pull failures and crash loops are reported the same way", () => {
    const cases: [PodView, string, string][] = [
      [
        waitingPod("p", "ErrImageNeverPull", 'Container image "x:1" is not present with pull policy of Never'),
        "ImagePullFailed",
        'ErrImageNeverPull: Container image "x:1" is not present with pull policy of Never',
      ],
      [
        waitingPod("p", "ImagePullBackOff", 'Back-off pulling image "x:1"'),
        "ImagePullFailed",
        'ImagePullBackOff: Back-off pulling image "x:1"',
      ],
      [
        waitingPod("p", "CrashLoopBackOff", "back-off 40s restarting failed container=server pod=p_dom(u)", {
          restartCount: 4,
          lastState: { terminated: { exitCode: 1, reason: "Error", message: "EACCES: /home/node" } },
        }),
        "CrashLoopBackOff",
        // how it last ended, not the back-off that changes with every restart
        "CrashLoopBackOff: the container keeps exiting, last with exit code 1 (Error): EACCES: /home/node",
      ],
    ];
    for (const [pod, reason, says] of cases) {
      const st = mcpServerStatus(managed, { deployment: notReady, pods: [pod] }, now);
      expect(st.phase).toBe("Failed");
      const available = st.conditions?.find((c) => c.type === "Available");
      expect(available).toMatchObject({ status: "False", reason });
      expect(available?.message).toBe(`pod p, container server: ${says}`);
    }
  });

  test("ordinary waiting, a terminating pod and an init container", () => {
    expect(podProblem([waitingPod("p", "ContainerCreating", "")])).toBeUndefined();
    const leaving = waitingPod("p", "CrashLoopBackOff", "");
    leaving.metadata.deletionTimestamp = now.toISOString();
    expect(podProblem([leaving])).toBeUndefined();
    const init: PodView = {
      metadata: { name: "q" },
      status: {
        initContainerStatuses: [
          { name: "install-bridge", state: { waiting: { reason: "ErrImagePull", message: "not found" } } },
        ],
        containerStatuses: [{ name: "server", state: { waiting: { reason: "PodInitializing" } } }],
      },
    };
    expect(podProblem([init])).toEqual({
      reason: "ImagePullFailed",
      message: "pod q, container install-bridge: ErrImagePull: not found",
    });
  });

  test("a ReplicaSet that cannot create pods is the reason too", () => {
    const d = deployment({
      observedGeneration: 1,
      conditions: [
        {
          type: "ReplicaFailure",
          status: "True",
          reason: "FailedCreate",
          message: 'pods "files-1" is forbidden: error looking up service account dom/nobody',
        },
      ],
    });
    const st = mcpServerStatus(managed, { deployment: d }, now);
    expect(st.phase).toBe("Failed");
    expect(st.conditions?.find((c) => c.type === "Available")).toMatchObject({
      status: "False",
      reason: "FailedCreate",
      message: 'pods "files-1" is forbidden: error looking up service account dom/nobody',
    });
  });

  test("with a replica ready, a pod that cannot start holds up the rollout but the server stays Ready", () => {
    const rolling = deployment({ observedGeneration: 1, replicas: 2, readyReplicas: 1, updatedReplicas: 1 });
    const st = mcpServerStatus(
      managed,
      {
        deployment: rolling,
        pods: [waitingPod("new", "ImagePullBackOff", 'Back-off pulling image "x:2"')],
        probe: { ok: true, url, message: "files 1.0" },
      },
      now,
    );
    expect(st.phase).toBe("Ready");
    expect(st.conditions?.find((c) => c.type === "Available")?.status).toBe("True");
    expect(st.conditions?.find((c) => c.type === "Progressing")).toMatchObject({
      status: "True",
      reason: "ImagePullFailed",
      message:
        '1/1 replicas updated, 1 ready; pod new, container server: ImagePullBackOff: Back-off pulling image "x:2"',
    });
  });

  test("a remote server is Ready when it answers and Failed when it does not", () => {
    const remote = server({ url: "https://mcp.example.com/mcp" });
    expect(mcpServerStatus(remote, {}, now).phase).toBe("Pending");
    const ok = mcpServerStatus(remote, { probe: { ok: true, url: remote.spec.url ?? "", message: "x" } }, now);
    expect(ok).toMatchObject({ phase: "Ready", url: "https://mcp.example.com/mcp" });
    expect(ok.replicas).toBeUndefined();
    expect(ok.conditions?.map((c) => c.type)).toEqual(["Reachable"]);
    const bad = mcpServerStatus(remote, { probe: { ok: false, url: remote.spec.url ?? "", message: "404" } }, now);
    expect(bad.phase).toBe("Failed");
  });

  test("statusDiffers ignores timestamps only", () => {
    const a = mcpServerStatus(managed, { deployment: up, probe: { ok: true, url, message: "m" } }, now);
    const later = mcpServerStatus(
      { ...managed, status: a },
      { deployment: up, probe: { ok: true, url, message: "m" } },
      new Date(now.getTime() + 5000),
    );
    expect(statusDiffers(a, later)).toBe(false);
    const next = mcpServerStatus(
      { ...managed, status: a },
      { deployment: up, probe: { ok: false, url, message: "down" } },
      now,
    );
    expect(statusDiffers(a, next)).toBe(true);
    const regen = mcpServerStatus(server(managed.spec, 2), { deployment: up }, now);
    expect(statusDiffers(a, regen)).toBe(true);
  });
});
