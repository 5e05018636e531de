/**
 * What the agents' Task watches cost the apiserver. Each agent watches its
 * Tasks twice (field selector status.assignedAgent=<agent>, label
 * mcp.io/bound-agent=<agent>), and the apiserver checks every Task event
 * against every watcher's selectors: custom resources get no watch index, as
 * pods get one for spec.nodeName, so the cost of each call's events grows with
 * the number of agents even though each event reaches only its own agent.
 *
 * A bare client makes calls as a bound call writes them (create a Task, see it
 * on its watch, write its status, see that), each Task on one of the agents,
 * with no agent watching (the baseline), with AGENTS agents' watches open as
 * agents hold them (two each), and with each of the two alone; in ROUNDS
 * rounds, the order turned each round, as the machine's speed drifts. The watches are
 * held by a child process, so the client's CPU is its own; the bench waits
 * until the apiserver counts them open. Prints a table, then one JSON line of
 * the figures; asserts nothing.
 *   AGENTS=1000 CALLS=1500 ROUNDS=2 bun bench/watch-fanout.ts
 */
import { randomBytes } from "node:crypto";
import { mcpClients } from "../lib/api/resources.ts";
import { boundAgentLabel } from "../lib/api/task-state.ts";
import { LocalControlPlane } from "../lib/control-plane/local.ts";
import { KubeConnection } from "../lib/kube/connection.ts";
import { parseCounters } from "./chaos/sampling.ts";
import { cpuNow, cpuPer, setUpDomain, watchTasks } from "./control-plane.ts";
import { benchLog as log } from "./harness.ts";
import { type Figures, fmt, poolRounds, printFigures, summarize, table, turned } from "./stats.ts";

const ns = "fanout";

/** An agent's two Task watches (lib/agent/runtime.ts): Tasks the controller assigned it, Tasks a gateway bound to it. */
type WatchKind = "assigned" | "bound";
const selectorOf = (kind: WatchKind, agent: string) =>
  kind === "assigned"
    ? { fieldSelector: `status.assignedAgent=${agent}` }
    : { labelSelector: `${boundAgentLabel}=${agent}` };

/** The child: holds the `kinds` of Task watch for each of `agents` agents until it is killed. */
async function holdWatches(kubeconfigPath: string, agents: number, kinds: WatchKind[]): Promise<never> {
  const tasks = mcpClients(KubeConnection.fromOptions({ kubeconfigPath })).tasks;
  for (let i = 0; i < agents; i++) {
    for (const selector of kinds.map((k) => selectorOf(k, `agent-${i}`))) {
      void (async () => {
        for (;;) {
          try {
            for await (const _ of tasks.watch(ns, { ...selector, timeoutSeconds: 3600 })) {
              // an agent would run the Task; here only its delivery counts
            }
          } catch {
            await Bun.sleep(1000);
          }
        }
      })();
    }
  }
  return new Promise<never>(() => {});
}

if (process.env.FANOUT_CHILD) {
  const [kubeconfigPath, agents, kinds] = JSON.parse(process.env.FANOUT_CHILD) as [string, number, WatchKind[]];
  await holdWatches(kubeconfigPath, agents, kinds);
}

const AGENTS = Number(process.env.AGENTS ?? 1000);
const CALLS = Number(process.env.CALLS ?? 1500);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
/** Each way runs ROUNDS times, the order turned by one each round; its rounds are pooled. */
const ROUNDS = Math.max(1, Number(process.env.ROUNDS ?? 2));

const cp = await LocalControlPlane.start();
const { conn, kubeconfig } = await setUpDomain(cp, ns);
let child: ReturnType<typeof Bun.spawn> | undefined;
process.once("exit", () => child?.kill("SIGKILL"));

/** Task watches the apiserver holds open now (its apiserver_longrunning_requests gauge). */
async function openTaskWatches(): Promise<number> {
  const res = await fetch(`${cp.server}/metrics`, {
    tls: { ca: cp.pki.ca.cert, cert: cp.admin.cert, key: cp.admin.key },
  } as RequestInit);
  return parseCounters(await res.text(), "apiserver_longrunning_requests")
    .filter(({ labels }) => labels.verb === "WATCH" && labels.resource === "tasks")
    .reduce((n, { value }) => n + value, 0);
}

async function untilWatches(count: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await openTaskWatches()) !== count) {
    if (Date.now() > deadline) throw new Error(`the apiserver never counted ${count} Task watches open`);
    await Bun.sleep(500);
  }
}

// ---- the bare client: create, see it, write its status, see that ----
const tasks = mcpClients(conn).tasks;
const ownWatch = await watchTasks(conn, ns, "bench=fanout");
const seen = ownWatch.seen;

let callNo = 0;
async function call(): Promise<number> {
  const n = callNo++;
  const agent = `agent-${n % Math.max(AGENTS, 1)}`;
  const name = `call-${randomBytes(6).toString("hex")}-${n}`;
  const start = performance.now();
  const created = seen(name, () => true);
  const t = await tasks.create(ns, {
    metadata: { name, labels: { bench: "fanout", [boundAgentLabel]: agent } },
    spec: { requiredCapabilities: ["echo"], tool: "echo", payload: { message: "hello" } },
  });
  await created;
  const done = seen(name, (x) => x.status?.phase === "Completed");
  await tasks.replaceStatus({
    ...t,
    status: { phase: "Completed", assignedAgent: agent, attempts: 1, result: { value: "hello" } },
  });
  await done;
  return performance.now() - start;
}

interface Run {
  watches: number;
  calls: number;
  seconds: number;
  rate: number;
  lat: number[];
  cpu: { apiserver: number; etcd: number; bench: number };
}

async function measure(watches: number): Promise<Run> {
  await conn.request("DELETE", tasks.path(ns));
  await Bun.sleep(1500);
  const cpu0 = cpuNow(cp);
  const t0 = performance.now();
  const lat: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CALLS) {
        next++;
        lat.push(await call());
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuPer(cpu0, cpuNow(cp), CALLS);
  return { watches, calls: CALLS, seconds, rate: CALLS / seconds, lat, cpu };
}

/** Runs the calls with the `kinds` of watch of each agent held open by a child process. */
async function withAgentWatches(base: number, kinds: WatchKind[]): Promise<Run> {
  const perAgent = kinds.length;
  if (perAgent === 0 || AGENTS === 0) return measure(0);
  child = Bun.spawn([process.execPath, import.meta.path], {
    env: {
      ...process.env,
      FANOUT_CHILD: JSON.stringify([kubeconfig, AGENTS, kinds]),
      // Bun's fetch holds at most 256 requests at once by default; each watch is one
      BUN_CONFIG_MAX_HTTP_REQUESTS: String(AGENTS * perAgent + 64),
    },
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    await untilWatches(base + AGENTS * perAgent);
    await Bun.sleep(2000); // the watches' start-up settles
    return await measure(AGENTS * perAgent);
  } finally {
    child.kill("SIGKILL");
    await child.exited;
    child = undefined;
    await untilWatches(base);
  }
}

await call(); // warm the path
const base = await openTaskWatches(); // the client's own watch
/** Each way: its key in the JSON line, what the table calls it, the watches each agent holds. */
const ways: [string, string, WatchKind[]][] = [
  ["none", "no agent watching", []],
  ["both", "both watches (as agents hold them)", ["assigned", "bound"]],
  ["assigned", "status.assignedAgent (field selector) only", ["assigned"]],
  ["bound", "mcp.io/bound-agent (label selector) only", ["bound"]],
];
const byWay = new Map<string, Run[]>(ways.map(([key]) => [key, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [key, way, kinds] of turned(ways, round)) {
    log(`round ${round + 1}: ${way}, ${AGENTS} agents, ${CALLS} calls`);
    byWay.get(key)?.push(await withAgentWatches(base, kinds));
  }
}

/** A way's rounds as one: CPU per call over all its calls, the rate over all its time, every latency. */
function pooled(rounds: Run[]): Run & { roundRates: number[] } {
  const { perCall, ...all } = poolRounds(rounds);
  return {
    ...all,
    watches: rounds[0]?.watches ?? 0,
    cpu: {
      apiserver: perCall((r) => r.cpu.apiserver),
      etcd: perCall((r) => r.cpu.etcd),
      bench: perCall((r) => r.cpu.bench),
    },
    roundRates: rounds.map((r) => r.rate),
  };
}
const results = ways.map(([key, way]) => [key, way, pooled(byWay.get(key) ?? [])] as const);
const none = results[0]?.[2];
if (!none) throw new Error("no baseline run");
const rows: (string | number)[][] = [
  [
    "watches per agent",
    "Task watches",
    "calls/s",
    "p50 ms",
    "p99 ms",
    "apiserver CPU ms/call",
    "vs none",
    "rate vs",
    "apiserver ms/call by round",
  ],
];
const figures: Figures = { agents: AGENTS, calls_per_round: CALLS, rounds: ROUNDS };
for (const [key, way, r] of results) {
  const s = summarize(r.lat);
  rows.push([
    way,
    r.watches,
    fmt(r.rate, 0),
    fmt(s.p50, 1),
    fmt(s.p99, 1),
    fmt(r.cpu.apiserver, 2),
    fmt(r.cpu.apiserver / none.cpu.apiserver, 2),
    fmt(r.rate / none.rate, 2),
    (byWay.get(key) ?? []).map((x) => fmt(x.cpu.apiserver, 2)).join(" "),
  ]);
  figures[key] = {
    watches: r.watches,
    calls_per_s: r.rate,
    calls_per_s_by_round: r.roundRates,
    p50_ms: s.p50,
    p99_ms: s.p99,
    apiserver_cpu_ms_per_call: r.cpu.apiserver,
    etcd_cpu_ms_per_call: r.cpu.etcd,
    apiserver_vs_none: r.cpu.apiserver / none.cpu.apiserver,
    rate_vs_none: r.rate / none.rate,
    // the apiserver's extra time per Task event (a call makes two), per watch it was checked against
    ...(r.watches > 0
      ? { apiserver_us_per_event_per_watch: ((r.cpu.apiserver - none.cpu.apiserver) * 1000) / 2 / r.watches }
      : {}),
  };
}
console.log(`\n${table(rows)}`);
printFigures("watch-fanout", figures);

await ownWatch.stop();
await cp.stop();
process.exit(0);
