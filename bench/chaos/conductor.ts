/**
 * The soak's conductor, each service its own process: the scheduler, two
 * leader-elected controllers, the agent processes and two gateways; up once
 * the agents are Ready and both gateways offer the agents' tools.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpClients } from "../../lib/api/resources.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { silentLogger } from "../../lib/log.ts";
import { conductorProcesses, ManagedProcess } from "./processes.ts";

export interface Gateway {
  proc: ManagedProcess;
  url: URL;
}

export interface SoakConductor {
  scheduler: ManagedProcess;
  controllers: ManagedProcess[];
  agents: ManagedProcess[];
  gateways: Gateway[];
}

export interface ConductorOptions {
  namespace: string;
  kubeconfig: string;
  agentProcesses: number;
  heartbeatTimeoutSeconds: number;
  logDir: string;
  execDir: string;
  say: (msg: string) => void;
}

/** The soak's tools, which both gateways must offer before the load starts. */
const soakTools = ["soak_ok", "soak_fail", "soak_sleep"];

/**
 * Short leases, so a killed leader is replaced within the fault's hold, and
 * finished Tasks kept for a day, so the verdict still finds them at the end.
 */
export const controllerArgs = (heartbeatTimeoutSeconds: number): string[] => [
  "--lease-duration-seconds=8",
  "--renew-deadline-seconds=5",
  "--retry-period-seconds=2",
  `--heartbeat-timeout-seconds=${heartbeatTimeoutSeconds}`,
  `--unknown-after-seconds=${heartbeatTimeoutSeconds * 3}`,
  "--default-ttl-seconds-after-finished=86400",
];

/**
 * Starts every service, in the order the run's figures list them, adding each
 * to `procs` as it starts so the caller stops whatever did start.
 */
export async function startSoakConductor(
  mcp: McpClients,
  o: ConductorOptions,
  procs: ManagedProcess[],
): Promise<SoakConductor> {
  // Listed in procs before it starts, so a failed start is stopped too.
  const managed = (spec: ManagedProcess["spec"]) => {
    const p = new ManagedProcess(spec, o.logDir, o.say);
    procs.push(p);
    return p;
  };
  // SOAK_LOG_LEVEL=info keeps every call's lines (Task created, completed) in the logs.
  const env = { KUBECONFIG: o.kubeconfig, LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? "warn" };
  const schedulerPort = await freePort();
  const scheduler = managed(conductorProcesses.scheduler({ port: schedulerPort, env }));
  await scheduler.start();

  const controllers: ManagedProcess[] = [];
  for (const id of ["a", "b"]) {
    const c = managed(
      conductorProcesses.controller({
        name: `controller-${id}`,
        namespace: o.namespace,
        schedulerPort,
        metricsPort: await freePort(),
        args: controllerArgs(o.heartbeatTimeoutSeconds),
        env,
      }),
    );
    controllers.push(c);
    await c.start();
  }

  const agents = Array.from({ length: o.agentProcesses }, (_, i) =>
    managed(
      conductorProcesses.soakAgent({
        name: `soak-agent-${i}`,
        namespace: o.namespace,
        execDir: o.execDir,
        args: ["--max-concurrent-tasks=25", "--heartbeat-interval-seconds=5", "--shutdown-grace-seconds=5"],
        env,
      }),
    ),
  );
  await Promise.all(agents.map((a) => a.start(false)));

  const gateways: Gateway[] = [];
  for (const id of ["a", "b"]) {
    const port = await freePort();
    const proc = managed(
      conductorProcesses.gateway({
        name: `gateway-${id}`,
        namespace: o.namespace,
        port,
        args: ["--rate-per-second=1000000", "--burst=1000000"],
        env,
      }),
    );
    gateways.push({ proc, url: new URL(`http://127.0.0.1:${port}/mcp`) });
    await proc.start();
  }

  await untilAgentsReady(
    mcp,
    o.namespace,
    agents.map((a) => a.spec.name),
  );
  for (const g of gateways) await untilToolsOffered(g.url);
  return { scheduler, controllers, agents, gateways };
}

/** Waits (2 min at most) until each named Agent is Ready, as the controller says. */
export async function untilAgentsReady(mcp: McpClients, namespace: string, names: string[]): Promise<void> {
  const phases = new Map<string, string>();
  const note = (a: { metadata: { name?: string }; status?: { phase?: string } }) =>
    phases.set(a.metadata.name ?? "", a.status?.phase ?? "");
  const watch = new Informer(mcp.agents, { namespace, logger: silentLogger }).on({ add: note, update: note });
  await watch.start();
  try {
    const readyBy = Date.now() + 120_000;
    while (!names.every((n) => phases.get(n) === "Ready")) {
      if (Date.now() > readyBy) throw new Error("the agent processes did not become Ready");
      await Bun.sleep(200);
    }
  } finally {
    await watch.stop();
  }
}

/** Waits until the gateway offers the agents' tools: its registry caught up. */
async function untilToolsOffered(url: URL): Promise<void> {
  const c = new Client({ name: "soak-probe", version: "1.0.0" });
  await c.connect(new StreamableHTTPClientTransport(url));
  for (;;) {
    const { tools } = await c.listTools();
    if (soakTools.every((n) => tools.some((t) => t.name === n))) break;
    await Bun.sleep(200);
  }
  await c.close();
}
