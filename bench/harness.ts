/**
 * What the in-process benchmarks share: a local control plane with the CRDs,
 * a namespace, the scheduler and a controller in this process, and agents
 * serving the given tools; one `stop` ends it all. Benchmarks measure against
 * a baseline in the same run; this only sets the stage.
 */
import { AgentRuntime } from "../lib/agent/runtime.ts";
import { type AnyTool, defineTool } from "../lib/agent/tool.ts";
import { installCrds } from "../lib/api/install.ts";
import { LocalControlPlane } from "../lib/control-plane/local.ts";
import { KubeConnection } from "../lib/kube/connection.ts";
import { silentLogger } from "../lib/log.ts";
import { SchedulerClient } from "../lib/scheduling/client.ts";
import { defaultConfig } from "../services/controller/config.ts";
import { Controller } from "../services/controller/controller.ts";
import { startSchedulerServer } from "../services/scheduler/server.ts";

/** The benches' tool: it echoes its message, so a call costs only the path it takes. */
export const echoTool = defineTool({
  name: "echo",
  description: "Echoes its message.",
  capability: "echo",
  inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
  handler: ({ message }: { message: string }) => ({ value: message }),
});

export const benchLog = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

export interface BenchConductor {
  cp: LocalControlPlane;
  conn: KubeConnection;
  ns: string;
  controller: Controller;
  agents: AgentRuntime[];
  stop(): Promise<void>;
}

/** The conductor of one namespace, every part in this process, with Ready agents serving `tools`. */
export async function startBenchConductor(opts: {
  ns: string;
  tools: AnyTool[];
  agents?: number;
  maxConcurrentTasks?: number;
}): Promise<BenchConductor> {
  const cp = await LocalControlPlane.start();
  const conn = KubeConnection.fromOptions({ kubeconfigYaml: cp.kubeconfig() });
  await installCrds(conn);
  await conn.request("POST", "/api/v1/namespaces", { body: { metadata: { name: opts.ns } } });
  const scheduler = await startSchedulerServer({ log: silentLogger });
  const schedulerClient = new SchedulerClient(`127.0.0.1:${scheduler.port}`);
  const config = defaultConfig();
  const controller = new Controller({
    config: {
      ...config,
      namespace: opts.ns,
      domain: opts.ns,
      leaderElection: { ...config.leaderElection, enabled: false },
    },
    conn,
    scheduler: schedulerClient,
    log: silentLogger,
  });
  await controller.start();
  const agents = Array.from(
    { length: opts.agents ?? 4 },
    (_, i) =>
      new AgentRuntime({
        name: `bench-agent-${i}`,
        namespace: opts.ns,
        conn,
        tools: opts.tools,
        maxConcurrentTasks: opts.maxConcurrentTasks ?? 50,
        heartbeatIntervalMs: 5000,
        log: silentLogger,
      }),
  );
  for (const a of agents) await a.start();
  while (controller.agents.list().filter((a) => a.status?.phase === "Ready").length < agents.length)
    await Bun.sleep(50);
  return {
    cp,
    conn,
    ns: opts.ns,
    controller,
    agents,
    async stop() {
      for (const a of agents) await a.shutdown();
      await controller.stop();
      schedulerClient.close();
      await scheduler.stop();
      await cp.stop();
    },
  };
}
