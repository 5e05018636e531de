// Two controller processes for one domain: only the leader reconciles; when
// it is killed with SIGKILL mid-run the other takes over within the lease
// duration, and no task is lost or assigned twice. A leader the apiserver
// stops answering steps down within its renew deadline, stays up, and leads
// again once the apiserver is back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { LeaderElector } from "../../lib/controller/leader-election.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { silentLogger } from "../../lib/log.ts";
import { kubeCandidateSource, type SchedulerServer, startSchedulerServer } from "../../services/scheduler/server.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { TestAgents } from "../harness/conductor.ts";
import { eventually } from "../harness/eventually.ts";
import { startTcpProxy } from "../harness/tcp-proxy.ts";

const lease = { duration: 3, renewDeadline: 2, retry: 1 };

let cluster: TestCluster;
let scheduler: SchedulerServer;
let ns: string;
let agents: TestAgents;
const procs = new Map<string, { proc: Subprocess; metricsPort: number }>();

async function startController(identity: string, kubeconfig: string, namespace = ns): Promise<void> {
  const metricsPort = await freePort();
  const proc = Bun.spawn(
    [
      "bun",
      join(repoRoot, "services", "controller", "main.ts"),
      `--namespace=${namespace}`,
      `--identity=${identity}`,
      `--scheduler-address=127.0.0.1:${scheduler.port}`,
      `--metrics-port=${metricsPort}`,
      `--lease-duration-seconds=${lease.duration}`,
      `--renew-deadline-seconds=${lease.renewDeadline}`,
      `--retry-period-seconds=${lease.retry}`,
      "--heartbeat-timeout-seconds=10",
      "--unknown-after-seconds=30",
    ],
    { env: { ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: "warn" }, stdout: "ignore", stderr: "inherit" },
  );
  procs.set(identity, { proc, metricsPort });
}

async function holder(namespace = ns): Promise<string | undefined> {
  try {
    const l = await cluster.conn.request<{ spec: { holderIdentity?: string } }>(
      "GET",
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/mcp-conductor-controller`,
    );
    return l.spec.holderIdentity || undefined;
  } catch {
    return undefined;
  }
}

const metrics = (identity: string) =>
  fetch(`http://127.0.0.1:${procs.get(identity)?.metricsPort}/metrics`).then((r) => r.text());
const leads = async (identity: string) => /mcp_controller_leader\{[^}]*\} 1/.test(await metrics(identity));

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("leader");
  scheduler = await startSchedulerServer({ log: silentLogger, candidates: kubeCandidateSource(cluster.conn) });
  agents = new TestAgents(cluster, ns);
  for (const a of ["w1", "w2", "w3"]) await agents.create(a, { maxConcurrentTasks: 100 });
}, 120_000);

afterAll(async () => {
  agents?.stopAll();
  for (const { proc } of procs.values()) proc.kill("SIGKILL");
  await scheduler?.stop();
});

describe("leader election", () => {
  test("fails over on kill -9 within the lease duration, losing and duplicating nothing", async () => {
    // Every transition into Assigned, per task, as seen on a watch.
    const assignments = new Map<string, string[]>();
    const watcher = new Informer<Task>(cluster.mcp.tasks, { namespace: ns }).on({
      update: (t, old) => {
        if (t.status?.phase === "Assigned" && old.status?.phase !== "Assigned") {
          const list = assignments.get(t.metadata.name ?? "") ?? [];
          list.push(t.status.assignedAgent ?? "");
          assignments.set(t.metadata.name ?? "", list);
        }
      },
    });
    await watcher.start();
    try {
      await startController("c1", cluster.kubeconfigPath);
      await startController("c2", cluster.kubeconfigPath);
      const leader = await eventually(holder, { timeout: 30_000, message: "a leader" });
      const standby = leader === "c1" ? "c2" : "c1";

      for (let i = 0; i < 30; i++)
        await cluster.mcp.tasks.create(ns, {
          metadata: { name: `before-${i}` },
          spec: { requiredCapabilities: ["x"] },
        });
      await eventually(() => [...assignments.keys()].filter((k) => k.startsWith("before-")).length === 30, {
        timeout: 20_000,
      });

      // Only the leader reconciles: the standby keeps warm caches and writes nothing.
      await eventually(async () => (await metrics(standby)).includes("mcp_controller_leader{"), { timeout: 10_000 });
      const standbyMetrics = await metrics(standby);
      expect(standbyMetrics).toMatch(/mcp_controller_leader\{[^}]*\} 0/);
      expect(standbyMetrics).not.toContain("mcp_controller_reconcile_duration_seconds_count");
      expect(await metrics(leader)).toMatch(/mcp_controller_leader\{[^}]*\} 1/);

      // Kill the leader mid-run, and keep creating work while nobody leads.
      const killedAt = Date.now();
      procs.get(leader)?.proc.kill("SIGKILL");
      const creating = (async () => {
        for (let i = 0; i < 30; i++)
          await cluster.mcp.tasks.create(ns, {
            metadata: { name: `during-${i}` },
            spec: { requiredCapabilities: ["x"] },
          });
      })();
      await eventually(async () => (await holder()) === standby, {
        timeout: 20_000,
        interval: 100,
        message: "the standby took the lease",
      });
      const takeoverMs = Date.now() - killedAt;
      console.log(`leader failover: ${takeoverMs} ms after kill -9 (lease ${lease.duration}s, retry ${lease.retry}s)`);
      expect(takeoverMs).toBeLessThan((lease.duration + 2 * lease.retry) * 1000 + 500);
      await creating;

      await eventually(() => assignments.size === 60, { timeout: 20_000, message: "all 60 tasks assigned" });
      await Bun.sleep(1_000); // let any duplicate assignment show itself
      const tasks = (await cluster.mcp.tasks.list(ns)).items;
      expect(tasks).toHaveLength(60);
      for (const t of tasks) {
        expect(t.status?.phase).toBe("Assigned");
        expect(t.status?.attempts).toBe(1);
        expect(assignments.get(t.metadata.name ?? "")).toHaveLength(1);
      }
    } finally {
      await watcher.stop();
    }
  }, 90_000);

  test("a leader the apiserver stops answering steps down in time, stays up, and leads again when it is back", async () => {
    const ons = await cluster.newNamespace("leader-outage");
    const outageAgents = new TestAgents(cluster, ons);
    // This controller alone reaches the apiserver through a proxy the test can make hang.
    const server = new URL(cluster.cp.server);
    const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
    const kubeconfig = join(tmpdir(), `leader-outage-${process.pid}.kubeconfig`);
    writeFileSync(
      kubeconfig,
      readFileSync(cluster.kubeconfigPath, "utf8").replace(cluster.cp.server, `https://127.0.0.1:${proxy.port}`),
    );
    const assigned = (name: string) =>
      eventually(async () => (await cluster.mcp.tasks.get(ons, name)).status?.phase === "Assigned", {
        timeout: 15_000,
        message: `task ${name} Assigned`,
      });
    try {
      await outageAgents.create("o1", { maxConcurrentTasks: 100 });
      await startController("solo", kubeconfig, ons);
      const solo = procs.get("solo")?.proc as Subprocess;
      const soloLeads = async () => {
        if (solo.exitCode !== null) throw new Error(`the controller exited (code ${solo.exitCode})`);
        return leads("solo");
      };
      await eventually(async () => (await holder(ons)) === "solo" && (await soloLeads()), {
        timeout: 30_000,
        message: "solo leads",
      });
      await cluster.mcp.tasks.create(ons, { metadata: { name: "before" }, spec: { requiredCapabilities: ["x"] } });
      await assigned("before");

      // The apiserver stops answering (as when etcd is down behind it): requests hang, none fails.
      proxy.hang();
      const hungAt = Date.now();
      await eventually(async () => !(await soloLeads()), {
        timeout: (lease.renewDeadline + 2 * lease.retry) * 1000 + 2_000,
        interval: 100,
        message: "the leader stepped down",
      });
      console.log(`stepped down ${Date.now() - hungAt} ms after the apiserver stopped answering`);
      await Bun.sleep(lease.duration * 1000); // longer than the lease
      expect(solo.exitCode).toBeNull(); // still running: no restart for an outage

      proxy.restore();
      await eventually(soloLeads, { timeout: 20_000, message: "solo leads again" });
      await cluster.mcp.tasks.create(ons, { metadata: { name: "after" }, spec: { requiredCapabilities: ["x"] } });
      await assigned("after");
      expect(solo.exitCode).toBeNull();
    } finally {
      outageAgents.stopAll();
      procs.get("solo")?.proc.kill("SIGKILL");
      await proxy.stop();
    }
  }, 90_000);

  test("a leader that stops releases the lease, so its successor need not wait it out", async () => {
    const lns = await cluster.newNamespace("lease-release");
    const led: string[] = [];
    const elector = (identity: string) =>
      new LeaderElector(cluster.conn, {
        namespace: lns,
        name: "demo",
        identity,
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 200,
        onStartedLeading: () => led.push(identity),
        onStoppedLeading: () => led.push(`${identity} lost`),
      });
    const first = elector("first");
    first.start();
    await eventually(() => led.includes("first"));
    const second = elector("second");
    second.start();
    await Bun.sleep(600);
    expect(led).toEqual(["first"]); // the lease is held: the second waits
    const stoppedAt = Date.now();
    await first.stop();
    await eventually(() => led.includes("second"), { timeout: 5_000 });
    expect(Date.now() - stoppedAt).toBeLessThan(3_000); // far less than the 15 s lease
    expect(led).toEqual(["first", "second"]);
    await second.stop();
  }, 30_000);
});
