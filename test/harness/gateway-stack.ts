/**
 * The whole path for gateway tests in one namespace: controller and
 * scheduler, one in-process agent with the given tools, and a gateway
 * served on a loopback port.
 */
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import { type AnyTool, defineTool } from "../../lib/agent/tool.ts";
import { type Logger, silentLogger } from "../../lib/log.ts";
import { Gateway, type GatewayOptions, type GatewaySecurity, serveGateway } from "../../services/gateway/gateway.ts";
import type { TestCluster } from "./cluster.ts";
import { startConductor, type TestConductor } from "./conductor.ts";
import { eventually } from "./eventually.ts";

export interface GatewayStack {
  conductor: TestConductor;
  agent: AgentRuntime;
  gateway: Gateway;
  server: ReturnType<typeof serveGateway>;
  url: URL;
  stop(): Promise<void>;
}

export async function startGatewayStack(
  cluster: TestCluster,
  ns: string,
  tools: AnyTool[],
  opts: {
    agentName?: string;
    security?: GatewaySecurity;
    federation?: GatewayOptions["federation"];
    /** More gateway options: authorization, limits, its audit stream. */
    gateway?: Partial<GatewayOptions>;
    /** The controller's audit stream. */
    audit?: Logger;
  } = {},
): Promise<GatewayStack> {
  const conductor = await startConductor(cluster, ns, {}, { audit: opts.audit });
  const agent = new AgentRuntime({
    name: opts.agentName ?? "agent-1",
    namespace: ns,
    conn: cluster.conn,
    tools,
    maxConcurrentTasks: 20,
    heartbeatIntervalMs: 500,
    // tools parked on input nobody gives would hold a graceful drain for its whole grace period
    shutdownGraceMs: 2_000,
    log: silentLogger,
  });
  await agent.start();
  const gateway = new Gateway({
    conn: cluster.conn,
    namespace: ns,
    log: silentLogger,
    // Every test client shares one anonymous bucket; a suite like the
    // conformance runner sends 130 requests in under a second, so the default
    // limit would turn a fast machine's run into 429s. The limiter has tests of its own.
    security: opts.security ?? { ratePerSecond: 10_000, burst: 10_000, allowUnauthenticated: true },
    federation: opts.federation,
    ...opts.gateway,
  });
  await gateway.start();
  const server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
  await eventually(() => tools.every((t) => gateway.get(t.name)), { message: "the agent's tools in the registry" });
  return {
    conductor,
    agent,
    gateway,
    server,
    url: new URL(`http://127.0.0.1:${server.port}/mcp`),
    async stop() {
      await server.stop(true);
      await gateway.stop();
      await agent.shutdown();
      await conductor.stop();
    },
  };
}

/**
 * A second agent whose one tool ("ocr") appears in the gateway's list when it
 * starts: for tests of tools/list_changed. Not started; the caller starts and stops it.
 */
export function ocrAgent(cluster: TestCluster, ns: string): AgentRuntime {
  return new AgentRuntime({
    name: "ocr-1",
    namespace: ns,
    conn: cluster.conn,
    tools: [
      defineTool({
        name: "ocr",
        description: "Reads text from an image.",
        capability: "ocr",
        inputSchema: { type: "object" },
        handler: () => ({ text: "" }),
      }),
    ],
    heartbeatIntervalMs: 500,
    log: silentLogger,
  });
}
