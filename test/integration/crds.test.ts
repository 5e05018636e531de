// The mcp.io/v1 CRDs on a real apiserver: the design's samples apply, bad
// objects are refused by the apiserver itself with the field named, a Task's
// spec cannot change after creation, defaults are filled in, and kubectl sees
// columns, the category and field selectors.
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Agent, MCPServer, Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import type { KubeObject } from "../../lib/kube/resource-client.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await testCluster();
}, 120_000);

const task = (spec: Record<string, unknown>): Task => ({
  metadata: { generateName: "bad-" },
  spec: { requiredCapabilities: ["data-processing"], ...spec } as Task["spec"],
});
const agent = (spec: Record<string, unknown>): Agent => ({
  metadata: { generateName: "bad-" },
  spec: { capabilities: ["data-processing"], ...spec } as Agent["spec"],
});
const server = (spec: Record<string, unknown>): MCPServer => ({
  metadata: { generateName: "bad-" },
  spec: spec as MCPServer["spec"],
});

interface InvalidCase {
  name: string;
  obj: Task | Agent | MCPServer;
  /** The field path the apiserver's message must name. */
  field: string;
  /** More text the message must contain, when the path alone is ambiguous. */
  says?: string;
}

const invalid: InvalidCase[] = [
  { name: "priority above 10", obj: task({ priority: 11 }), field: "spec.priority" },
  { name: "priority below 1", obj: task({ priority: 0 }), field: "spec.priority" },
  { name: "negative retries", obj: task({ retryPolicy: { maxRetries: -1 } }), field: "spec.retryPolicy.maxRetries" },
  {
    name: "unknown backoff strategy",
    obj: task({ retryPolicy: { backoffStrategy: "random" } }),
    field: "spec.retryPolicy.backoffStrategy",
    says: "Unsupported value",
  },
  {
    name: "backoff above its cap",
    obj: task({ retryPolicy: { backoffSeconds: 60, maxBackoffSeconds: 10 } }),
    field: "spec.retryPolicy",
    says: "backoffSeconds must not exceed maxBackoffSeconds",
  },
  {
    name: "no required capabilities",
    obj: task({ requiredCapabilities: undefined }),
    field: "spec.requiredCapabilities",
  },
  { name: "empty required capabilities", obj: task({ requiredCapabilities: [] }), field: "spec.requiredCapabilities" },
  {
    name: "capability not a name",
    obj: task({ requiredCapabilities: ["Data Processing"] }),
    field: "spec.requiredCapabilities[0]",
  },
  { name: "deadline not a date-time", obj: task({ deadline: "tomorrow" }), field: "spec.deadline" },
  {
    name: "tag both required and avoided",
    obj: task({ affinity: { required: ["gpu"], avoided: ["gpu"] } }),
    field: "spec.affinity",
    says: "a tag cannot be both required and avoided",
  },
  { name: "negative TTL", obj: task({ ttlSecondsAfterFinished: -5 }), field: "spec.ttlSecondsAfterFinished" },
  {
    name: "duplicate capability",
    obj: agent({ capabilities: ["a", "a"] }),
    field: "spec.capabilities[1]",
    says: "Duplicate value",
  },
  {
    name: "tool backed by a capability the agent lacks",
    obj: agent({ tools: [{ name: "csv_to_json", capability: "filesystem", inputSchema: { type: "object" } }] }),
    field: "spec.tools",
    says: "every tool's capability must be listed in spec.capabilities",
  },
  {
    name: "tool input schema not an object schema",
    obj: agent({ tools: [{ name: "t", capability: "data-processing", inputSchema: { type: "string" } }] }),
    field: "spec.tools[0].inputSchema.type",
    says: "Unsupported value",
  },
  {
    name: "bad tool name",
    obj: agent({ tools: [{ name: "no spaces", capability: "data-processing", inputSchema: {} }] }),
    field: "spec.tools[0].name",
  },
  { name: "cpu not a quantity", obj: agent({ resources: { cpu: "lots" } }), field: "spec.resources.cpu" },
  { name: "zero concurrency", obj: agent({ maxConcurrentTasks: 0 }), field: "spec.maxConcurrentTasks" },
  {
    name: "both image and url",
    obj: server({ image: "example/mcp:1", url: "https://mcp.example.com/mcp" }),
    field: "spec",
    says: "exactly one of spec.image and spec.url must be set",
  },
  {
    name: "neither image nor url",
    obj: server({ port: 8080 }),
    field: "spec",
    says: "exactly one of spec.image and spec.url must be set",
  },
  {
    name: "unknown transport",
    obj: server({ image: "example/mcp:1", transport: "grpc" }),
    field: "spec.transport",
    says: "Unsupported value",
  },
  { name: "port out of range", obj: server({ image: "example/mcp:1", port: 70000 }), field: "spec.port" },
  {
    name: "remote server over stdio",
    obj: server({ url: "https://mcp.example.com/mcp", transport: "stdio" }),
    field: "spec.transport",
  },
  { name: "url not http(s)", obj: server({ url: "ftp://mcp.example.com" }), field: "spec.url" },
  {
    name: "stdio server without a command",
    obj: server({ image: "example/mcp:1", transport: "stdio" }),
    field: "spec.command",
    says: "needs spec.command",
  },
  {
    name: "tool prefix with a space",
    obj: server({ image: "example/mcp:1", toolPrefix: "a b" }),
    field: "spec.toolPrefix",
  },
  {
    name: "env with value and valueFrom",
    obj: server({
      image: "example/mcp:1",
      env: [{ name: "TOKEN", value: "x", valueFrom: { secretKeyRef: { name: "s", key: "k" } } }],
    }),
    field: "spec.env[0]",
    says: "either value or valueFrom",
  },
  // A managed server's security settings merge over restricted defaults; none may undo them.
  {
    name: "a pod that may run as root",
    obj: server({ image: "example/mcp:1", securityContext: { runAsNonRoot: false } }),
    field: "spec.securityContext.runAsNonRoot",
    says: 'runAsNonRoot may not be false; the domain enforces Pod Security "restricted"',
  },
  {
    name: "a container that runs as root",
    obj: server({ image: "example/mcp:1", containerSecurityContext: { runAsUser: 0 } }),
    field: "spec.containerSecurityContext.runAsUser",
    says: "runAsUser may not be 0 (root)",
  },
  {
    name: "privilege escalation",
    obj: server({ image: "example/mcp:1", containerSecurityContext: { allowPrivilegeEscalation: true } }),
    field: "spec.containerSecurityContext.allowPrivilegeEscalation",
    says: "allowPrivilegeEscalation may not be true",
  },
  {
    name: "an added capability other than NET_BIND_SERVICE",
    obj: server({ image: "example/mcp:1", containerSecurityContext: { capabilities: { add: ["SYS_ADMIN"] } } }),
    field: "spec.containerSecurityContext.capabilities.add[0]",
    says: "Unsupported value",
  },
  {
    name: "an unconfined seccomp profile",
    obj: server({ image: "example/mcp:1", securityContext: { seccompProfile: { type: "Unconfined" } } }),
    field: "spec.securityContext.seccompProfile.type",
    says: "Unsupported value",
  },
  {
    name: "a Localhost seccomp profile without its file",
    obj: server({ image: "example/mcp:1", containerSecurityContext: { seccompProfile: { type: "Localhost" } } }),
    field: "spec.containerSecurityContext.seccompProfile",
    says: "localhostProfile is set exactly when type is Localhost",
  },
  {
    name: "a ServiceAccount for a remote server",
    obj: server({ url: "https://mcp.example.com/mcp", serviceAccountName: "reader" }),
    field: "spec",
    says: "apply only to a managed server",
  },
];

describe("CRD validation by the apiserver", () => {
  test.each(invalid)("rejects $name, naming $field", async ({ obj, field, says }) => {
    const ns = await cluster.newNamespace("crd-invalid");
    const client =
      "capabilities" in obj.spec
        ? cluster.mcp.agents
        : "image" in obj.spec || "url" in obj.spec || "port" in obj.spec
          ? cluster.mcp.mcpServers
          : cluster.mcp.tasks;
    const err = await (client as typeof cluster.mcp.tasks).create(ns, obj as Task).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeApiError);
    const apiErr = err as KubeApiError;
    expect(apiErr.statusCode).toBe(422);
    expect(apiErr.message).toContain(`${field}:`);
    if (says) expect(apiErr.message).toContain(says);
    // nothing was stored
    const list = await (client as typeof cluster.mcp.tasks).list(ns);
    expect(list.items).toHaveLength(0);
  });

  test("rejects an unknown status phase on the status subresource", async () => {
    const ns = await cluster.newNamespace("crd-status");
    const created = await cluster.mcp.tasks.create(ns, {
      metadata: { name: "t" },
      spec: { requiredCapabilities: ["x"] },
    });
    const err = await cluster.mcp.tasks.replaceStatus({ ...created, status: { phase: "Done" as never } }).then(
      () => undefined,
      (e: unknown) => e as KubeApiError,
    );
    expect(err?.statusCode).toBe(422);
    expect(err?.message).toContain("status.phase: Unsupported value");
  });

  test("a security field the schema does not offer is an error for kubectl, not silently dropped", async () => {
    const ns = await cluster.newNamespace("crd-strict");
    const manifest = {
      apiVersion: "mcp.io/v1",
      kind: "MCPServer",
      metadata: { name: "privileged", namespace: ns },
      spec: { image: "example/mcp:1", containerSecurityContext: { privileged: true } },
    };
    const res = await cluster.kubectl(["apply", "-f", "-"], JSON.stringify(manifest));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('unknown field "spec.containerSecurityContext.privileged"');
    expect((await cluster.mcp.mcpServers.list(ns)).items).toHaveLength(0);
  });

  test("fills in defaults", async () => {
    const ns = await cluster.newNamespace("crd-defaults");
    const t = await cluster.mcp.tasks.create(ns, { metadata: { name: "t" }, spec: { requiredCapabilities: ["x"] } });
    expect(t.spec.priority).toBe(5);
    expect(t.spec.retryPolicy).toEqual({
      maxRetries: 3,
      backoffStrategy: "exponential",
      backoffSeconds: 5,
      maxBackoffSeconds: 300,
    });
    const a = await cluster.mcp.agents.create(ns, { metadata: { name: "a" }, spec: { capabilities: ["x"] } });
    expect(a.spec.maxConcurrentTasks).toBe(5);
    const s = await cluster.mcp.mcpServers.create(ns, { metadata: { name: "s" }, spec: { image: "example/mcp:1" } });
    expect(s.spec).toMatchObject({ port: 8080, path: "/mcp", transport: "streamable-http", replicas: 1 });
  });
});

describe("a Task's spec is fixed once it is created", () => {
  const spec: Task["spec"] = {
    requiredCapabilities: ["data-processing"],
    priority: 5,
    tool: "csv_to_json",
    payload: { csv: "a,b\n1,2\n" },
    deadline: "2099-01-01T00:00:00Z",
    retryPolicy: { maxRetries: 1 },
    affinity: { preferred: ["fast"] },
    ttlSecondsAfterFinished: 60,
  };
  const changes: { name: string; change: Record<string, unknown> }[] = [
    { name: "its payload", change: { payload: { csv: "a,b\n6,6\n" } } },
    { name: "its tool", change: { tool: "json_to_csv" } },
    { name: "its required capabilities", change: { requiredCapabilities: ["data-processing", "gpu"] } },
    { name: "its priority", change: { priority: 10 } },
    { name: "its deadline", change: { deadline: "2099-06-01T00:00:00Z" } },
    { name: "its deadline, removed", change: { deadline: null } },
    { name: "its retry policy", change: { retryPolicy: { maxRetries: 100 } } },
    { name: "its affinity", change: { affinity: { required: ["gpu"] } } },
    { name: "its TTL", change: { ttlSecondsAfterFinished: 3600 } },
  ];

  test.each(changes)("a running Task's metadata may change, $name may not", async ({ change }) => {
    const ns = await cluster.newNamespace("crd-immutable");
    const created = await cluster.mcp.tasks.create(ns, { metadata: { name: "t" }, spec });
    await cluster.mcp.tasks.replaceStatus({
      ...created,
      status: { phase: "Running", assignedAgent: "a", attempts: 1 },
    });
    // Allowed: an update that leaves the spec as it is, a label or the same spec written again.
    const labelled = await cluster.mcp.tasks.patch(ns, "t", { metadata: { labels: { team: "data" } } }, "merge");
    expect(labelled.metadata.labels).toEqual({ team: "data" });
    const same = await cluster.mcp.tasks.patch(ns, "t", { spec }, "merge");
    expect(same.metadata.generation).toBe(1);

    const err = await cluster.mcp.tasks.patch(ns, "t", { spec: change }, "merge").then(
      () => undefined,
      (e: unknown) => e as KubeApiError,
    );
    expect(err?.statusCode).toBe(422);
    expect(err?.message).toContain("spec: Invalid value");
    expect(err?.message).toContain("a Task's spec cannot change once it is created; create a new Task");
    const stored = await cluster.mcp.tasks.get(ns, "t");
    expect(stored.spec).toMatchObject(spec);
    expect(stored.status?.phase).toBe("Running");
  });
});

describe("kubectl", () => {
  test("applies the design's seed samples unchanged", async () => {
    // The samples name namespace mcp-system, so this test owns that namespace.
    await cluster.kubectl(["create", "namespace", "mcp-system"]);
    const res = await cluster.kubectl(["apply", "-f", join(repoRoot, "deploy", "samples")]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("agent.mcp.io/data-processor-7d8f4 created");
    expect(res.stdout).toContain("task.mcp.io/process-dataset-abc123 created");
    expect(res.stdout).toContain("mcpserver.mcp.io/everything created");
    const a = await cluster.mcp.agents.get("mcp-system", "data-processor-7d8f4");
    expect(a.spec).toMatchObject({
      capabilities: ["data-processing", "model-inference"],
      tags: ["zone-us-west", "high-memory"],
      resources: { cpu: "2", memory: "4Gi", gpu: false },
    });
    const t = await cluster.mcp.tasks.get("mcp-system", "process-dataset-abc123");
    expect(t.spec).toMatchObject({
      requiredCapabilities: ["data-processing"],
      priority: 5,
      deadline: "2025-06-10T12:00:00Z",
    });
  });

  test("shows printer columns, the mcp category and short names", async () => {
    const ns = await cluster.newNamespace("kubectl-cols");
    await cluster.mcp.agents.create(ns, {
      metadata: { name: "worker-1" },
      spec: { capabilities: ["data-processing"], maxConcurrentTasks: 3 },
    });
    await cluster.mcp.tasks.create(ns, {
      metadata: { name: "job-1" },
      spec: { requiredCapabilities: ["data-processing"], priority: 7 },
    });
    await cluster.mcp.mcpServers.create(ns, {
      metadata: { name: "srv-1" },
      spec: { url: "https://mcp.example.com/mcp" },
    });

    const both = await cluster.kubectl(["get", "agents,tasks", "-n", ns]);
    expect(both.code).toBe(0);
    const lines = both.stdout.split("\n");
    const agentHeader = lines.find((l) => l.startsWith("NAME") && l.includes("CAPABILITIES"));
    expect(agentHeader?.split(/\s+/)).toEqual(["NAME", "PHASE", "TASKS", "MAX", "CAPABILITIES", "REASON", "AGE"]);
    expect(lines.find((l) => l.startsWith("agent.mcp.io/worker-1"))).toMatch(/\s3\s+\["data-processing"\]/);
    const taskHeader = lines.find((l) => l.startsWith("NAME") && l.includes("PRIORITY"));
    expect(taskHeader?.split(/\s+/)).toEqual(["NAME", "PHASE", "PRIORITY", "AGENT", "ATTEMPTS", "AGE"]);
    expect(lines.find((l) => l.startsWith("task.mcp.io/job-1"))).toMatch(/\s7\s/);

    const all = await cluster.kubectl(["get", "mcp", "-n", ns, "-o", "name"]);
    expect(all.code).toBe(0);
    expect(all.stdout.trim().split("\n").sort()).toEqual([
      "agent.mcp.io/worker-1",
      "mcpserver.mcp.io/srv-1",
      "task.mcp.io/job-1",
    ]);

    const short = await cluster.kubectl(["get", "ag,tk,mcps", "-n", ns, "-o", "name"]);
    expect(short.stdout.trim().split("\n").sort()).toEqual(all.stdout.trim().split("\n").sort());
  });

  test("filters tasks by status.assignedAgent and status.phase with field selectors", async () => {
    const ns = await cluster.newNamespace("kubectl-fields");
    for (const [name, agentName, phase] of [
      ["t1", "agent-a", "Assigned"],
      ["t2", "agent-b", "Running"],
      ["t3", "agent-a", "Running"],
    ] as const) {
      const t = await cluster.mcp.tasks.create(ns, { metadata: { name }, spec: { requiredCapabilities: ["x"] } });
      await cluster.mcp.tasks.replaceStatus({ ...t, status: { phase, assignedAgent: agentName } });
    }
    const byAgent = await cluster.kubectl([
      "get",
      "tasks",
      "-n",
      ns,
      "--field-selector",
      "status.assignedAgent=agent-a",
      "-o",
      "name",
    ]);
    expect(byAgent.code).toBe(0);
    expect(byAgent.stdout.trim().split("\n").sort()).toEqual(["task.mcp.io/t1", "task.mcp.io/t3"]);
    const both = await cluster.kubectl([
      "get",
      "tasks",
      "-n",
      ns,
      "--field-selector",
      "status.assignedAgent=agent-a,status.phase=Running",
      "-o",
      "name",
    ]);
    expect(both.stdout.trim()).toBe("task.mcp.io/t3");
    // and through our own client, which agents will use to watch their tasks
    const list = await cluster.mcp.tasks.list(ns, { fieldSelector: "status.assignedAgent=agent-b" });
    expect(list.items.map((t: KubeObject) => t.metadata.name)).toEqual(["t2"]);
  });
});
