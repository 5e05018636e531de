/**
 * The soak and chaos run: a whole conductor as separate processes on a real
 * local control plane (2 leader-elected controllers, the scheduler, 2
 * gateways, real agent processes, plus Agent objects heartbeated here up to
 * the total), a mixed load of MCP tool calls through the gateways and of
 * Tasks written directly (priorities, deadlines, retry policies), and kill -9
 * of every component in turn while the load runs. It then checks the
 * delivery guarantee from the agents' execution logs and the Task objects:
 * no task lost, no completion recorded twice; and that a call whose Task
 * finished got its answer unless its gateway was killed while it waited.
 * Used by bench/soak.ts and test/chaos/soak.test.ts.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  type CallToolResult,
  CallToolResultSchema,
  CreateTaskResultSchema,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import pLimit from "p-limit";
import { installCrds } from "../../lib/api/install.ts";
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { isFinished } from "../../lib/api/task-state.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort, LocalControlPlane } from "../../lib/control-plane/local.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { isAlreadyExists } from "../../lib/kube/errors.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { silentLogger } from "../../lib/log.ts";
import type { ExecutionRecord } from "../../test/fixtures/soak-agent.ts";
import { summarize } from "../stats.ts";
import { Prng } from "./prng.ts";
import { conductorProcesses, leaseHolder, ManagedProcess } from "./processes.ts";
import { soakVerdict } from "./verdict.ts";

export type FaultKind = "controller" | "scheduler" | "gateway" | "agents" | "apiserver" | "etcd";
export const allFaults: FaultKind[] = ["controller", "scheduler", "gateway", "agents", "apiserver", "etcd"];

export interface SoakOptions {
  /** Calls to make in all (MCP calls through the gateways and direct Tasks). */
  calls: number;
  /** Concurrent MCP clients. */
  clients: number;
  /** Real agent processes. */
  agentProcesses: number;
  /** Agents in all; those beyond the processes are objects heartbeated by the harness. */
  totalAgents: number;
  /** How long each fault is held before the component is restarted. */
  holdSeconds: number;
  /** Quiet time before the first fault, between faults and after the last. */
  gapSeconds: number;
  faults: FaultKind[];
  /** How long to wait, after the load, for every task to finish. */
  settleSeconds: number;
  seed: number;
  /** Where logs, execution logs and the JSON report go. */
  outDir?: string;
  /** Controller heartbeat timeout (s); the harness heartbeats its agents at a third of it. */
  heartbeatTimeoutSeconds: number;
  say?: (msg: string) => void;
}

export const defaultSoakOptions = (): SoakOptions => ({
  calls: 2000,
  clients: 24,
  agentProcesses: 10,
  totalAgents: 1000,
  holdSeconds: 12,
  gapSeconds: 10,
  faults: allFaults,
  settleSeconds: 180,
  seed: 1,
  heartbeatTimeoutSeconds: 60,
});

type Kind =
  | "mcp_ok"
  | "mcp_slow"
  | "mcp_retry"
  | "mcp_fail"
  | "mcp_cancel"
  | "task_ok"
  | "task_fail"
  | "task_cancel"
  | "direct_priority"
  | "direct_retry"
  | "direct_deadline"
  | "probe";

const mix: Record<Kind, number> = {
  mcp_ok: 33,
  mcp_slow: 5,
  mcp_retry: 8,
  mcp_fail: 5,
  mcp_cancel: 5,
  task_ok: 16,
  task_fail: 3,
  task_cancel: 4,
  direct_priority: 12,
  direct_retry: 5,
  direct_deadline: 4,
  // Made by the fault schedule, not drawn: tasks running when the apiserver or etcd goes down.
  probe: 0,
};

/** What each kind of call should end as, by design. */
const expected: Record<Kind, "completed" | "error" | "cancelled"> = {
  mcp_ok: "completed",
  mcp_slow: "completed",
  mcp_retry: "completed",
  mcp_fail: "error",
  mcp_cancel: "cancelled",
  task_ok: "completed",
  task_fail: "error",
  task_cancel: "cancelled",
  direct_priority: "completed",
  direct_retry: "completed",
  direct_deadline: "error",
  probe: "completed",
};

interface PlannedCall {
  i: number;
  callId: string;
  kind: Kind;
  tool: string;
  args: Record<string, unknown>;
  /** Executions by design: 1, or the failing attempts plus the one that succeeds. */
  designedExecutions: number;
  priority?: number;
  cancelAfterMs?: number;
}

interface CallRecord {
  call: PlannedCall;
  startedAt: number;
  endedAt?: number;
  outcome?: "completed" | "error" | "cancelled" | "unexpected";
  detail?: string;
  /** The client lost its gateway mid-call and followed the Task instead. */
  interrupted?: boolean;
  /** The Task finished, but the client never got the answer. */
  answerLost?: boolean;
  /** The gateway the call went to, when its answer was lost. */
  lostOn?: string;
  /** Times the call was sent again because no Task was made. */
  resent: number;
  phase: string;
}

interface TaskTrack {
  uid: string;
  name: string;
  callId: string;
  seenAt: Partial<Record<string, number>>;
  /** Distinct final records seen (Completed:exec:completionTime or Failed:reason). */
  finals: Set<string>;
  finishedAt?: number;
  deleted: boolean;
  deletedAt?: number;
  last?: Task;
}

export interface SoakReport {
  seed: number;
  options: Omit<SoakOptions, "say">;
  durationSeconds: number;
  calls: {
    made: number;
    completed: number;
    failedByDesign: number;
    cancelledByDesign: number;
    failedUnexpectedly: number;
    interruptedAndRecovered: number;
    /** Calls whose Task finished but whose answer never reached the client. */
    answersLost: number;
    /**
     * Of those, the calls whose gateway was not killed while they waited: their
     * client was still connected, so the answer must have come (none may).
     * A gateway killed mid-call takes its calls' streams with it, and a 2025
     * stream cannot be resumed (ADR 0007): the client hears nothing more.
     */
    answersLostGatewayUp: number;
    answersLostByPhase: Record<string, number>;
    /** Which calls, their Tasks and gateways, to find them in the logs. */
    answersLostDetail: {
      callId: string;
      kind: string;
      phase: string;
      task: string;
      gateway: string;
      /** The call's gateway was killed while it waited. */
      gatewayKilled: boolean;
      /** Seconds from the load's start: the call made, its Task finished, the call given up. */
      startedAt: number;
      finishedAt: number;
      gaveUpAt: number;
    }[];
    resent: number;
    byKind: Record<string, Record<string, number>>;
    unexpected: { callId: string; kind: string; detail: string }[];
  };
  tasks: {
    seen: number;
    finished: number;
    cancelledAndDeleted: number;
    lost: number;
    lostDetail: { name: string; callId: string; phase: string }[];
    completionsRecordedTwice: number;
    recordedTwiceDetail: { name: string; finals: string[] }[];
    completionsWithoutExecution: number;
  };
  executions: {
    total: number;
    /** Executions beyond those the call's design needs (crash or reassignment re-ran the tool). */
    repeated: number;
    tasksExecutedMoreThanDesigned: number;
    /** The same idempotency key (task UID + attempt) started twice. */
    sameKeyTwice: number;
  };
  latencyMs: {
    byFaultPhase: Record<string, { n: number; p50: number; p99: number }>;
    byTaskPhase: Record<string, { n: number; p50: number; p99: number }>;
  };
  apiserver: { writes: number; writesPerSecond: number; byResource: Record<string, number> };
  peakRssMiB: Record<string, number>;
  restarts: Record<string, { planned: number; unplanned: number }>;
  faults: { kind: string; target: string; startedAt: number; heldSeconds: number; recoveredSeconds: number }[];
  /** soakVerdict's: whether the run passed, and each way it did not. */
  ok: boolean;
  failures: string[];
}

const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

/** Picks a call's kind, tool and arguments. */
function planCalls(n: number, rng: Prng): PlannedCall[] {
  return Array.from({ length: n }, (_, i) => {
    const kind = rng.weighted(mix);
    const callId = `c${i}-${rng.int(0, 1e9).toString(36)}`;
    const base = { i, callId, kind, designedExecutions: 1 };
    switch (kind) {
      case "mcp_ok":
      case "task_ok":
        return { ...base, tool: "soak_ok", args: { callId, ms: rng.int(0, 200) } };
      case "mcp_slow":
        return { ...base, tool: "soak_sleep", args: { callId, ms: rng.int(1000, 4000) } };
      case "mcp_retry":
        // Fails once (retryable), then succeeds on the default retry policy.
        return {
          ...base,
          tool: "soak_fail",
          args: { callId, retryable: true, failAttempts: 1 },
          designedExecutions: 2,
        };
      case "mcp_fail":
      case "task_fail":
        return { ...base, tool: "soak_fail", args: { callId, retryable: false } };
      case "mcp_cancel":
      case "task_cancel":
        return {
          ...base,
          tool: "soak_sleep",
          args: { callId, ms: 20_000 },
          cancelAfterMs: rng.int(300, 2500),
          designedExecutions: 0,
        };
      case "direct_priority":
        return { ...base, tool: "soak_ok", args: { callId, ms: rng.int(0, 100) }, priority: rng.int(1, 10) };
      case "direct_retry":
        return {
          ...base,
          tool: "soak_fail",
          args: { callId, retryable: true, failAttempts: 2 },
          designedExecutions: 3,
          priority: rng.int(1, 10),
        };
      default:
        // direct_deadline: sleeps past its deadline, so the controller fails it.
        return { ...base, tool: "soak_sleep", args: { callId, ms: 60_000 }, priority: rng.int(1, 10) };
    }
  });
}

function parseCounters(text: string, metric: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${metric}{`)) continue;
    const close = line.lastIndexOf("}");
    const labels: Record<string, string> = {};
    for (const m of line.slice(metric.length + 1, close).matchAll(/(\w+)="([^"]*)"/g))
      labels[m[1] as string] = m[2] as string;
    out.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return out;
}

export async function runSoak(given: Partial<SoakOptions> = {}): Promise<SoakReport> {
  const o: SoakOptions = { ...defaultSoakOptions(), ...given };
  const t0 = Date.now();
  const say = o.say ?? ((msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`));
  const outDir = o.outDir ?? join(tmpdir(), `mcp-conductor-soak-${Date.now()}`);
  const logDir = join(outDir, "logs");
  const execDir = join(outDir, "executions");
  mkdirSync(logDir, { recursive: true });
  mkdirSync(execDir, { recursive: true });
  say(
    `soak: seed ${o.seed}, ${o.calls} calls, ${o.agentProcesses} agent processes, ${o.totalAgents} agents; output ${outDir}`,
  );

  const rng = new Prng(o.seed);
  const ns = "soak";
  const cp = await LocalControlPlane.start();
  const procs: ManagedProcess[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  let informer: Informer<Task> | undefined;
  const clients: Client[] = [];
  // Ctrl-C: stop every process this run started before going.
  const onSignal = () => {
    say("interrupted; stopping what the run started");
    void Promise.all(procs.map((p) => p.stop()))
      .then(() => cp.stop())
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const kubeconfig = cp.writeKubeconfig();
    const conn = KubeConnection.fromOptions({ kubeconfigPath: kubeconfig });
    const mcp = mcpClients(conn);
    await installCrds(conn);
    await conn.request("POST", "/api/v1/namespaces", { body: { metadata: { name: ns } } });

    // ---- what the harness watches: every Task of the domain ----
    const tracks = new Map<string, TaskTrack>();
    const byCall = new Map<string, TaskTrack[]>();
    const waiters = new Map<string, () => void>();
    const note = (t: Task) => {
      const uid = t.metadata.uid ?? "";
      let tr = tracks.get(uid);
      if (!tr) {
        const callId = String((t.spec.payload as { callId?: unknown } | undefined)?.callId ?? "");
        tr = {
          uid,
          name: t.metadata.name ?? "",
          callId,
          seenAt: { Created: Date.now() },
          finals: new Set(),
          deleted: false,
        };
        tracks.set(uid, tr);
        byCall.set(callId, [...(byCall.get(callId) ?? []), tr]);
      }
      tr.last = t;
      const phase = t.status?.phase ?? "New";
      tr.seenAt[phase] ??= Date.now();
      if (isFinished(t)) {
        const r = t.status?.result as { exec?: string } | undefined;
        tr.finals.add(
          phase === "Completed"
            ? `Completed:${r?.exec ?? "?"}:${t.status?.completionTime ?? ""}`
            : `Failed:${t.status?.error?.reason ?? ""}`,
        );
        tr.finishedAt ??= Date.now();
      }
      if (isFinished(t)) waiters.get(tr.callId)?.();
    };
    informer = new Informer<Task>(mcp.tasks, { namespace: ns, logger: silentLogger }).on({
      add: note,
      update: note,
      delete: (t) => {
        const tr = tracks.get(t.metadata.uid ?? "");
        if (tr) {
          tr.deleted = true;
          tr.deletedAt = Date.now();
          waiters.get(tr.callId)?.();
        }
      },
    });
    await informer.start();

    // ---- Agent objects heartbeated by the harness: a capability the load never asks for ----
    const idle = Math.max(0, o.totalAgents - o.agentProcesses);
    const idleNames = Array.from({ length: idle }, (_, i) => `idle-${i}`);
    const heartbeat = (name: string) =>
      mcp.agents.patch(ns, name, { status: { lastHeartbeat: new Date().toISOString() } }, "merge", {
        subresource: "status",
      });
    const limit = pLimit(16);
    say(`creating ${idle} heartbeated Agent objects`);
    await Promise.all(
      idleNames.map((name) =>
        limit(async () => {
          await mcp.agents.create(ns, {
            metadata: { name },
            spec: { capabilities: ["soak-idle"], maxConcurrentTasks: 1, tags: ["idle"] },
          });
          await heartbeat(name);
        }),
      ),
    );
    const hbEveryMs = (o.heartbeatTimeoutSeconds / 3) * 1000;
    let hbCursor = 0;
    // Spread the heartbeats evenly over the period instead of in bursts.
    if (idle > 0)
      timers.push(
        setInterval(
          () => {
            const name = idleNames[hbCursor++ % idle] as string;
            void heartbeat(name).catch(() => {});
          },
          Math.max(5, hbEveryMs / idle),
        ),
      );

    // ---- the services, each a process ----
    const bun = process.execPath;
    // SOAK_LOG_LEVEL=info keeps every call's lines (Task created, completed) in the logs.
    const env = { KUBECONFIG: kubeconfig, LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? "warn" };
    const schedulerPort = await freePort();
    const scheduler = new ManagedProcess(conductorProcesses.scheduler({ port: schedulerPort, env }), logDir, say);
    procs.push(scheduler);
    await scheduler.start();

    const controllers: ManagedProcess[] = [];
    for (const id of ["a", "b"]) {
      const metricsPort = await freePort();
      const c = new ManagedProcess(
        conductorProcesses.controller({
          name: `controller-${id}`,
          namespace: ns,
          schedulerPort,
          metricsPort,
          args: [
            "--lease-duration-seconds=8",
            "--renew-deadline-seconds=5",
            "--retry-period-seconds=2",
            `--heartbeat-timeout-seconds=${o.heartbeatTimeoutSeconds}`,
            `--unknown-after-seconds=${o.heartbeatTimeoutSeconds * 3}`,
            "--default-ttl-seconds-after-finished=86400",
          ],
          env,
        }),
        logDir,
        say,
      );
      (c as ManagedProcess & { metricsPort?: number }).metricsPort = metricsPort;
      controllers.push(c);
      procs.push(c);
      await c.start();
    }

    const agents: ManagedProcess[] = [];
    for (let i = 0; i < o.agentProcesses; i++) {
      const name = `soak-agent-${i}`;
      const a = new ManagedProcess(
        {
          name,
          role: "agent",
          cmd: [
            bun,
            join(repoRoot, "test/fixtures/soak-agent.ts"),
            `--name=${name}`,
            `--namespace=${ns}`,
            "--max-concurrent-tasks=25",
            "--heartbeat-interval-seconds=5",
            "--metrics-port=0",
            "--shutdown-grace-seconds=5",
          ],
          env: { ...env, SOAK_LOG_DIR: execDir },
        },
        logDir,
        say,
      );
      agents.push(a);
      procs.push(a);
    }
    await Promise.all(agents.map((a) => a.start(false)));

    const gateways: { proc: ManagedProcess; url: URL }[] = [];
    for (const id of ["a", "b"]) {
      const port = await freePort();
      const g = new ManagedProcess(
        conductorProcesses.gateway({
          name: `gateway-${id}`,
          namespace: ns,
          port,
          args: ["--rate-per-second=1000000", "--burst=1000000"],
          env,
        }),
        logDir,
        say,
      );
      gateways.push({ proc: g, url: new URL(`http://127.0.0.1:${port}/mcp`) });
      procs.push(g);
      await g.start();
    }

    const agentReady = () =>
      agents.every((a) => {
        const obj = informerAgents.get(a.spec.name);
        return obj === "Ready";
      });
    const informerAgents = new Map<string, string>();
    const agentWatch = new Informer(mcp.agents, { namespace: ns, logger: silentLogger });
    const noteAgent = (a: { metadata: { name?: string }; status?: { phase?: string } }) =>
      informerAgents.set(a.metadata.name ?? "", a.status?.phase ?? "");
    agentWatch.on({ add: noteAgent, update: noteAgent });
    await agentWatch.start();
    const readyBy = Date.now() + 120_000;
    while (!agentReady()) {
      if (Date.now() > readyBy) throw new Error("the agent processes did not become Ready");
      await Bun.sleep(200);
    }
    await agentWatch.stop();
    // The gateways offer the agents' tools once their registries caught up.
    for (const g of gateways) {
      const c = new Client({ name: "soak-probe", version: "1.0.0" });
      await c.connect(new StreamableHTTPClientTransport(g.url));
      for (;;) {
        const { tools } = await c.listTools();
        if (["soak_ok", "soak_fail", "soak_sleep"].every((n) => tools.some((t) => t.name === n))) break;
        await Bun.sleep(200);
      }
      await c.close();
    }
    say(`conductor up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    // ---- sampling: memory and the apiserver's write counters ----
    const sampleAll = () => {
      for (const p of procs) p.sample();
      for (const [name, pid] of Object.entries(cp.pids)) {
        if (!pid) continue;
        const hwm = readHwm(pid);
        if (hwm) cpPeaks[name] = Math.max(cpPeaks[name] ?? 0, hwm);
      }
    };
    const cpPeaks: Record<string, number> = {};
    timers.push(setInterval(sampleAll, 1000));
    const writeTotals = new Map<string, number>();
    const lastSeen = new Map<string, number>();
    let apiUp = true;
    const scrapeApiserver = async () => {
      try {
        const res = await fetch(`${cp.server}/metrics`, {
          tls: { ca: cp.pki.ca.cert, cert: cp.admin.cert, key: cp.admin.key },
          signal: AbortSignal.timeout(3000),
        } as RequestInit);
        const text = await res.text();
        apiUp = res.ok;
        for (const { labels, value } of parseCounters(text, "apiserver_request_total")) {
          if (!["POST", "PUT", "PATCH", "DELETE", "APPLY"].includes(labels.verb ?? "")) continue;
          const series = JSON.stringify(labels);
          const prev = lastSeen.get(series) ?? 0;
          // A restarted apiserver starts its counters again from zero.
          const delta = value >= prev ? value - prev : value;
          lastSeen.set(series, value);
          const key = `${labels.resource}${labels.subresource ? `/${labels.subresource}` : ""}`;
          writeTotals.set(key, (writeTotals.get(key) ?? 0) + delta);
        }
      } catch {
        apiUp = false;
      }
    };
    await scrapeApiserver();
    for (const k of writeTotals.keys()) writeTotals.set(k, 0); // count from the load's start
    timers.push(setInterval(() => void scrapeApiserver(), 2000));

    // ---- the load ----
    const plan = planCalls(o.calls, rng);
    const faultWindows: { kind: string; target: string; from: number; to: number }[] = [];
    const phaseAt = (t: number) => faultWindows.find((w) => t >= w.from && t <= w.to)?.kind ?? "no fault";
    const records: CallRecord[] = [];
    const loadSeconds = o.faults.length * (o.holdSeconds + o.gapSeconds) + o.gapSeconds;
    const loadStart = Date.now();
    const spacingMs = (loadSeconds * 1000) / Math.max(1, o.calls);

    /** Waits until a Task for this call finished or was deleted, or time runs out. */
    const followTask = async (callId: string, timeoutMs: number): Promise<TaskTrack | undefined> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const trs = byCall.get(callId) ?? [];
        const done = trs.find((t) => t.finishedAt !== undefined || t.deleted);
        if (done) return done;
        if (Date.now() > deadline) return trs[0];
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          waiters.set(callId, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        waiters.delete(callId);
      }
    };
    const outcomeOfTask = (tr: TaskTrack | undefined): CallRecord["outcome"] => {
      if (!tr) return "unexpected";
      if (tr.deleted && tr.finishedAt === undefined) return "cancelled";
      const t = tr.last;
      if (t?.status?.phase === "Completed") return "completed";
      if (t?.status?.error?.reason === "Cancelled") return "cancelled";
      if (t && isFinished(t)) return "error";
      return "unexpected";
    };

    // Client w starts on gateway w mod 2 and moves to the next one each time it connects again
    // (one shared counter put every client on the first gateway: w + w is even).
    const gatewayTurns = new Map<number, number>();
    const gatewayOf = new WeakMap<Client, string>();
    const connectClient = async (w: number): Promise<Client> => {
      for (;;) {
        const turn = gatewayTurns.get(w) ?? 0;
        gatewayTurns.set(w, turn + 1);
        const g = gateways[(w + turn) % gateways.length] as { proc: ManagedProcess; url: URL };
        const c = new Client({ name: `soak-client-${w}`, version: "1.0.0" });
        try {
          await c.connect(new StreamableHTTPClientTransport(g.url));
          gatewayOf.set(c, g.proc.spec.name);
          return c;
        } catch {
          await c.close().catch(() => {});
          await Bun.sleep(500);
        }
      }
    };
    const isTransport = (err: unknown) => !(err instanceof McpError);
    /**
     * An MCP error a client should retry: the gateway's internal error or a request timeout
     * while the apiserver is down, or a failure that names a lost connection.
     */
    const transientMcp = (err: unknown) =>
      err instanceof McpError &&
      (err.code === -32603 || err.code === -32001 || /ECONNREFUSED|ECONNRESET|Unavailable|timed out/.test(err.message));
    /**
     * A call the gateway could not make a Task for (the apiserver away) is
     * answered with a bare internal error, as any other: it is sent again if no
     * Task for it shows up once the apiserver is back.
     */
    const noTaskMade = async (err: unknown, callId: string): Promise<boolean> => {
      if (!(err instanceof McpError) || err.code !== -32603) return false;
      while (!apiUp) await Bun.sleep(500);
      return (await followTask(callId, 3_000)) === undefined;
    };

    /** Resolves "lost" once this call's Task has been finished (or deleted) for 20 s. */
    const answerLost = async (callId: string, signal: AbortSignal): Promise<"lost"> => {
      for (;;) {
        await Bun.sleep(1000);
        if (signal.aborted) return new Promise<never>(() => {});
        const tr = byCall.get(callId)?.find((t) => t.finishedAt !== undefined || t.deleted);
        const at = tr?.finishedAt ?? (tr?.deleted ? tr.deletedAt : undefined);
        if (at !== undefined && Date.now() - at > 20_000) return "lost";
      }
    };

    const runMcpCall = async (w: number, call: PlannedCall, rec: CallRecord, state: { client: Client }) => {
      const taskMode = call.kind.startsWith("task_");
      for (let attempt = 0; attempt < 60; attempt++) {
        const abort = new AbortController();
        let cancelTimer: ReturnType<typeof setTimeout> | undefined;
        try {
          if (!taskMode) {
            if (call.cancelAfterMs) cancelTimer = setTimeout(() => abort.abort(), call.cancelAfterMs);
            const answer = state.client.callTool({ name: call.tool, arguments: call.args }, CallToolResultSchema, {
              signal: abort.signal,
              timeout: 600_000,
            });
            answer.catch(() => {});
            const res = await Promise.race([answer, answerLost(call.callId, abort.signal)]);
            if (res === "lost") {
              // The Task finished but its answer never came (the stream broke with a gateway):
              // take the outcome from the Task, and start over with a fresh client.
              rec.interrupted = true;
              rec.answerLost = true;
              rec.lostOn = gatewayOf.get(state.client);
              rec.outcome = outcomeOfTask(
                byCall.get(call.callId)?.find((t) => t.finishedAt !== undefined || t.deleted),
              );
              const old = state.client;
              state.client = await connectClient(w);
              void old.close().catch(() => {});
              return;
            }
            rec.outcome = (res as CallToolResult).isError ? "error" : "completed";
            rec.detail = (res as CallToolResult).isError
              ? JSON.stringify((res as CallToolResult).content).slice(0, 200)
              : undefined;
            return;
          }
          const created = await state.client.request(
            { method: "tools/call", params: { name: call.tool, arguments: call.args, task: { ttl: 86_400_000 } } },
            CreateTaskResultSchema,
            { timeout: 60_000 },
          );
          await followMcpTask(w, created.task.taskId, call, rec, state);
          return;
        } catch (err) {
          if (call.cancelAfterMs && abort.signal.aborted) {
            rec.outcome = "cancelled";
            // The gateway deletes the Task; the harness checks that below.
            return;
          }
          if (await noTaskMade(err, call.callId)) {
            rec.resent++;
            await Bun.sleep(1000);
            continue;
          }
          if (!isTransport(err)) {
            rec.outcome = "unexpected";
            rec.detail = (err as Error).message;
            return;
          }
          // The gateway went away mid-call. Did it make a Task? Then follow it; if not, send again.
          await state.client.close().catch(() => {});
          state.client = await connectClient(w);
          const found = await followTask(call.callId, 5_000);
          if (found || !apiUp) {
            const tr = await followTask(call.callId, o.settleSeconds * 1000);
            if (tr) {
              rec.interrupted = true;
              rec.outcome = outcomeOfTask(tr);
              if (call.cancelAfterMs && rec.outcome !== "cancelled") {
                // The cancellation was lost with the gateway: cancel through the Task, as a client would.
                rec.outcome = "cancelled";
              }
              return;
            }
          }
          rec.resent++;
        } finally {
          clearTimeout(cancelTimer);
        }
      }
      rec.outcome = "unexpected";
      rec.detail = "gave up sending";
    };

    const followMcpTask = async (
      w: number,
      taskId: string,
      call: PlannedCall,
      rec: CallRecord,
      state: { client: Client },
    ) => {
      const until = Date.now() + o.settleSeconds * 1000 + loadSeconds * 1000 + 60_000;
      let cancelled = false;
      const cancelAt = call.cancelAfterMs ? Date.now() + call.cancelAfterMs : undefined;
      while (Date.now() < until) {
        try {
          if (cancelAt && !cancelled && Date.now() >= cancelAt) {
            const r = await state.client.experimental.tasks.cancelTask(taskId);
            cancelled = true;
            if (r.status === "cancelled") {
              rec.outcome = "cancelled";
              return;
            }
          }
          const t = await state.client.experimental.tasks.getTask(taskId, { timeout: 10_000 });
          if (t.status === "cancelled") {
            rec.outcome = "cancelled";
            return;
          }
          if (t.status === "completed" || t.status === "failed") {
            const res = (await state.client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema, {
              timeout: 10_000,
            })) as CallToolResult;
            rec.outcome = res.isError ? "error" : "completed";
            return;
          }
        } catch (err) {
          if (err instanceof McpError && /already finished/.test(err.message)) {
            cancelled = true;
            continue;
          }
          if (!isTransport(err) && !transientMcp(err)) {
            rec.outcome = "unexpected";
            rec.detail = `${taskId}: ${(err as Error).message}`;
            return;
          }
          // A gateway went away, or the apiserver is down: reconnect (maybe to the other gateway) and ask again.
          rec.interrupted = true;
          await state.client.close().catch(() => {});
          state.client = await connectClient(w);
        }
        await Bun.sleep(call.cancelAfterMs && !cancelled ? Math.min(200, call.cancelAfterMs) : 300);
      }
      rec.outcome = "unexpected";
      rec.detail = `${taskId}: not finished in time`;
    };

    const runDirect = async (call: PlannedCall, rec: CallRecord) => {
      const name = `direct-${call.callId}`;
      const deadline =
        call.kind === "direct_deadline"
          ? new Date(Date.now() + 3000 + rng.int(0, 2000))
          : new Date(Date.now() + (o.settleSeconds + loadSeconds) * 1000);
      for (;;) {
        try {
          await mcp.tasks.create(ns, {
            metadata: { name },
            spec: {
              requiredCapabilities: ["soak"],
              tool: call.tool,
              payload: call.args,
              priority: call.priority ?? 5,
              deadline: deadline.toISOString(),
              retryPolicy: { maxRetries: 3, backoffStrategy: "linear", backoffSeconds: 1, maxBackoffSeconds: 5 },
            },
          });
          break;
        } catch (err) {
          if (isAlreadyExists(err)) break;
          rec.resent++;
          await Bun.sleep(1000);
        }
      }
      rec.outcome = outcomeOfTask(await followTask(call.callId, (o.settleSeconds + loadSeconds) * 1000));
    };

    let next = 0;
    const worker = async (w: number) => {
      const state = { client: await connectClient(w) };
      clients.push(state.client);
      for (;;) {
        const i = next++;
        const call = plan[i];
        if (!call) break;
        const due = loadStart + i * spacingMs;
        if (due > Date.now()) await Bun.sleep(due - Date.now());
        const rec: CallRecord = { call, startedAt: Date.now(), resent: 0, phase: phaseAt(Date.now()) };
        records.push(rec);
        try {
          if (call.kind.startsWith("direct_")) await runDirect(call, rec);
          else await runMcpCall(w, call, rec, state);
        } catch (err) {
          rec.outcome = "unexpected";
          rec.detail = (err as Error).message;
        }
        rec.endedAt = Date.now();
      }
      await state.client.close().catch(() => {});
    };
    // Direct Tasks do not hold an MCP client: run them beside the clients' loop.
    const load = Promise.all(Array.from({ length: o.clients }, (_, w) => worker(w)));
    const inFlight = () => records.filter((r) => r.endedAt === undefined);
    timers.push(
      setInterval(() => {
        const open = [...tracks.values()].filter((t) => t.finishedAt === undefined && !t.deleted).length;
        const kinds = new Map<string, number>();
        for (const r of inFlight()) kinds.set(r.call.kind, (kinds.get(r.call.kind) ?? 0) + 1);
        say(
          `progress: ${records.length - inFlight().length}/${o.calls} calls done; in flight ${JSON.stringify(Object.fromEntries(kinds))}; open tasks ${open}`,
        );
      }, 15_000),
    );

    // ---- the faults ----
    const faults: SoakReport["faults"] = [];
    const leaderName = () => leaseHolder(conn, ns);
    /**
     * Tasks that are running when the apiserver or etcd goes down and finish
     * while it is down, so their agents must write the result after it is back.
     */
    const probes: Promise<void>[] = [];
    const startProbes = async () => {
      const batch: PlannedCall[] = Array.from({ length: 5 }, (_, k) => {
        const callId = `probe-${faultWindows.length}-${k}-${rng.int(0, 1e9).toString(36)}`;
        return {
          i: -1,
          callId,
          kind: "probe",
          tool: "soak_sleep",
          args: { callId, ms: Math.round((o.holdSeconds * 1000) / 2) },
          designedExecutions: 1,
          priority: 10,
        };
      });
      for (const call of batch) {
        const rec: CallRecord = { call, startedAt: Date.now(), resent: 0, phase: "probe" };
        records.push(rec);
        probes.push(
          runDirect(call, rec)
            .catch((err: Error) => {
              rec.outcome = "unexpected";
              rec.detail = err.message;
            })
            .finally(() => {
              rec.endedAt = Date.now();
            }),
        );
      }
      const by = Date.now() + 5000;
      while (
        Date.now() < by &&
        !batch.every((c) => byCall.get(c.callId)?.some((t) => t.last?.status?.phase === "Running"))
      )
        await Bun.sleep(50);
    };

    const runFaults = async () => {
      for (const kind of o.faults) {
        await Bun.sleep(o.gapSeconds * 1000);
        const from = Date.now();
        let target = "";
        let restart: () => Promise<void>;
        switch (kind) {
          case "controller": {
            const leader = (await leaderName()) ?? "controller-a";
            const p = controllers.find((c) => c.spec.name === leader) ?? (controllers[0] as ManagedProcess);
            target = `${p.spec.name} (the leader)`;
            await p.kill9();
            restart = () => p.restart();
            break;
          }
          case "scheduler":
            target = "scheduler";
            await scheduler.kill9();
            restart = () => scheduler.restart();
            break;
          case "gateway": {
            const g = gateways[0]?.proc as ManagedProcess;
            target = g.spec.name;
            await g.kill9();
            restart = () => g.restart();
            break;
          }
          case "agents": {
            const victims = agents.slice(0, Math.max(1, Math.ceil(agents.length * 0.3)));
            target = victims.map((a) => a.spec.name).join(",");
            await Promise.all(victims.map((a) => a.kill9()));
            restart = async () => {
              await Promise.all(victims.map((a) => a.restart()));
            };
            break;
          }
          case "apiserver":
            target = "kube-apiserver";
            await startProbes();
            sampleAll();
            await cp.stopApiServer("SIGKILL");
            restart = () => cp.startApiServer();
            break;
          case "etcd":
            target = "etcd";
            await startProbes();
            sampleAll();
            await cp.stopEtcd("SIGKILL");
            restart = () => cp.startEtcd();
            break;
        }
        say(`fault: kill -9 ${target}; holding ${o.holdSeconds} s`);
        const window = { kind, target, from, to: Number.POSITIVE_INFINITY };
        faultWindows.push(window);
        await Bun.sleep(o.holdSeconds * 1000);
        const restartAt = Date.now();
        await restart();
        window.to = Date.now();
        faults.push({
          kind,
          target,
          startedAt: Math.round((from - loadStart) / 1000),
          heldSeconds: Math.round((restartAt - from) / 100) / 10,
          recoveredSeconds: Math.round((Date.now() - restartAt) / 100) / 10,
        });
        say(`fault: ${target} back after ${((Date.now() - from) / 1000).toFixed(1)} s`);
      }
    };
    await runFaults();
    say("faults done; waiting for the load to finish");
    // The calls and their tasks get settleSeconds after the last fault, in all.
    const settleBy = Date.now() + o.settleSeconds * 1000;
    const loadTimeout = Bun.sleep(o.settleSeconds * 1000).then(() => "timeout");
    const everything = load.then(() => Promise.all(probes)).then(() => "done");
    if ((await Promise.race([everything, loadTimeout])) === "timeout") {
      say("load did not finish in time; still in flight:");
      for (const r of inFlight().slice(0, 20)) {
        const trs = byCall.get(r.call.callId) ?? [];
        say(`  ${r.call.kind} ${r.call.callId}: ${trs.map((t) => `${t.name} ${t.last?.status?.phase}`).join(", ")}`);
      }
    }
    const loadEnd = Date.now();

    // ---- settle: every task finished (or cancelled and deleted) ----
    const open = () => [...tracks.values()].filter((t) => t.finishedAt === undefined && !t.deleted);
    while (open().length > 0 && Date.now() < settleBy) await Bun.sleep(500);
    await scrapeApiserver();
    sampleAll();
    say(`settled with ${open().length} open tasks`);

    // The authoritative answer comes from the apiserver, not from the watch.
    const listed = new Map((await mcp.tasks.list(ns)).items.map((t) => [t.metadata.uid ?? "", t]));
    for (const t of listed.values()) note(t);

    // ---- the execution logs ----
    const execs: ExecutionRecord[] = [];
    for (const f of readdirSync(execDir)) {
      for (const line of readFileSync(join(execDir, f), "utf8").split("\n")) {
        if (!line.trim()) continue;
        try {
          execs.push(JSON.parse(line) as ExecutionRecord);
        } catch {
          // a line cut by kill -9 mid-write: the start line of that execution still counts below
        }
      }
    }
    const starts = execs.filter((e) => e.ev === "start");
    const ends = new Map(execs.filter((e) => e.ev === "end").map((e) => [e.exec, e]));
    const startsByKey = new Map<string, number>();
    const startsByUid = new Map<string, ExecutionRecord[]>();
    for (const s of starts) {
      startsByKey.set(s.key, (startsByKey.get(s.key) ?? 0) + 1);
      startsByUid.set(s.uid, [...(startsByUid.get(s.uid) ?? []), s]);
    }
    const planByCall = new Map(plan.map((c) => [c.callId, c]));

    // ---- the verdict ----
    const cancelledCalls = new Set(records.filter((r) => r.outcome === "cancelled").map((r) => r.call.callId));
    const lostDetail: SoakReport["tasks"]["lostDetail"] = [];
    const twice: SoakReport["tasks"]["recordedTwiceDetail"] = [];
    let cancelledAndDeleted = 0;
    let finished = 0;
    let withoutExecution = 0;
    let repeated = 0;
    let moreThanDesigned = 0;
    for (const tr of tracks.values()) {
      const live = listed.get(tr.uid);
      if (live && isFinished(live)) finished++;
      else if (!live && tr.deleted && cancelledCalls.has(tr.callId)) cancelledAndDeleted++;
      else if (!live && tr.finishedAt !== undefined) finished++;
      else lostDetail.push({ name: tr.name, callId: tr.callId, phase: live?.status?.phase ?? "deleted" });
      if (tr.finals.size > 1) twice.push({ name: tr.name, finals: [...tr.finals] });
      if (live?.status?.phase === "Completed") {
        const exec = (live.status.result as { exec?: string } | undefined)?.exec;
        const e = exec ? ends.get(exec) : undefined;
        if (!e || e.uid !== tr.uid || e.attempt !== live.status.attempts || e.outcome !== "ok") withoutExecution++;
      }
      const designed = planByCall.get(tr.callId)?.designedExecutions ?? 1;
      const ran = startsByUid.get(tr.uid)?.length ?? 0;
      if (designed > 0 && ran > designed) {
        repeated += ran - designed;
        moreThanDesigned++;
      }
    }
    // Calls whose client got an answer but whose Task nobody ever saw are lost too.
    for (const r of records) {
      if (r.outcome === "completed" && !(byCall.get(r.call.callId)?.length ?? 0))
        lostDetail.push({ name: "(never seen)", callId: r.call.callId, phase: "none" });
    }
    const sameKeyTwice = [...startsByKey.values()].filter((n) => n > 1).length;

    const byKind: Record<string, Record<string, number>> = {};
    let failedByDesign = 0;
    let cancelledByDesign = 0;
    let completed = 0;
    const unexpected: SoakReport["calls"]["unexpected"] = [];
    for (const r of records) {
      const want = expected[r.call.kind];
      const got = r.outcome ?? "unexpected";
      if (r.outcome === undefined) r.detail = "no answer by the end of the run";
      const k = byKind[r.call.kind] ?? {};
      byKind[r.call.kind] = k;
      k[got] = (k[got] ?? 0) + 1;
      if (got === want && got === "completed") completed++;
      else if (got === want && got === "error") failedByDesign++;
      else if (got === want && got === "cancelled") cancelledByDesign++;
      else unexpected.push({ callId: r.call.callId, kind: r.call.kind, detail: `${got}: ${r.detail ?? ""}` });
    }

    /** Whether the gateway a call's answer was lost on was killed while the call waited. */
    const gatewayKilledDuring = (r: CallRecord) =>
      faultWindows.some(
        (w) =>
          w.kind === "gateway" && w.target === r.lostOn && w.from >= r.startedAt && w.from <= (r.endedAt ?? loadEnd),
      );
    const lat = (xs: number[]) => {
      const s = summarize(xs);
      return { n: s.n, p50: Math.round(s.p50), p99: Math.round(s.p99) };
    };
    const byFaultPhase: Record<string, { n: number; p50: number; p99: number }> = {};
    const phases = new Map<string, number[]>();
    for (const r of records) {
      if (r.outcome !== "completed" || r.endedAt === undefined) continue;
      for (const key of [r.phase, "all"]) phases.set(key, [...(phases.get(key) ?? []), r.endedAt - r.startedAt]);
    }
    for (const [k, xs] of phases) byFaultPhase[k] = lat(xs);
    const step = (from: string, to: string) =>
      lat(
        [...tracks.values()]
          .map((t) => (t.seenAt[to] ?? Number.NaN) - (t.seenAt[from] ?? Number.NaN))
          .filter((x) => Number.isFinite(x) && x >= 0),
      );
    const byTaskPhase = {
      "created→Assigned": step("Created", "Assigned"),
      "Assigned→Running": step("Assigned", "Running"),
      "Running→Completed": step("Running", "Completed"),
    };

    const writes = [...writeTotals.values()].reduce((a, b) => a + b, 0);
    const peak: Record<string, number> = {};
    for (const p of procs) peak[p.spec.name] = mib(p.peakBytes);
    for (const [k, v] of Object.entries(cpPeaks)) peak[k] = mib(v);
    const restarts: SoakReport["restarts"] = {};
    for (const p of procs)
      restarts[p.spec.name] = { planned: p.starts - 1 - p.unplannedExits, unplanned: p.unplannedExits };

    const report: SoakReport = {
      seed: o.seed,
      options: { ...o, say: undefined } as Omit<SoakOptions, "say">,
      durationSeconds: Math.round((Date.now() - t0) / 1000),
      calls: {
        made: records.length,
        completed,
        failedByDesign,
        cancelledByDesign,
        failedUnexpectedly: unexpected.length,
        interruptedAndRecovered: records.filter((r) => r.interrupted && r.outcome === expected[r.call.kind]).length,
        answersLost: records.filter((r) => r.answerLost).length,
        answersLostGatewayUp: records.filter((r) => r.answerLost && !gatewayKilledDuring(r)).length,
        answersLostByPhase: records
          .filter((r) => r.answerLost)
          .reduce<Record<string, number>>((acc, r) => {
            acc[r.phase] = (acc[r.phase] ?? 0) + 1;
            return acc;
          }, {}),
        answersLostDetail: records
          .filter((r) => r.answerLost)
          .map((r) => ({
            callId: r.call.callId,
            kind: r.call.kind,
            phase: r.phase,
            task: (byCall.get(r.call.callId) ?? []).map((t) => t.name).join(","),
            gateway: r.lostOn ?? "",
            gatewayKilled: gatewayKilledDuring(r),
            startedAt: (r.startedAt - loadStart) / 1000,
            finishedAt:
              (Math.min(...(byCall.get(r.call.callId) ?? []).map((t) => t.finishedAt ?? Infinity)) - loadStart) / 1000,
            gaveUpAt: ((r.endedAt ?? Number.NaN) - loadStart) / 1000,
          })),
        resent: records.reduce((a, r) => a + r.resent, 0),
        byKind,
        unexpected: unexpected.slice(0, 50),
      },
      tasks: {
        seen: tracks.size,
        finished,
        cancelledAndDeleted,
        lost: lostDetail.length,
        lostDetail: lostDetail.slice(0, 50),
        completionsRecordedTwice: twice.length,
        recordedTwiceDetail: twice.slice(0, 50),
        completionsWithoutExecution: withoutExecution,
      },
      executions: { total: starts.length, repeated, tasksExecutedMoreThanDesigned: moreThanDesigned, sameKeyTwice },
      latencyMs: { byFaultPhase, byTaskPhase },
      apiserver: {
        writes,
        writesPerSecond: Math.round((writes / ((loadEnd - loadStart) / 1000)) * 10) / 10,
        byResource: Object.fromEntries([...writeTotals].sort((a, b) => b[1] - a[1]).slice(0, 10)),
      },
      peakRssMiB: peak,
      restarts,
      faults,
      ok: false,
      failures: [],
    };
    Object.assign(report, soakVerdict(report));
    writeFileSync(join(outDir, "soak-report.json"), `${JSON.stringify(report, null, 2)}\n`);
    say(`report written to ${join(outDir, "soak-report.json")}`);
    return report;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    for (const t of timers) clearInterval(t);
    await informer?.stop().catch(() => {});
    for (const c of clients) await c.close().catch(() => {});
    await Promise.all(procs.map((p) => p.stop()));
    await cp.stop();
  }
}

function readHwm(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The report as a few lines of text. */
export function formatReport(r: SoakReport): string {
  const lines: string[] = [];
  const c = r.calls;
  lines.push(`seed ${r.seed}; ${r.durationSeconds} s`);
  lines.push(
    `calls: made ${c.made}, completed ${c.completed}, failed by design ${c.failedByDesign}, cancelled by design ${c.cancelledByDesign}, failed unexpectedly ${c.failedUnexpectedly} (interrupted by a fault and recovered: ${c.interruptedAndRecovered}, of which the answer never came although the Task finished: ${c.answersLost} ${JSON.stringify(c.answersLostByPhase)}, with the call's gateway up: ${c.answersLostGatewayUp}; sent again: ${c.resent})`,
  );
  const t = r.tasks;
  lines.push(
    `tasks: seen ${t.seen}, finished ${t.finished}, cancelled and deleted ${t.cancelledAndDeleted}, LOST ${t.lost}, completions recorded twice ${t.completionsRecordedTwice}, completions without a matching execution ${t.completionsWithoutExecution}`,
  );
  const e = r.executions;
  lines.push(
    `executions: ${e.total}; repeated (beyond design) ${e.repeated} in ${e.tasksExecutedMoreThanDesigned} tasks; same idempotency key started twice ${e.sameKeyTwice}`,
  );
  lines.push("end-to-end latency of completed calls, by fault phase (ms):");
  for (const [k, v] of Object.entries(r.latencyMs.byFaultPhase))
    lines.push(
      `  ${k.padEnd(12)} n=${String(v.n).padStart(5)}  p50 ${String(v.p50).padStart(6)}  p99 ${String(v.p99).padStart(6)}`,
    );
  lines.push("task lifecycle steps as the watch saw them (ms):");
  for (const [k, v] of Object.entries(r.latencyMs.byTaskPhase))
    lines.push(
      `  ${k.padEnd(18)} n=${String(v.n).padStart(5)}  p50 ${String(v.p50).padStart(6)}  p99 ${String(v.p99).padStart(6)}`,
    );
  lines.push(
    `apiserver writes: ${r.apiserver.writes} (${r.apiserver.writesPerSecond}/s); top: ${Object.entries(
      r.apiserver.byResource,
    )
      .slice(0, 5)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  lines.push(
    `peak RSS (MiB): ${Object.entries(r.peakRssMiB)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  lines.push(
    `faults: ${r.faults.map((f) => `${f.kind} (${f.target}) held ${f.heldSeconds} s, back in ${f.recoveredSeconds} s`).join("; ")}`,
  );
  const unplanned = Object.entries(r.restarts).filter(([, v]) => v.unplanned > 0);
  if (unplanned.length)
    lines.push(
      `restarted after exiting by themselves: ${unplanned.map(([k, v]) => `${k} ×${v.unplanned}`).join(", ")}`,
    );
  if (c.unexpected.length)
    lines.push(
      `unexpected: ${c.unexpected
        .slice(0, 5)
        .map((u) => `${u.kind} ${u.callId} ${u.detail}`)
        .join(" | ")}`,
    );
  if (t.lostDetail.length) lines.push(`lost: ${JSON.stringify(t.lostDetail.slice(0, 5))}`);
  if (c.answersLostDetail.length) lines.push(`answers lost: ${JSON.stringify(c.answersLostDetail.slice(0, 10))}`);
  lines.push(
    r.ok
      ? "OK: no task lost, no completion recorded twice, no answer lost while its gateway was up"
      : `FAILED: ${r.failures.join("; ")}`,
  );
  return lines.join("\n");
}
