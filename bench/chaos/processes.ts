/**
 * The processes of a chaos run: each service started as its own process
 * (as in a cluster), restarted when it exits on its own (as a kubelet would),
 * killed with SIGKILL on purpose by the fault schedule, and sampled for
 * memory (VmHWM and VmRSS from /proc/<pid>/status).
 */
import { openSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { procStatFields } from "../../lib/control-plane/processes.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { defaultConfig } from "../../services/controller/config.ts";

export interface ProcSpec {
  /** Unique per process: "controller-a", "agent-3". */
  name: string;
  /** What kind of service it is, for per-role figures. */
  role: string;
  cmd: string[];
  env: Record<string, string | undefined>;
  /** Resolves once the process serves. */
  ready?: () => Promise<boolean>;
}

/** Reads a field like VmHWM (kB) from /proc/<pid>/status, in bytes. */
export function procStatusBytes(pid: number, field: "VmHWM" | "VmRSS"): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.end();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

export class ManagedProcess {
  proc: Subprocess | undefined;
  /** Starts, planned (after a fault) and unplanned (it exited by itself). */
  starts = 0;
  unplannedExits = 0;
  /** Highest VmHWM of any instance of this process. */
  peakBytes = 0;
  lastRssBytes = 0;
  private held = false;
  private stopped = false;

  constructor(
    readonly spec: ProcSpec,
    private readonly logDir: string,
    private readonly say: (msg: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined;
  }

  async start(waitReady = true): Promise<void> {
    const fd = openSync(join(this.logDir, `${this.spec.name}.log`), "a");
    const proc = Bun.spawn(this.spec.cmd, {
      env: { ...process.env, ...this.spec.env },
      stdout: fd,
      stderr: fd,
      stdin: "ignore",
    });
    this.proc = proc;
    this.starts++;
    void proc.exited.then(async (code) => {
      this.sample(proc.pid);
      if (this.stopped || this.held || this.proc !== proc) return;
      // Exited by itself (a lost lease, a crash): restart it, as a kubelet would.
      this.unplannedExits++;
      this.say(`${this.spec.name} exited by itself (code ${code}); restarting`);
      await Bun.sleep(1000);
      if (!this.stopped && !this.held && this.proc === proc) await this.start(false).catch(() => {});
    });
    if (waitReady) await this.waitReady();
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    if (!this.spec.ready) return;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.spec.ready()) return;
      await Bun.sleep(100);
    }
    throw new Error(`${this.spec.name} was not ready after ${timeoutMs} ms; see ${this.logDir}/${this.spec.name}.log`);
  }

  /** Records this instance's memory. */
  sample(pid = this.pid): void {
    if (!pid) return;
    const hwm = procStatusBytes(pid, "VmHWM");
    const rss = procStatusBytes(pid, "VmRSS");
    if (hwm) this.peakBytes = Math.max(this.peakBytes, hwm);
    if (rss) this.lastRssBytes = rss;
  }

  /** kill -9, and no restart until `restart`. */
  async kill9(): Promise<void> {
    this.held = true;
    const p = this.proc;
    if (!p) return;
    this.sample(p.pid);
    p.kill("SIGKILL");
    await p.exited;
  }

  async restart(): Promise<void> {
    this.held = false;
    await this.start(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    this.sample(p.pid);
    p.kill("SIGTERM");
    const done = await Promise.race([p.exited.then(() => true), Bun.sleep(8000).then(() => false)]);
    if (!done) {
      p.kill("SIGKILL");
      await p.exited;
    }
  }
}

/** The conductor's services as process specs, the same for every harness that runs them as processes. */
export const conductorProcesses = {
  scheduler: (o: { port: number; env: ProcSpec["env"] }): ProcSpec => ({
    name: "scheduler",
    role: "scheduler",
    // No metrics port: its default (9091) is fixed, and two harnesses on one machine would collide on it.
    cmd: [
      process.execPath,
      join(repoRoot, "services/scheduler/main.ts"),
      `--port=${o.port}`,
      "--host=127.0.0.1",
      "--metrics-port=0",
    ],
    env: o.env,
    ready: () => tcpOpen(o.port),
  }),
  controller: (o: {
    name: string;
    namespace: string;
    schedulerPort: number;
    metricsPort: number;
    args: string[];
    env: ProcSpec["env"];
  }): ProcSpec => ({
    name: o.name,
    role: "controller",
    cmd: [
      process.execPath,
      join(repoRoot, "services/controller/main.ts"),
      `--namespace=${o.namespace}`,
      `--identity=${o.name}`,
      `--scheduler-address=127.0.0.1:${o.schedulerPort}`,
      `--metrics-port=${o.metricsPort}`,
      ...o.args,
    ],
    env: o.env,
    ready: () => httpOk(`http://127.0.0.1:${o.metricsPort}/readyz`),
  }),
  gateway: (o: { name: string; namespace: string; port: number; args?: string[]; env: ProcSpec["env"] }): ProcSpec => ({
    name: o.name,
    role: "gateway",
    cmd: [
      process.execPath,
      join(repoRoot, "services/gateway/main.ts"),
      `--namespace=${o.namespace}`,
      `--port=${o.port}`,
      "--host=127.0.0.1",
      // chaos runs: no tokens (open mode, loopback), metrics on any free port
      "--allow-unauthenticated",
      "--metrics-port=0",
      ...(o.args ?? []),
    ],
    env: o.env,
    ready: () => httpOk(`http://127.0.0.1:${o.port}/readyz`),
  }),
  /** The soak's agent (test/fixtures/soak-agent.ts), appending its execution log to `execDir`. */
  soakAgent: (o: {
    name: string;
    /** The Agent object it serves, when not its process name. */
    agentName?: string;
    namespace: string;
    execDir: string;
    args?: string[];
    env: ProcSpec["env"];
  }): ProcSpec => ({
    name: o.name,
    role: "agent",
    cmd: [
      process.execPath,
      join(repoRoot, "test/fixtures/soak-agent.ts"),
      `--name=${o.agentName ?? o.name}`,
      `--namespace=${o.namespace}`,
      ...(o.args ?? []),
      "--metrics-port=0",
    ],
    env: { ...o.env, SOAK_LOG_DIR: o.execDir },
  }),
};

/** Who holds the controllers' leader Lease of a domain, if anyone. */
export async function leaseHolder(conn: KubeConnection, namespace: string): Promise<string | undefined> {
  try {
    const l = await conn.request<{ spec: { holderIdentity?: string } }>(
      "GET",
      `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${defaultConfig().leaderElection.leaseName}`,
    );
    return l.spec.holderIdentity || undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a process has used so far, in ms; undefined once it is gone. */
export function procCpuMs(pid: number): number | undefined {
  const fields = procStatFields(pid);
  return fields && ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const clockTicksPerSecond = 100;
