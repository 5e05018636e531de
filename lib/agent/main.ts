/**
 * Runs an agent as a process: reads its settings from flags and env (POD_NAME
 * and NAMESPACE come from the Downward API in a cluster), serves /healthz,
 * /readyz and /metrics, and drains on SIGTERM.
 *
 *   await runAgent({ tools: [myTool] });
 */
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { startOpsServer } from "../http/ops-server.ts";
import { KubeConnection } from "../kube/connection.ts";
import { createLogger } from "../log.ts";
import { AgentRuntime } from "./runtime.ts";
import type { AnyTool } from "./tool.ts";

export interface RunAgentOptions {
  /** The agent's default name prefix, when neither --name nor POD_NAME is set. */
  kind: string;
  tools: AnyTool[];
  capabilities?: string[];
  argv?: string[];
}

export async function runAgent(o: RunAgentOptions): Promise<AgentRuntime> {
  const env = process.env;
  const { values } = parseArgs({
    args: o.argv ?? process.argv.slice(2),
    strict: false,
    options: {
      name: { type: "string", default: env.POD_NAME ?? `${o.kind}-${hostname()}-${process.pid}` },
      namespace: { type: "string", default: env.NAMESPACE ?? env.POD_NAMESPACE ?? "mcp-system" },
      tags: { type: "string", default: env.AGENT_TAGS ?? "" },
      "max-concurrent-tasks": { type: "string", default: env.AGENT_MAX_CONCURRENT_TASKS ?? "5" },
      "heartbeat-interval-seconds": { type: "string", default: env.AGENT_HEARTBEAT_INTERVAL_SECONDS ?? "10" },
      "task-timeout-seconds": { type: "string", default: env.AGENT_TASK_TIMEOUT_SECONDS ?? "300" },
      "shutdown-grace-seconds": { type: "string", default: env.AGENT_SHUTDOWN_GRACE_SECONDS ?? "25" },
      "metrics-port": { type: "string", default: env.AGENT_METRICS_PORT ?? "8080" },
      // What the agent offers, as Kubernetes quantities (in a pod: its resource limits).
      cpu: { type: "string", default: env.AGENT_CPU },
      memory: { type: "string", default: env.AGENT_MEMORY },
      gpu: { type: "string", default: env.AGENT_GPU ?? "false" },
    },
  });
  const num = (key: keyof typeof values, min: number) => {
    const n = Number(values[key]);
    if (!Number.isFinite(n) || n < min) {
      console.error(`${o.kind}: --${key} must be a number of at least ${min}, got ${JSON.stringify(values[key])}`);
      process.exit(2);
    }
    return n;
  };
  const log = createLogger({ service: o.kind });
  const runtime = new AgentRuntime({
    name: String(values.name),
    namespace: String(values.namespace),
    conn: KubeConnection.fromOptions(),
    tools: o.tools,
    capabilities: o.capabilities,
    tags: String(values.tags)
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    resources: {
      ...(values.cpu ? { cpu: String(values.cpu) } : {}),
      ...(values.memory ? { memory: String(values.memory) } : {}),
      gpu: String(values.gpu) === "true",
    },
    maxConcurrentTasks: num("max-concurrent-tasks", 1),
    heartbeatIntervalMs: num("heartbeat-interval-seconds", 0.1) * 1000,
    taskTimeoutMs: num("task-timeout-seconds", 0.1) * 1000,
    shutdownGraceMs: num("shutdown-grace-seconds", 0) * 1000,
    log,
  });
  const ops = startOpsServer({
    port: num("metrics-port", 0),
    registry: runtime.metrics.registry,
    ready: () => runtime.ready,
  });
  await runtime.start();
  log.info({ metricsPort: ops.port }, "Serving /metrics, /healthz and /readyz");
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, async () => {
      if (stopping) return;
      stopping = true;
      await runtime.shutdown();
      await ops.stop();
      process.exit(0);
    });
  }
  return runtime;
}
