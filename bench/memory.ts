/**
 * Each service's resident memory at idle, against the goal of 60 MiB per Bun
 * process: the controller, the scheduler, a gateway, an agent (data-processor)
 * and the authorizer, each its own process against a local control plane, as
 * in a cluster. Once every one serves (and the controller leads), they are
 * left alone IDLE seconds; then VmRSS is read from /proc/<pid>/status SAMPLES
 * times a second apart and the median kept. Bun's own floor, a process that
 * imports nothing, is measured in the same run. Ends with one JSON line.
 * BUN_FLAGS are given to every process's bun, the floor's too (e.g. --smol).
 *   IDLE=10 bun bench/memory.ts
 */
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../lib/control-plane/binaries.ts";
import { freePort, LocalControlPlane } from "../lib/control-plane/local.ts";
import { conductorProcesses, httpOk, ManagedProcess, type ProcSpec, procStatusBytes } from "./chaos/processes.ts";
import { setUpDomain } from "./control-plane.ts";
import { benchLog } from "./harness.ts";
import { figure, percentile, table } from "./stats.ts";

/** Seconds every process is left idle after the last one is ready. */
const IDLE = Number(process.env.IDLE ?? 10);
/** VmRSS readings per process, one a second, after the idle wait. */
const SAMPLES = Number(process.env.SAMPLES ?? 5);
const BUN_FLAGS = (process.env.BUN_FLAGS ?? "").split(/\s+/).filter(Boolean);
const GOAL_MIB = 60;
const ns = "memory";
const mib = (bytes: number) => bytes / 1048576;

const outDir = join(tmpdir(), `mcp-conductor-memory-${Date.now()}`);
mkdirSync(outDir, { recursive: true });
const cp = await LocalControlPlane.start();
const procs: ManagedProcess[] = [];
const stopAll = async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await cp.stop();
};
process.once("SIGINT", () => void stopAll().finally(() => process.exit(130)));

try {
  const { kubeconfig } = await setUpDomain(cp, ns);
  const env = { KUBECONFIG: kubeconfig, LOG_LEVEL: "warn" };
  const schedulerPort = await freePort();
  const agentMetricsPort = await freePort();
  const authorizerMetricsPort = await freePort();
  const serving = cp.pki.servingCert("memory-authorizer", ["127.0.0.1"], ["localhost"]);
  const specs: ProcSpec[] = [
    // Bun itself: the same binary, an event loop kept alive, nothing imported.
    { name: "bun (floor)", role: "floor", cmd: [process.execPath, "-e", "setInterval(() => {}, 1 << 30)"], env: {} },
    conductorProcesses.scheduler({ port: schedulerPort, env }),
    conductorProcesses.controller({
      name: "controller",
      namespace: ns,
      schedulerPort,
      metricsPort: await freePort(),
      args: [],
      env,
    }),
    conductorProcesses.gateway({ name: "gateway", namespace: ns, port: await freePort(), env }),
    {
      name: "agent (data-processor)",
      role: "agent",
      cmd: [
        process.execPath,
        join(repoRoot, "services/agents/data-processor/main.ts"),
        "--name=memory-agent",
        `--namespace=${ns}`,
        `--metrics-port=${agentMetricsPort}`,
      ],
      env,
      ready: () => httpOk(`http://127.0.0.1:${agentMetricsPort}/readyz`),
    },
    {
      name: "authorizer",
      role: "authorizer",
      cmd: [
        process.execPath,
        join(repoRoot, "services/authorizer/main.ts"),
        `--port=${await freePort()}`,
        "--host=127.0.0.1",
        `--tls-cert-file=${serving.certPath}`,
        `--tls-key-file=${serving.keyPath}`,
        `--metrics-port=${authorizerMetricsPort}`,
      ],
      env: { LOG_LEVEL: "warn" },
      ready: () => httpOk(`http://127.0.0.1:${authorizerMetricsPort}/readyz`),
    },
  ];
  for (const spec of specs) {
    const [bun, ...rest] = spec.cmd;
    const p = new ManagedProcess({ ...spec, cmd: [bun as string, ...BUN_FLAGS, ...rest] }, outDir, benchLog);
    procs.push(p);
    benchLog(`starting ${spec.name}`);
    await p.start();
  }
  benchLog(`all ready; idle for ${IDLE} s`);
  await Bun.sleep(IDLE * 1000);

  const readings = new Map<ManagedProcess, number[]>(procs.map((p) => [p, []]));
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await Bun.sleep(1000);
    for (const p of procs) {
      const rss = p.pid ? procStatusBytes(p.pid, "VmRSS") : undefined;
      if (rss === undefined) throw new Error(`${p.spec.name} is not running; see ${outDir}/${p.spec.name}.log`);
      readings.get(p)?.push(rss);
    }
  }
  const rows = procs.map((p) => {
    const sorted = [...(readings.get(p) ?? [])].sort((a, b) => a - b);
    const peak = p.pid ? procStatusBytes(p.pid, "VmHWM") : undefined;
    return { name: p.spec.name, role: p.spec.role, rss: mib(percentile(sorted, 50)), peak: mib(peak ?? Number.NaN) };
  });
  const floor = rows.find((r) => r.role === "floor")?.rss ?? Number.NaN;
  console.log(
    table([
      ["process", "RSS MiB", "over Bun", "peak MiB", `goal ${GOAL_MIB}`],
      ...rows.map((r) => [
        r.name,
        r.rss.toFixed(1),
        r.role === "floor" ? "" : `+${(r.rss - floor).toFixed(1)}`,
        r.peak.toFixed(1),
        r.role === "floor" ? "" : r.rss <= GOAL_MIB ? "ok" : `+${(r.rss - GOAL_MIB).toFixed(1)} over`,
      ]),
    ]),
  );
  const services = rows.filter((r) => r.role !== "floor");
  console.log(
    JSON.stringify({
      bench: "memory",
      idleSeconds: IDLE,
      bunFlags: BUN_FLAGS.join(" "),
      samples: SAMPLES,
      goalMiB: GOAL_MIB,
      floorMiB: figure(floor, 1),
      rssMiB: Object.fromEntries(services.map((r) => [r.role, figure(r.rss, 1)])),
      peakMiB: Object.fromEntries(services.map((r) => [r.role, figure(r.peak, 1)])),
      overGoal: services.filter((r) => r.rss > GOAL_MIB).map((r) => r.role),
    }),
  );
} finally {
  await stopAll();
}
