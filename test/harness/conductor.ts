/**
 * A conductor for one test namespace: the scheduler and the controller run
 * in this process against the shared control plane, with short heartbeat
 * thresholds; agents are plain objects whose heartbeats the test drives, and
 * the test plays the agent's part in task status.
 */
import type { Agent, Task } from "../../lib/api/resources.ts";
import { createLogger, type Logger, silentLogger } from "../../lib/log.ts";
import { SchedulerClient } from "../../lib/scheduling/client.ts";
import { KeptCandidatesPlacer } from "../../lib/scheduling/kept-candidates.ts";
import { type ControllerConfig, defaultConfig } from "../../services/controller/config.ts";
import { Controller } from "../../services/controller/controller.ts";
import type { Prober } from "../../services/controller/mcp-probe.ts";
import { kubeCandidateSource, type SchedulerServer, startSchedulerServer } from "../../services/scheduler/server.ts";
import type { TestCluster } from "./cluster.ts";
import { eventually } from "./eventually.ts";

export interface TestConductor {
  controller: Controller;
  scheduler: SchedulerServer;
  stop(): Promise<void>;
}

export async function startConductor(
  cluster: TestCluster,
  namespace: string,
  overrides: Partial<ControllerConfig> = {},
  opts: { mcpProber?: Prober; audit?: Logger } = {},
): Promise<TestConductor> {
  const scheduler = await startSchedulerServer({ log: silentLogger, candidates: kubeCandidateSource(cluster.conn) });
  const client = new SchedulerClient(`127.0.0.1:${scheduler.port}`);
  const config: ControllerConfig = {
    ...defaultConfig(),
    namespace,
    domain: namespace,
    identity: `test-${namespace}`,
    heartbeatTimeoutSeconds: 2,
    unknownAfterSeconds: 6,
    // tests of TTLs choose their own floor
    minTtlSecondsAfterFinished: 0,
    ...overrides,
    leaderElection: { ...defaultConfig().leaderElection, enabled: false, ...overrides.leaderElection },
  };
  const controller = new Controller({
    config,
    conn: cluster.conn,
    scheduler: new KeptCandidatesPlacer(client),
    mcpProber: opts.mcpProber,
    audit: opts.audit,
    log: process.env.TEST_LOG ? createLogger({ service: "controller", level: "debug" }) : silentLogger,
  });
  await controller.start();
  return {
    controller,
    scheduler,
    async stop() {
      await controller.stop();
      client.close();
      await scheduler.stop();
    },
  };
}

/** Agents as objects, heartbeated by the test every 500 ms until stopped. */
export class TestAgents {
  private timers = new Map<string, ReturnType<typeof setInterval>>();
  /** How far each agent's clock is off the test's, in its heartbeats. */
  private clockOffsets = new Map<string, number>();

  constructor(
    private readonly cluster: TestCluster,
    private readonly namespace: string,
  ) {}

  async heartbeat(name: string): Promise<void> {
    await this.cluster.mcp.agents.patch(
      this.namespace,
      name,
      { status: { lastHeartbeat: new Date(Date.now() + (this.clockOffsets.get(name) ?? 0)).toISOString() } },
      "merge",
      {
        subresource: "status",
      },
    );
  }

  /** Creates an Agent and heartbeats it; clockOffsetMs puts its clock ahead (or behind, negative). */
  async create(name: string, spec: Partial<Agent["spec"]> = {}, { clockOffsetMs = 0 } = {}): Promise<void> {
    this.clockOffsets.set(name, clockOffsetMs);
    await this.cluster.mcp.agents.create(this.namespace, {
      metadata: { name },
      spec: { capabilities: ["x"], ...spec },
    });
    await this.heartbeat(name);
    this.timers.set(
      name,
      setInterval(() => void this.heartbeat(name).catch(() => {}), 500),
    );
  }

  /** Waits until the controller has marked these agents Ready. */
  async waitReady(...names: string[]): Promise<void> {
    for (const name of names) {
      await eventually(
        async () => (await this.cluster.mcp.agents.get(this.namespace, name)).status?.phase === "Ready",
        {
          message: `agent ${name} Ready`,
        },
      );
    }
  }

  /** Stops heartbeating, as if the agent died. */
  silence(name: string): void {
    clearInterval(this.timers.get(name));
    this.timers.delete(name);
  }

  stopAll(): void {
    for (const name of [...this.timers.keys()]) this.silence(name);
  }

  /** Plays the agent: moves its task to Running, Completed or Failed. */
  async report(task: string, status: Partial<NonNullable<Task["status"]>>): Promise<Task> {
    for (;;) {
      const t = await this.cluster.mcp.tasks.get(this.namespace, task);
      try {
        return await this.cluster.mcp.tasks.replaceStatus({ ...t, status: { ...t.status, ...status } });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 409) throw err;
      }
    }
  }
}
