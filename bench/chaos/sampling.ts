/**
 * What the soak measures while it runs, besides the Tasks (task-watch.ts):
 * each process's peak memory, the apiserver's writes, and at the end the
 * agents' execution logs.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { LocalControlPlane } from "../../lib/control-plane/local.ts";
import type { ExecutionRecord } from "../../test/fixtures/soak-agent.ts";
import { type ManagedProcess, procStatusBytes } from "./processes.ts";

const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

/** Peak memory (VmHWM) of the conductor's processes and of the control plane's (etcd, kube-apiserver). */
export class MemorySampler {
  private readonly controlPlanePeaks: Record<string, number> = {};

  constructor(
    private readonly procs: ManagedProcess[],
    private readonly cp: LocalControlPlane,
  ) {}

  sample(): void {
    for (const p of this.procs) p.sample();
    for (const [name, pid] of Object.entries(this.cp.pids)) {
      if (!pid) continue;
      const hwm = procStatusBytes(pid, "VmHWM");
      if (hwm) this.controlPlanePeaks[name] = Math.max(this.controlPlanePeaks[name] ?? 0, hwm);
    }
  }

  /** MiB by process name, the conductor's processes first. */
  peakMiB(): Record<string, number> {
    const peak: Record<string, number> = {};
    for (const p of this.procs) peak[p.spec.name] = mib(p.peakBytes);
    for (const [k, v] of Object.entries(this.controlPlanePeaks)) peak[k] = mib(v);
    return peak;
  }
}

/** Restarts by process: planned (after a fault) and unplanned (it exited by itself). */
export function restartCounts(procs: ManagedProcess[]): Record<string, { planned: number; unplanned: number }> {
  const restarts: Record<string, { planned: number; unplanned: number }> = {};
  for (const p of procs)
    restarts[p.spec.name] = { planned: p.starts - 1 - p.unplannedExits, unplanned: p.unplannedExits };
  return restarts;
}

/** The samples of a Prometheus counter in a /metrics text, with their labels. */
export function parseCounters(text: string, metric: string): { labels: Record<string, string>; value: number }[] {
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

const writeVerbs = ["POST", "PUT", "PATCH", "DELETE", "APPLY"];

/**
 * The apiserver's writes by resource, from its request counters scraped
 * over the run; and whether it answered the last scrape.
 */
export class ApiserverWrites {
  readonly byResource = new Map<string, number>();
  private readonly lastSeen = new Map<string, number>();
  /** False while the apiserver does not answer: a call's internal error may then be its absence. */
  up = true;

  constructor(private readonly cp: LocalControlPlane) {}

  async scrape(): Promise<void> {
    try {
      const res = await fetch(`${this.cp.server}/metrics`, {
        tls: { ca: this.cp.pki.ca.cert, cert: this.cp.admin.cert, key: this.cp.admin.key },
        signal: AbortSignal.timeout(3000),
      } as RequestInit);
      const text = await res.text();
      this.up = res.ok;
      for (const { labels, value } of parseCounters(text, "apiserver_request_total")) {
        if (!writeVerbs.includes(labels.verb ?? "")) continue;
        const series = JSON.stringify(labels);
        const prev = this.lastSeen.get(series) ?? 0;
        // A restarted apiserver starts its counters again from zero.
        const delta = value >= prev ? value - prev : value;
        this.lastSeen.set(series, value);
        const key = `${labels.resource}${labels.subresource ? `/${labels.subresource}` : ""}`;
        this.byResource.set(key, (this.byResource.get(key) ?? 0) + delta);
      }
    } catch {
      this.up = false;
    }
  }

  /** Counts from now on: the writes that set the stage are not the load's. */
  zero(): void {
    for (const k of this.byResource.keys()) this.byResource.set(k, 0);
  }
}

/** Every line of the agents' execution logs in `dir`. */
export function readExecutionLogs(dir: string): ExecutionRecord[] {
  return readdirSync(dir).flatMap((f) => parseExecutionLog(readFileSync(join(dir, f), "utf8")));
}

export function parseExecutionLog(text: string): ExecutionRecord[] {
  const execs: ExecutionRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      execs.push(JSON.parse(line) as ExecutionRecord);
    } catch {
      // a line cut by kill -9 mid-write: the start line of that execution still counts in the verdict
    }
  }
  return execs;
}
