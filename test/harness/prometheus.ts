/**
 * A real Prometheus for tests: built from its pinned Go module by
 * hack/prometheus/build.sh (with promtool), started on loopback with a
 * generated configuration of static scrape jobs and a rules file, and asked
 * through its HTTP API as a dashboard or an alert manager would.
 */
import { mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { stringify } from "yaml";
import { repoRoot, runBuildScript } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { stopProcess } from "../../lib/control-plane/processes.ts";
import { eventually } from "./eventually.ts";

let binaries: { prometheus: string; promtool: string } | undefined;

/** prometheus and promtool; the first call builds them when the cache is not current (minutes, once). */
export function prometheusBinaries(): { prometheus: string; promtool: string } {
  if (!binaries) {
    const dir = runBuildScript(join(repoRoot, "hack", "prometheus", "build.sh"));
    binaries = { prometheus: join(dir, "prometheus"), promtool: join(dir, "promtool") };
  }
  return binaries;
}

/** Runs promtool with arguments, collecting its output. */
export async function promtool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([prometheusBinaries().promtool, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** One scrape job: its targets, each with the labels service discovery and relabelling would have given it. */
export interface ScrapeJob {
  jobName: string;
  metricsPath: string;
  targets: { address: string; labels: Record<string, string> }[];
}

/** One series of an instant query's result. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface PromAlert {
  labels: Record<string, string>;
  state: "pending" | "firing";
  value: string;
}

export interface PromRule {
  name: string;
  type: "alerting" | "recording";
  health: string;
  lastError?: string;
  state?: "inactive" | "pending" | "firing";
  query: string;
  /** RFC 3339. */
  lastEvaluation: string;
}

export interface PromTarget {
  labels: Record<string, string>;
  scrapePool: string;
  health: "up" | "down" | "unknown";
  lastError: string;
  /** RFC 3339. */
  lastScrape: string;
}

export interface TestPrometheus {
  url: string;
  /** An instant query's vector; throws on a query Prometheus refuses. */
  query(expr: string): Promise<Sample[]>;
  /** Label values of series that match `match` (what Grafana's label_values asks). */
  labelValues(label: string, match: string): Promise<string[]>;
  alerts(): Promise<PromAlert[]>;
  rules(): Promise<PromRule[]>;
  targets(): Promise<PromTarget[]>;
  /** Prometheus's own log, for a failing test's message. */
  logFile: string;
  stop(): Promise<void>;
}

/** The fields of a rendered manifest that the Prometheus Operator reads. */
export interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests of several kinds, read field by field
  spec?: any;
}

/** One scrape target as the Prometheus Operator derives it from a ServiceMonitor or a PodMonitor. */
export interface MonitorTarget {
  /** "ServiceMonitor/mcp-gateway". */
  monitor: string;
  /** The operator's job_name: serviceMonitor/<namespace>/<name>/<endpoint index>. */
  jobName: string;
  /** The job label: the Service's name (ServiceMonitor) or <namespace>/<name> (PodMonitor). */
  job: string;
  namespace: string;
  /** The Service the endpoint came through (ServiceMonitor only). */
  service?: string;
  /** The Deployment (or other workload) whose pods are scraped. */
  workload: string;
  container: string;
  /** The port's name, which the operator puts in the endpoint label. */
  endpoint: string;
  containerPort: number;
  path: string;
}

const workloadKinds = new Set(["Deployment", "StatefulSet", "DaemonSet"]);

function selects(selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] }, labels = {}) {
  if (selector.matchExpressions?.length) throw new Error("matchExpressions are not emulated here");
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => (labels as Record<string, string>)[k] === v);
}

/**
 * The targets the Prometheus Operator would scrape for the ServiceMonitors and
 * PodMonitors among these manifests: Services (ServiceMonitor) or pod
 * templates (PodMonitor) in the monitor's own namespace whose labels match its
 * selector, the named port, and the containers behind it; the labels follow
 * the operator's generated relabelling (job, namespace, service, pod,
 * container, endpoint). A monitor that selects nothing yields no target.
 */
export function operatorTargets(objects: Manifest[]): MonitorTarget[] {
  const inNs = (kind: (k: string) => boolean, ns: string) =>
    objects.filter((o) => kind(o.kind) && (o.metadata.namespace ?? "") === ns);
  const targets: MonitorTarget[] = [];
  for (const m of objects) {
    const ns = m.metadata.namespace ?? "";
    if (m.kind !== "ServiceMonitor" && m.kind !== "PodMonitor") continue;
    if (m.spec.namespaceSelector) throw new Error(`${m.kind}/${m.metadata.name}: namespaceSelector is not emulated`);
    const workloads = inNs((k) => workloadKinds.has(k), ns);
    const containersOf = (w: Manifest) =>
      (w.spec.template.spec.containers ?? []) as { name: string; ports?: { name?: string; containerPort: number }[] }[];
    if (m.kind === "ServiceMonitor") {
      const services = inNs((k) => k === "Service", ns).filter((s) => selects(m.spec.selector, s.metadata.labels));
      m.spec.endpoints.forEach((ep: { port: string; path?: string }, i: number) => {
        for (const s of services) {
          const port = (s.spec.ports as { name?: string; port: number; targetPort?: string | number }[]).find(
            (p) => p.name === ep.port,
          );
          if (!port) continue;
          const targetPort = port.targetPort ?? port.port;
          for (const w of workloads.filter((w) =>
            selects({ matchLabels: s.spec.selector }, w.spec.template.metadata.labels),
          ))
            for (const c of containersOf(w)) {
              const cp = c.ports?.find(
                (p) => (typeof targetPort === "string" ? p.name : p.containerPort) === targetPort,
              );
              if (!cp) continue;
              targets.push({
                monitor: `${m.kind}/${m.metadata.name}`,
                jobName: `serviceMonitor/${ns}/${m.metadata.name}/${i}`,
                job: s.metadata.name,
                namespace: ns,
                service: s.metadata.name,
                workload: w.metadata.name,
                container: c.name,
                endpoint: ep.port,
                containerPort: cp.containerPort,
                path: ep.path ?? "/metrics",
              });
            }
        }
      });
    } else {
      m.spec.podMetricsEndpoints.forEach((ep: { port: string; path?: string }, i: number) => {
        for (const w of workloads.filter((w) => selects(m.spec.selector, w.spec.template.metadata.labels)))
          for (const c of containersOf(w)) {
            const cp = c.ports?.find((p) => p.name === ep.port);
            if (!cp) continue;
            targets.push({
              monitor: `${m.kind}/${m.metadata.name}`,
              jobName: `podMonitor/${ns}/${m.metadata.name}/${i}`,
              job: `${ns}/${m.metadata.name}`,
              namespace: ns,
              workload: w.metadata.name,
              container: c.name,
              endpoint: ep.port,
              containerPort: cp.containerPort,
              path: ep.path ?? "/metrics",
            });
          }
      });
    }
  }
  return targets;
}

interface ApiAnswer<T> {
  status: "success" | "error";
  data: T;
  error?: string;
}

/**
 * Starts Prometheus with these jobs and rules (a rule file's YAML), scraping
 * and evaluating every `intervalSeconds`; resolves once it is ready.
 */
export async function startPrometheus(opts: {
  jobs: ScrapeJob[];
  rules?: string;
  intervalSeconds?: number;
}): Promise<TestPrometheus> {
  const { prometheus } = prometheusBinaries();
  const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
  const interval = `${opts.intervalSeconds ?? 1}s`;
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: opts.rules ? [join(dir, "rules.yaml")] : [],
    scrape_configs: opts.jobs.map((j) => ({
      job_name: j.jobName,
      metrics_path: j.metricsPath,
      static_configs: j.targets.map((t) => ({ targets: [t.address], labels: t.labels })),
    })),
  };
  if (opts.rules) writeFileSync(join(dir, "rules.yaml"), opts.rules);
  writeFileSync(join(dir, "prometheus.yaml"), stringify(config));
  const port = await freePort();
  const logFile = join(dir, "prometheus.log");
  const log = openSync(logFile, "a");
  const proc: Subprocess = Bun.spawn(
    [
      prometheus,
      `--config.file=${join(dir, "prometheus.yaml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Hands the scrape loops new targets within 100 ms instead of 5 s (a hidden flag).
      "--scrape.discovery-reload-interval=100ms",
    ],
    { stdout: log, stderr: log, stdin: "ignore" },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as ApiAnswer<T>;
    if (body.status !== "success") throw new Error(`${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  try {
    await eventually(
      async () => {
        if (proc.exitCode !== null) throw new Error(`Prometheus exited with ${proc.exitCode}; see ${logFile}`);
        if (!(await fetch(`${url}/-/ready`)).ok) return false;
        // and scraping every target it was given
        const { activeTargets } = await api<{ activeTargets: PromTarget[] }>("/api/v1/targets");
        return activeTargets.length === opts.jobs.reduce((n, j) => n + j.targets.length, 0);
      },
      { timeout: 30_000, interval: 100, message: "Prometheus ready" },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    logFile,
    async query(expr) {
      const data = await api<{
        resultType: string;
        result: { metric: Record<string, string>; value: [number, string] }[];
      }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (data.resultType !== "vector") throw new Error(`${expr}: a ${data.resultType}, not a vector`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    labelValues: (label, match) =>
      api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(match)}`),
    alerts: async () => (await api<{ alerts: PromAlert[] }>("/api/v1/alerts")).alerts,
    rules: async () => (await api<{ groups: { rules: PromRule[] }[] }>("/api/v1/rules")).groups.flatMap((g) => g.rules),
    targets: async () => (await api<{ activeTargets: PromTarget[] }>("/api/v1/targets")).activeTargets,
    stop,
  };
}
