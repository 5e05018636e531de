/**
 * Runs an agent as a process: reads its settings (config.ts: flags, env, a
 * file; POD_NAME, POD_UID and NAMESPACE come from the Downward API in a cluster),
 * serves /healthz, /readyz and /metrics, and drains on SIGTERM.
 *
 *   await runAgent({ kind: "greeter", tools: [myTool] });
 *   await runAgent({ kind: "files", settings: { root: string({ env: "FS_ROOT", default: "/data", doc: "…" }) },
 *     tools: (config) => fileTools(config.root) });
 */
import { type Env, loadConfig, loadOrExit, type Specs } from "../config/config.ts";
import { startOpsServer } from "../http/ops-server.ts";
import { KubeConnection } from "../kube/connection.ts";
import { createLogger } from "../log.ts";
import { stopOnSignal } from "../shutdown.ts";
import { startServiceTracing, tracedServices } from "../tracing.ts";
import { type AgentConfig, agentProgram } from "./config.ts";
import { AgentRuntime } from "./runtime.ts";
import type { AnyTool } from "./tool.ts";

export interface RunAgentOptions<S extends Specs = Record<never, never>> {
  /** The agent's default name prefix, when neither --name nor POD_NAME is set. */
  kind: string;
  /** Its tools, or a function of its configuration that makes them (for tools with settings). */
  tools: AnyTool[] | ((config: AgentConfig<S>) => AnyTool[]);
  /** The agent's own settings, read with the runtime's (lib/config). */
  settings?: S;
  capabilities?: string[];
  argv?: string[];
  env?: Env;
}

export async function runAgent<S extends Specs = Record<never, never>>(o: RunAgentOptions<S>): Promise<AgentRuntime> {
  const program = agentProgram(o.kind, o.settings ?? ({} as S));
  const config = loadOrExit(() => loadConfig(program, o.argv, o.env)) as AgentConfig<S>;
  const log = createLogger({ service: o.kind, level: config.logLevel });
  const tracing = await startServiceTracing(tracedServices.agent, log);
  const runtime = new AgentRuntime({
    name: config.name,
    namespace: config.namespace,
    // Outside a pod (run by hand, in tests) there is nothing to own the Agent.
    pod: config.podName && config.podUid ? { name: config.podName, uid: config.podUid } : undefined,
    conn: KubeConnection.fromOptions(),
    tools: typeof o.tools === "function" ? o.tools(config) : o.tools,
    capabilities: o.capabilities,
    tags: config.tags,
    resources: {
      ...(config.cpu ? { cpu: config.cpu } : {}),
      ...(config.memory ? { memory: config.memory } : {}),
      gpu: config.gpu,
    },
    maxConcurrentTasks: config.maxConcurrentTasks,
    heartbeatIntervalMs: config.heartbeatIntervalSeconds * 1000,
    taskTimeoutMs: config.taskTimeoutSeconds * 1000,
    runningAfterMs: config.runningAfterSeconds * 1000,
    shutdownGraceMs: config.shutdownGraceSeconds * 1000,
    log,
  });
  const ops = startOpsServer({
    port: config.metricsPort,
    registry: runtime.metrics.registry,
    ready: () => runtime.ready,
  });
  await runtime.start();
  log.info({ metricsPort: ops.port }, "Serving /metrics, /healthz and /readyz");
  stopOnSignal(log, async () => {
    await runtime.shutdown();
    await ops.stop();
    await tracing?.shutdown();
  });
  return runtime;
}
