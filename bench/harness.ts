/**
 * The conductor in the bench's own process, the one wiring every in-process
 * benchmark uses: the scheduler, a controller (leader election off: it is the
 * only one) and, when asked, agents serving the given tools; one `stop` ends
 * them. Benchmarks measure against a baseline in the same run; this only sets
 * the stage, so a baseline runs without calling it.
 */
import { AgentRuntime } from "../lib/agent/runtime.ts";
import { type AnyTool, defineTool } from "../lib/agent/tool.ts";
import { LocalControlPlane } from "../lib/control-plane/local.ts";
import type { KubeConnection } from "../lib/kube/connection.ts";
import { type Logger, silentLogger } from "../lib/log.ts";
import { SchedulerClient } from "../lib/scheduling/client.ts";
import { KeptCandidatesPlacer } from "../lib/scheduling/kept-candidates.ts";
import { type ControllerConfig, defaultConfig } from "../services/controller/config.ts";
import { Controller } from "../services/controller/controller.ts";
import type { Prober } from "../services/controller/mcp-probe.ts";
import type { Placer } from "../services/controller/placement.ts";
import { Gateway, type GatewayOptions, serveGateway } from "../services/gateway/gateway.ts";
import { type CandidateSource, startSchedulerServer } from "../services/scheduler/server.ts";
import { setUpDomain } from "./control-plane.ts";

/** The benches' tool: it echoes its message, so a call costs only the path it takes. */
export const echoTool = defineTool({
  name: "echo",
  description: "Echoes its message.",
  capability: "echo",
  inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
  handler: ({ message }: { message: string }) => ({ value: message }),
});

export const benchLog = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

export interface InProcessConductorOptions {
  conn: KubeConnection;
  namespace: string;
  /** Over the default configuration; namespace and domain are `namespace`, and leader election is off. */
  config?: Partial<ControllerConfig>;
  /**
   * The scheduler server, started here (`candidates` answers its what-if
   * calls), unless `placer` stands in for it: a bench that places no Task
   * then pays for no scheduler.
   */
  scheduler?: { candidates?: CandidateSource } | { placer: Placer };
  mcpProber?: Prober;
  log?: Logger;
  /** Agents started here, after the controller, each serving `tools`. */
  agents?: { names: string[]; tools: AnyTool[]; maxConcurrentTasks: number; runningAfterMs?: number };
}

export interface InProcessConductor {
  controller: Controller;
  agents: AgentRuntime[];
  /** Stops every part, the agents first, even when one fails to stop; then throws the first failure. */
  stop(): Promise<void>;
}

/**
 * Starts the scheduler, the controller and the agents, in that order; if one
 * fails to start, stops those that did before throwing.
 */
export async function startInProcessConductor(o: InProcessConductorOptions): Promise<InProcessConductor> {
  // The parts that started, each with its stop, in the order to stop them.
  const stops: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    let failure: unknown;
    for (const s of stops.splice(0)) {
      try {
        await s();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  };
  try {
    const scheduler = o.scheduler && "placer" in o.scheduler ? o.scheduler.placer : await startScheduler(o, stops);
    const log = o.log ?? silentLogger;
    const config = defaultConfig();
    const controller = new Controller({
      config: {
        ...config,
        namespace: o.namespace,
        domain: o.namespace,
        ...o.config,
        leaderElection: { ...config.leaderElection, enabled: false },
      },
      conn: o.conn,
      scheduler,
      mcpProber: o.mcpProber,
      log,
    });
    await controller.start();
    stops.unshift(() => controller.stop());
    const agents: AgentRuntime[] = [];
    const { names = [], tools = [], maxConcurrentTasks = 1, runningAfterMs } = o.agents ?? {};
    for (const name of names) {
      const agent = new AgentRuntime({
        name,
        namespace: o.namespace,
        conn: o.conn,
        tools,
        maxConcurrentTasks,
        runningAfterMs,
        heartbeatIntervalMs: 5000,
        log: silentLogger,
      });
      await agent.start();
      agents.push(agent);
      stops.unshift(() => agent.shutdown());
    }
    return { controller, agents, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

/** The scheduler server and a client of it; their stops go on `stops`, to run after the controller's. */
async function startScheduler(o: InProcessConductorOptions, stops: (() => Promise<void> | void)[]): Promise<Placer> {
  const candidates = o.scheduler && "candidates" in o.scheduler ? o.scheduler.candidates : undefined;
  const server = await startSchedulerServer({ log: silentLogger, candidates });
  stops.unshift(() => server.stop());
  const client = new SchedulerClient(`127.0.0.1:${server.port}`);
  stops.unshift(() => client.close());
  // As the controller's main.ts: the candidates are sent again only when they changed.
  return new KeptCandidatesPlacer(client);
}

export interface BenchConductor extends InProcessConductor {
  cp: LocalControlPlane;
  conn: KubeConnection;
  ns: string;
}

/**
 * A local control plane with the domain of `ns` (bench/control-plane.ts) and
 * its conductor, every part in this process, with `agents` (4) Ready agents
 * serving `tools`; `stop` also stops the control plane.
 */
export async function startBenchConductor(opts: {
  ns: string;
  tools: AnyTool[];
  agents?: number;
  maxConcurrentTasks?: number;
}): Promise<BenchConductor> {
  const cp = await LocalControlPlane.start();
  try {
    const { conn } = await setUpDomain(cp, opts.ns);
    const conductor = await startInProcessConductor({
      conn,
      namespace: opts.ns,
      agents: {
        names: Array.from({ length: opts.agents ?? 4 }, (_, i) => `bench-agent-${i}`),
        tools: opts.tools,
        maxConcurrentTasks: opts.maxConcurrentTasks ?? 50,
      },
    });
    const { controller, agents } = conductor;
    while (controller.agents.list().filter((a) => a.status?.phase === "Ready").length < agents.length)
      await Bun.sleep(50);
    return {
      ...conductor,
      cp,
      conn,
      ns: opts.ns,
      async stop() {
        try {
          await conductor.stop();
        } finally {
          await cp.stop();
        }
      },
    };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

export interface BenchGateway {
  gateway: Gateway;
  url: string;
  stop(): Promise<void>;
}

/**
 * A gateway of the domain `ns` served on a loopback port, rate limits out of
 * the way (a bench's clients share one caller), once `tool` is in its registry.
 * `opts.security` adds to the open defaults.
 */
export async function serveBenchGateway(
  conn: KubeConnection,
  ns: string,
  opts: Partial<GatewayOptions> = {},
  tool = "echo",
): Promise<BenchGateway> {
  const gateway = new Gateway({
    conn,
    namespace: ns,
    log: silentLogger,
    ...opts,
    security: { ratePerSecond: 1e6, burst: 1e6, ...(opts.security ?? { allowUnauthenticated: true }) },
  });
  await gateway.start();
  const server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
  while (!gateway.get(tool)) await Bun.sleep(50);
  return {
    gateway,
    url: `http://127.0.0.1:${server.port}/mcp`,
    async stop() {
      await server.stop(true);
      await gateway.stop();
    },
  };
}
