import { describe, expect, test } from "bun:test";
import { toolPrefixOf } from "../../lib/api/mcp-server-state.ts";
import type { MCPServer } from "../../lib/api/resources.ts";
import {
  type DeploymentView,
  desiredDeployment,
  desiredService,
  mcpServerStatus,
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
