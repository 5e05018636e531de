// The shipped monitoring (deploy/monitoring) against a real Prometheus: its
// monitors select Services and pods the install units ship; a running domain
// (scheduler, two controllers, gateway, agent, each its own process with its
// own metrics port) scraped the way the Prometheus Operator would scrape it
// answers every dashboard query and alert expression; promtool accepts the
// rules; and each alert fires when its cause is brought about.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Subprocess } from "bun";
import { parse as parseYaml, stringify } from "yaml";
import { kustomizeBinary, repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { parseManifests } from "../../lib/kube/apply.ts";
import { capability as dataProcessing } from "../../services/agents/data-processor/tools.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import {
  type Manifest,
  operatorTargets,
  prometheusBinaries,
  promtool,
  type ScrapeJob,
  startPrometheus,
  type TestPrometheus,
} from "../harness/prometheus.ts";

const monitoringDir = join(repoRoot, "deploy", "monitoring");
const overlays = ["data-processing", "infrastructure", "content"] as const;

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}
/** The PrometheusRule's groups, as a Prometheus rules file holds them. */
const shippedGroups = (): RuleGroup[] =>
  (parseYaml(readFileSync(join(monitoringDir, "alerts.yaml"), "utf8")) as { spec: { groups: RuleGroup[] } }).spec
    .groups;
const shippedRules = () => shippedGroups().flatMap((g) => g.rules);

const dashboard = JSON.parse(readFileSync(join(monitoringDir, "dashboard.json"), "utf8")) as {
  templating: { list: { name: string; query: string }[] };
  panels: { title: string; targets: { expr: string }[] }[];
};

/**
 * The overlay with deploy/monitoring added to it, as its comment tells a user
 * to, rendered by the pinned kustomize; `namespace` replaces the overlay's.
 */
async function renderWithMonitoring(overlay: string, namespace?: string): Promise<Manifest[]> {
  const dir = mkdtempSync(join(tmpdir(), "monitoring-kustomize-"));
  try {
    const overlayDir = join(repoRoot, "kustomize", "overlays", overlay);
    // kustomize takes only relative paths to other kustomizations.
    writeFileSync(
      join(dir, "kustomization.yaml"),
      stringify({
        apiVersion: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        namespace:
          namespace ??
          (parseYaml(readFileSync(join(overlayDir, "kustomization.yaml"), "utf8")) as { namespace: string }).namespace,
        resources: [relative(dir, overlayDir), relative(dir, monitoringDir)],
      }),
    );
    const proc = Bun.spawn([kustomizeBinary(), "build", dir], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (code !== 0) throw new Error(`kustomize build: ${err}`);
    return parseManifests(out) as unknown as Manifest[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("monitoring manifests", () => {
  // A first run builds Prometheus and promtool (minutes); later ones find them cached.
  beforeAll(() => void prometheusBinaries(), 900_000);

  test("promtool check rules accepts the PrometheusRule's groups", async () => {
    const dir = mkdtempSync(join(tmpdir(), "monitoring-rules-"));
    try {
      const file = join(dir, "rules.yaml");
      writeFileSync(file, stringify({ groups: shippedGroups() }));
      const res = await promtool(["check", "rules", file]);
      expect(res.stderr).toBe("");
      expect(res.stdout).toContain(`SUCCESS: ${shippedRules().length} rules found`);
      expect(res.code).toBe(0);
      // and it refuses a broken expression, so the pass above means something
      writeFileSync(file, stringify({ groups: [{ name: "x", rules: [{ alert: "X", expr: "sum by (domain (x)" }] }] }));
      expect((await promtool(["check", "rules", file])).code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("promtool test rules: each alert fires after its own `for`, not before, on series shaped as exported", async () => {
    // The shipped durations and thresholds unchanged, in simulated time (the
    // live test below must shorten them). Series carry the labels the
    // services give them; a case's quiet time is before its `for` has passed.
    const cases: { alert: string; series: Record<string, string>; quiet: string; firing: string; labels: object }[] = [
      {
        alert: "McpNoReadyAgentForCapability",
        series: { 'mcp_capability_ready_agents{domain="d",capability="ocr",pod="c-a"}': "1 1 0x15" },
        quiet: "6m",
        firing: "8m",
        labels: { domain: "d", capability: "ocr" },
      },
      {
        alert: "McpTasksPendingTooLong",
        series: { 'mcp_tasks_oldest_pending_seconds{domain="d",pod="c-a"}': "0+60x30" },
        quiet: "15m",
        firing: "17m",
        labels: { domain: "d" },
      },
      {
        alert: "McpHighTaskFailureRate",
        series: {
          'mcp_agent_tasks_total{domain="d",agent="a1",tool="t",outcome="completed"}': "0+8x30",
          'mcp_agent_tasks_total{domain="d",agent="a1",tool="t",outcome="failed"}': "0+3x30",
        },
        quiet: "9m",
        firing: "12m",
        labels: { domain: "d" },
      },
      {
        // the leader's Lease lapses at 2m while both replicas run
        alert: "McpControllerWithoutLeader",
        series: {
          'mcp_controller_leader{domain="d",pod="c-a"}': "1 1 0x10",
          'mcp_controller_leader{domain="d",pod="c-b"}': "0x12",
          'mcp_gateway_sessions{domain="d",pod="g"}': "0x12",
        },
        quiet: "3m",
        firing: "5m",
        labels: { domain: "d" },
      },
      {
        // no replica at all in domain e, while f's leader is fine
        alert: "McpControllerWithoutLeader",
        series: {
          'mcp_gateway_sessions{domain="e",pod="g"}': "0x12",
          'mcp_controller_leader{domain="f",pod="c-a"}': "1x12",
          'mcp_gateway_sessions{domain="f",pod="g"}': "0x12",
        },
        quiet: "1m",
        firing: "3m",
        labels: { domain: "e" },
      },
      {
        alert: "McpGateway5xx",
        series: { 'mcp_gateway_http_requests_total{domain="d",method="POST",status="500"}': "0+1x20" },
        quiet: "5m",
        firing: "7m",
        labels: { domain: "d" },
      },
    ];
    const rules = shippedRules();
    expect([...new Set(cases.map((c) => c.alert))].sort()).toEqual(rules.map((r) => r.alert).sort());
    const annotations = (rule: Rule, labels: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(rule.annotations ?? {}).map(([k, v]) => [
          k,
          v.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, l: string) => labels[l] ?? ""),
        ]),
      );
    const tests = cases.map((c) => {
      const rule = rules.find((r) => r.alert === c.alert) as Rule;
      const labels = { ...rule.labels, ...c.labels };
      return {
        interval: "1m",
        input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
        alert_rule_test: [
          { eval_time: c.quiet, alertname: c.alert, exp_alerts: [] },
          {
            eval_time: c.firing,
            alertname: c.alert,
            exp_alerts: [{ exp_labels: labels, exp_annotations: annotations(rule, labels) }],
          },
        ],
      };
    });
    const dir = mkdtempSync(join(tmpdir(), "monitoring-rules-"));
    try {
      writeFileSync(join(dir, "rules.yaml"), stringify({ groups: shippedGroups() }));
      writeFileSync(
        join(dir, "test.yaml"),
        stringify({ rule_files: ["rules.yaml"], evaluation_interval: "1m", tests }),
      );
      const res = await promtool(["test", "rules", join(dir, "test.yaml")]);
      expect(`${res.stdout}${res.stderr}`).toContain("SUCCESS");
      expect(res.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each(overlays)(
    "every monitor selects a Service or pod of the %s overlay, by label and port name",
    async (overlay) => {
      const objects = await renderWithMonitoring(overlay);
      const monitors = objects.filter((o) => o.kind === "ServiceMonitor" || o.kind === "PodMonitor");
      expect(monitors.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
        "PodMonitor/mcp-agent",
        "ServiceMonitor/mcp-controller",
        "ServiceMonitor/mcp-gateway",
        "ServiceMonitor/mcp-scheduler",
      ]);
      const targets = operatorTargets(objects);
      // each monitor reaches a container port through its selector and port name
      for (const m of monitors) expect(targets.map((t) => t.monitor)).toContain(`${m.kind}/${m.metadata.name}`);
      // and reaches only the workload it is named for, on its metrics port
      expect(
        targets.map((t) => `${t.monitor} -> ${t.workload}/${t.container}:${t.containerPort} ${t.path}`).sort(),
      ).toEqual([
        "PodMonitor/mcp-agent -> mcp-agent/agent:8080 /metrics",
        "ServiceMonitor/mcp-controller -> mcp-controller/controller:8081 /metrics",
        "ServiceMonitor/mcp-gateway -> mcp-gateway/gateway:9102 /metrics",
        "ServiceMonitor/mcp-scheduler -> mcp-scheduler/scheduler:9091 /metrics",
      ]);
    },
  );

  test("a monitor whose selector or port name matches nothing yields no target", async () => {
    const objects = await renderWithMonitoring("data-processing");
    const gateway = objects.find((o) => o.kind === "ServiceMonitor" && o.metadata.name === "mcp-gateway") as Manifest;
    expect(operatorTargets([...objects.filter((o) => !o.kind.endsWith("Monitor")), gateway])).toHaveLength(1);
    const wrongLabel = structuredClone(gateway);
    wrongLabel.spec.selector.matchLabels = { "app.kubernetes.io/name": "gateway" };
    const wrongPort = structuredClone(gateway);
    wrongPort.spec.endpoints[0].port = "http-metrics";
    for (const m of [wrongLabel, wrongPort])
      expect(operatorTargets([...objects.filter((o) => !o.kind.endsWith("Monitor")), m])).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// A running domain, scraped.

/** One process standing for one pod of a shipped Deployment. */
interface Pod {
  name: string;
  workload: string;
  metricsPort: number;
  proc: Subprocess;
}

const lease = { duration: 8, renewDeadline: 5, retry: 1 };
/**
 * The rules as the test loads them: every `for` shortened to 1 s (the shipped
 * 2-10 min would outlast the test), and the one threshold that is a duration
 * (ten minutes of waiting) shortened to 3 s. Each rewrite names the exact
 * text it replaces, so a change to the shipped rule fails here instead of
 * being tested half-way.
 */
const testFor = "1s";
const thresholdRewrites: Record<string, [from: string, to: string]> = {
  McpTasksPendingTooLong: ["> 600", "> 3"],
};
/**
 * What keeps each alert expression empty in a healthy domain: removed, the
 * rest must return data, which shows the metrics and labels it reads exist.
 */
const healthyEmpty: Record<string, { remove: string[]; why: string }> = {
  McpNoReadyAgentForCapability: { remove: [" == 0"], why: "every capability has a Ready agent" },
  McpTasksPendingTooLong: { remove: [" > 600"], why: "no task waits" },
  McpHighTaskFailureRate: { remove: ['{outcome!="completed"}', " > 0.2"], why: "no task failed" },
  McpControllerWithoutLeader: { remove: [" < 1"], why: "a controller leads" },
  McpGateway5xx: { remove: ['{status=~"5.."}', " > 0"], why: "no request failed" },
};

function testRules(): string {
  const groups = shippedGroups().map((g) => ({
    ...g,
    rules: g.rules.map((r) => {
      let expr = r.expr;
      const rewrite = thresholdRewrites[r.alert];
      if (rewrite) {
        if (!expr.includes(rewrite[0])) throw new Error(`${r.alert}: "${rewrite[0]}" is no longer in its expression`);
        expr = expr.replace(rewrite[0], rewrite[1]);
      }
      return { ...r, expr, for: testFor };
    }),
  }));
  return stringify({ groups });
}

let cluster: TestCluster;
let ns: string;
let prom: TestPrometheus;
let logDir: string;
let gatewayUrl: URL;
let schedulerPort: number;
const pods: Pod[] = [];

/** Starts a process as a pod of the workload would run: POD_NAME set, its metrics on a port of its own. */
async function startPod(
  workload: string,
  suffix: string,
  args: (metricsPort: number) => string[],
  env: (metricsPort: number) => Record<string, string> = () => ({}),
): Promise<Pod> {
  const metricsPort = await freePort();
  const name = `${workload}-7c9d5-${suffix}`;
  const log = openSync(join(logDir, `${name}.log`), "a");
  const proc = Bun.spawn([process.execPath, ...args(metricsPort)], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, LOG_LEVEL: "warn", POD_NAME: name, ...env(metricsPort) },
    stdout: log,
    stderr: log,
    stdin: "ignore",
  });
  const pod = { name, workload, metricsPort, proc };
  pods.push(pod);
  return pod;
}

async function ready(url: string): Promise<void> {
  await eventually(async () => (await fetch(url)).ok, { timeout: 30_000, interval: 100, message: url });
}

const pod = (workload: string) => pods.filter((p) => p.workload === workload && p.proc.exitCode === null);

/** Calls csv_to_json through the gateway with the SDK client; true when the tool failed. */
async function callTool(csv: string): Promise<boolean> {
  const client = new Client({ name: "monitoring", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(gatewayUrl));
  try {
    return (await client.callTool({ name: "csv_to_json", arguments: { csv } })).isError === true;
  } finally {
    await client.close();
  }
}

/** Creates Tasks for csv_to_json as a client of the API would, and waits until they completed. */
async function runTasks(names: string[]): Promise<void> {
  for (const name of names)
    await cluster.mcp.tasks.create(ns, {
      metadata: { name },
      spec: { requiredCapabilities: [dataProcessing], tool: "csv_to_json", payload: { csv: "a\n1\n" } },
    });
  for (const name of names)
    await eventually(async () => (await cluster.mcp.tasks.get(ns, name)).status?.phase === "Completed", {
      timeout: 20_000,
      message: `Task ${name} Completed`,
    });
}

/** Waits until every rule has been evaluated on data scraped after this call. */
async function evaluatedAfter(): Promise<void> {
  const since = Date.now();
  await eventually(async () => (await prom.targets()).every((t) => Date.parse(t.lastScrape) > since), {
    timeout: 10_000,
    interval: 100,
    message: "a scrape of every target",
  });
  const scraped = Date.now();
  await eventually(async () => (await prom.rules()).every((r) => Date.parse(r.lastEvaluation) > scraped), {
    timeout: 10_000,
    interval: 100,
    message: "an evaluation of every rule",
  });
}

const alertsOf = async (name: string) =>
  (await prom.alerts()).filter((a) => a.labels.alertname === name && a.labels.domain === ns);

/** The alert, evaluated on current data, is neither pending nor firing. */
async function expectQuiet(name: string): Promise<void> {
  await evaluatedAfter();
  expect((await prom.rules()).find((r) => r.name === name)).toMatchObject({ health: "ok", state: "inactive" });
  expect(await alertsOf(name)).toEqual([]);
}

const waitFiring = (name: string, timeout = 20_000) =>
  eventually(
    async () => {
      const firing = (await alertsOf(name)).filter((a) => a.state === "firing");
      return firing.length ? firing : undefined;
    },
    { timeout, interval: 200, message: `${name} firing` },
  );

describe("a running domain", () => {
  beforeAll(async () => {
    cluster = await testCluster();
    ns = await cluster.newNamespace("monitoring");
    logDir = mkdtempSync(join(tmpdir(), "monitoring-pods-"));
    schedulerPort = await freePort();
    const gatewayPort = await freePort();
    gatewayUrl = new URL(`http://127.0.0.1:${gatewayPort}/mcp`);

    // The shipped Deployments' programs with loopback ports. NAMESPACE is what the
    // manifests give them (Downward API); it labels the scheduler's metrics.
    await startPod(
      "mcp-scheduler",
      "s",
      (m) => ["services/scheduler/main.ts", `--port=${schedulerPort}`, "--host=127.0.0.1", `--metrics-port=${m}`],
      () => ({ NAMESPACE: ns }),
    );
    for (const suffix of ["a", "b"])
      await startPod("mcp-controller", suffix, (m) => [
        "services/controller/main.ts",
        `--namespace=${ns}`,
        `--scheduler-address=127.0.0.1:${schedulerPort}`,
        `--metrics-port=${m}`,
        `--lease-duration-seconds=${lease.duration}`,
        `--renew-deadline-seconds=${lease.renewDeadline}`,
        `--retry-period-seconds=${lease.retry}`,
        // an agent that stops heartbeating is NotReady within seconds
        "--heartbeat-timeout-seconds=2",
        "--unknown-after-seconds=30",
      ]);
    await startPod("mcp-gateway", "g", (m) => [
      "services/gateway/main.ts",
      `--namespace=${ns}`,
      `--port=${gatewayPort}`,
      "--host=127.0.0.1",
      `--metrics-port=${m}`,
      "--allow-unauthenticated",
    ]);
    await startPod(
      "mcp-agent",
      "x",
      () => ["services/agents/data-processor/main.ts"],
      (m) => ({ NAMESPACE: ns, AGENT_METRICS_PORT: String(m), AGENT_HEARTBEAT_INTERVAL_SECONDS: "0.5" }),
    );
    for (const p of pods) await ready(`http://127.0.0.1:${p.metricsPort}/readyz`);
    await ready(`http://127.0.0.1:${gatewayPort}/readyz`);

    // Scrape jobs as the operator generates them from the data-processing overlay
    // (whose agent runs here) with deploy/monitoring, in this test's namespace.
    // No Kubernetes service discovery here (the processes are not pods): each
    // job's targets are the processes standing for the selected workload's pods,
    // with the labels the operator's relabelling gives a target as static labels.
    const targets = operatorTargets(await renderWithMonitoring("data-processing", ns));
    const jobs = new Map<string, ScrapeJob>();
    for (const t of targets) {
      const job = jobs.get(t.jobName) ?? { jobName: t.jobName, metricsPath: t.path, targets: [] };
      jobs.set(t.jobName, job);
      for (const p of pod(t.workload))
        job.targets.push({
          address: `127.0.0.1:${p.metricsPort}`,
          labels: {
            job: t.job,
            namespace: t.namespace,
            ...(t.service ? { service: t.service } : {}),
            pod: p.name,
            container: t.container,
            endpoint: t.endpoint,
          },
        });
    }
    prom = await startPrometheus({ jobs: [...jobs.values()], rules: testRules(), intervalSeconds: 1 });

    // Work in two rounds a scrape apart: rate() needs a series to grow after
    // Prometheus first saw it, and histograms with a tool or method label start
    // at their first observation. Tool calls through the gateway (which binds
    // each to an agent itself), and Tasks created directly, which the
    // controller places through the scheduler.
    expect(await callTool("a,b\n1,2\n")).toBe(false);
    await runTasks(["direct-1"]);
    for (const series of [
      "mcp_gateway_tool_call_duration_seconds_count",
      "mcp_scheduler_request_duration_seconds_count",
    ])
      await eventually(async () => (await prom.query(`${series}{domain="${ns}"}`)).length, { message: series });
    await evaluatedAfter();
    for (let i = 0; i < 3; i++) expect(await callTool(`a\n${i}\n`)).toBe(false);
    await runTasks(["direct-2", "direct-3"]);
  }, 900_000); // a build of Prometheus when the test runs alone on a clean machine

  afterAll(async () => {
    await prom?.stop();
    for (const p of pods) p.proc.kill("SIGKILL");
    await Promise.all(pods.map((p) => p.proc.exited));
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  describe("scraped by a real Prometheus", () => {
    test("scrapes every monitor's targets under the operator's job names and labels", async () => {
      const targets = await prom.targets();
      expect(targets.filter((t) => t.health !== "up")).toEqual([]);
      expect(targets.map((t) => `${t.scrapePool} ${t.labels.job} ${t.labels.pod}`).sort()).toEqual(
        [
          `podMonitor/${ns}/mcp-agent/0 ${ns}/mcp-agent mcp-agent-7c9d5-x`,
          `serviceMonitor/${ns}/mcp-controller/0 mcp-controller-metrics mcp-controller-7c9d5-a`,
          `serviceMonitor/${ns}/mcp-controller/0 mcp-controller-metrics mcp-controller-7c9d5-b`,
          `serviceMonitor/${ns}/mcp-gateway/0 mcp-gateway mcp-gateway-7c9d5-g`,
          `serviceMonitor/${ns}/mcp-scheduler/0 mcp-scheduler mcp-scheduler-7c9d5-s`,
        ].sort(),
      );
      // every series the services export carries the domain (up and scrape_* are Prometheus's own)
      expect(
        await prom.query(`count by (job) ({namespace="${ns}", domain!="${ns}", __name__!~"up|scrape_.+"})`),
      ).toEqual([]);
    });

    test("the domain's state gauges come from the leader only; the scheduler exports requests, latency and candidates", async () => {
      const leaders = await eventually(async () => {
        const l = await prom.query(`mcp_controller_leader{domain="${ns}"}`);
        return l.length === 2 ? l : undefined;
      });
      const leader = leaders.find((s) => s.value === 1)?.metric.pod;
      expect(leaders.map((s) => s.value).sort()).toEqual([0, 1]);
      for (const m of ["mcp_tasks", "mcp_agents", "mcp_capability_ready_agents", "mcp_tasks_oldest_pending_seconds"]) {
        const from = (await prom.query(`count by (pod) (${m}{domain="${ns}"})`)).map((s) => s.metric.pod);
        expect({ [m]: from }).toEqual({ [m]: [leader] });
      }
      // so a sum over the replicas counts each Task once
      const tasks = (await cluster.mcp.tasks.list(ns)).items.length;
      expect(tasks).toBe(7);
      await eventually(async () => (await prom.query(`sum(mcp_tasks{domain="${ns}"})`))[0]?.value === tasks, {
        message: `sum(mcp_tasks) = ${tasks}`,
      });

      const requests = await prom.query(`sum by (method, code) (mcp_scheduler_requests_total{domain="${ns}"})`);
      expect(requests.filter((s) => s.metric.code === "OK").map((s) => s.metric.method)).toContain("PlaceBatch");
      for (const m of ["mcp_scheduler_request_duration_seconds_count", "mcp_scheduler_candidates_count"])
        expect((await prom.query(`sum(${m}{domain="${ns}", method="PlaceBatch"})`))[0]?.value).toBeGreaterThan(0);
      // one agent offered the capability: each request weighed one candidate
      expect((await prom.query(`sum(mcp_scheduler_candidates_sum{domain="${ns}"}) > 0`)).length).toBe(1);
    });

    test("every dashboard query returns numbers for the domain", async () => {
      expect(await prom.labelValues("domain", "mcp_tasks")).toContain(ns);
      expect(dashboard.templating.list.map((v) => v.query)).toEqual(["label_values(mcp_tasks, domain)"]);
      const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
      expect(exprs.length).toBeGreaterThanOrEqual(10);
      for (const { panel, expr } of exprs) {
        const q = expr.replaceAll("$domain", ns);
        const samples = await eventually(
          async () => {
            const s = await prom.query(q);
            // a histogram_quantile of buckets that did not grow is NaN: no data yet
            return s.length && s.every((x) => Number.isFinite(x.value)) ? s : undefined;
          },
          { timeout: 15_000, interval: 250, message: `${panel}: ${q}` },
        );
        expect(samples.length).toBeGreaterThan(0);
      }
    });

    test("every alert expression evaluates without error, is quiet when healthy, and reads data", async () => {
      await evaluatedAfter();
      const rules = shippedRules();
      expect(Object.keys(healthyEmpty).sort()).toEqual(rules.map((r) => r.alert).sort());
      const loaded = await prom.rules();
      expect(loaded.map((r) => `${r.name} ${r.health} ${r.state}`).sort()).toEqual(
        rules.map((r) => `${r.alert} ok inactive`).sort(),
      );
      for (const r of rules) {
        const healthy = healthyEmpty[r.alert];
        const name = `${r.alert} (${healthy?.why})`;
        expect({ [name]: await prom.query(r.expr) }).toEqual({ [name]: [] });
        let relaxed = r.expr;
        for (const text of healthy?.remove ?? []) {
          expect(relaxed).toContain(text);
          relaxed = relaxed.replace(text, "");
        }
        const data = (await prom.query(relaxed)).filter((s) => s.metric.domain === ns && Number.isFinite(s.value));
        expect({ [relaxed]: data.length > 0 }).toEqual({ [relaxed]: true });
      }
    });
  });

  describe("each alert fires when its cause is brought about", () => {
    test("McpHighTaskFailureRate: tool calls that fail", async () => {
      await expectQuiet("McpHighTaskFailureRate");
      // One failure first: rate() counts only growth after Prometheus saw the series.
      expect(await callTool('"unterminated')).toBe(true);
      await eventually(
        async () => (await prom.query(`mcp_agent_tasks_total{domain="${ns}", outcome!="completed"}`)).length,
      );
      await evaluatedAfter();
      for (let i = 0; i < 2; i++) expect(await callTool('"unterminated')).toBe(true);
      const [alert] = await waitFiring("McpHighTaskFailureRate");
      expect(Number(alert?.value)).toBeGreaterThan(0.2);
    });

    test("McpTasksPendingTooLong: a Task for a capability no agent offers", async () => {
      await expectQuiet("McpTasksPendingTooLong");
      await cluster.mcp.tasks.create(ns, {
        metadata: { name: "waits" },
        spec: { requiredCapabilities: ["offered-by-nobody"] },
      });
      const [alert] = await waitFiring("McpTasksPendingTooLong");
      expect(Number(alert?.value)).toBeGreaterThan(3);
      expect((await cluster.mcp.tasks.get(ns, "waits")).status?.phase).toBe("Pending");
      await cluster.mcp.tasks.delete(ns, "waits");
    });

    test("McpNoReadyAgentForCapability: the only agent offering it crashes", async () => {
      await expectQuiet("McpNoReadyAgentForCapability");
      // SIGKILL: the Agent stays and stops heartbeating, as when its container
      // crashed or hung. (A drained agent deletes its Agent, and its capability
      // leaves the gauge with it; then waiting Tasks raise McpTasksPendingTooLong.)
      const [agent] = pod("mcp-agent");
      agent?.proc.kill("SIGKILL");
      await agent?.proc.exited;
      const firing = await waitFiring("McpNoReadyAgentForCapability");
      expect(firing.map((a) => a.labels.capability)).toEqual([dataProcessing]);
    });

    test("McpControllerWithoutLeader: the leader is killed, then no controller runs at all", async () => {
      await expectQuiet("McpControllerWithoutLeader");
      const leaderPod = (await prom.query(`mcp_controller_leader{domain="${ns}"} == 1`))[0]?.metric.pod;
      const [leader, standby] = [
        ...pod("mcp-controller").filter((p) => p.name === leaderPod),
        ...pod("mcp-controller").filter((p) => p.name !== leaderPod),
      ];
      if (!leader || !standby) throw new Error(`a leader and a standby, not ${leaderPod}`);

      // The standby runs but cannot lead until the dead leader's Lease expires.
      leader.proc.kill("SIGKILL");
      await leader.proc.exited;
      await waitFiring("McpControllerWithoutLeader", lease.duration * 1000);
      expect((await prom.query(`mcp_controller_leader{domain="${ns}"}`)).map((s) => s.metric.pod)).toEqual([
        standby.name,
      ]);
      // It takes over: the alert resolves.
      await eventually(async () => (await alertsOf("McpControllerWithoutLeader")).length === 0, {
        timeout: (lease.duration + 10) * 1000,
        interval: 200,
        message: "McpControllerWithoutLeader resolved",
      });

      // Stopped for good: no replica reports at all, while the gateway does.
      standby.proc.kill("SIGTERM");
      await standby.proc.exited;
      await waitFiring("McpControllerWithoutLeader");
      expect(await prom.query(`mcp_controller_leader{domain="${ns}"}`)).toEqual([]);
      expect((await prom.query(`mcp_gateway_sessions{domain="${ns}"}`)).length).toBe(1);
    }, 60_000);
  });
});
