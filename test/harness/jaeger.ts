/**
 * A real trace collector for tests: Jaeger v2, built from its pinned Go
 * module by hack/jaeger/build.sh, started on loopback with in-memory storage,
 * an OTLP/HTTP receiver and the query service, and asked through the query
 * API (the one its UI reads) for the traces the services sent it.
 */
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { repoRoot, runBuildScript } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { stopProcess } from "../../lib/control-plane/processes.ts";
import { eventually } from "./eventually.ts";

let binary: string | undefined;

/** The jaeger binary; the first call builds it when the cache is not current (minutes, once). */
export function jaegerBinary(): string {
  binary ??= join(runBuildScript(join(repoRoot, "hack", "jaeger", "build.sh")), "jaeger");
  return binary;
}

/** A span as Jaeger's query API (/api/traces) gives it. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: "CHILD_OF" | "FOLLOWS_FROM"; traceID: string; spanID: string }[];
  startTime: number;
  duration: number;
  tags: { key: string; type: string; value: unknown }[];
  processID: string;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export interface TestJaeger {
  /** Where services send spans: OTLP over HTTP. */
  otlpTracesUrl: string;
  /** One trace by id, once it holds at least `minSpans` spans. */
  trace(traceId: string, minSpans?: number): Promise<JaegerTrace>;
  /** The traces of a service, newest first. */
  traces(service: string, operation?: string): Promise<JaegerTrace[]>;
  logFile: string;
  stop(): Promise<void>;
}

export async function startJaeger(): Promise<TestJaeger> {
  const jaeger = jaegerBinary();
  const dir = mkdtempSync(join(tmpdir(), "jaeger-"));
  const [otlp, queryHttp, queryGrpc] = [await freePort(), await freePort(), await freePort()];
  // all-in-one.yaml of the release, less what the tests do not use (other receivers, sampling, zpages…)
  const config = {
    service: {
      extensions: ["jaeger_storage", "jaeger_query"],
      pipelines: {
        traces: { receivers: ["otlp"], processors: ["batch"], exporters: ["jaeger_storage_exporter"] },
      },
      telemetry: { metrics: { level: "none" }, logs: { level: "warn" } },
    },
    extensions: {
      jaeger_storage: { backends: { memstore: { memory: { max_traces: 10_000 } } } },
      jaeger_query: {
        storage: { traces: "memstore" },
        http: { endpoint: `127.0.0.1:${queryHttp}` },
        grpc: { endpoint: `127.0.0.1:${queryGrpc}` },
      },
    },
    receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${otlp}` } } } },
    processors: { batch: { timeout: "100ms" } },
    exporters: { jaeger_storage_exporter: { trace_storage: "memstore" } },
  };
  writeFileSync(join(dir, "config.yaml"), stringify(config));
  const logFile = join(dir, "jaeger.log");
  const log = openSync(logFile, "a");
  const proc = Bun.spawn([jaeger, `--config=${join(dir, "config.yaml")}`], {
    stdout: log,
    stderr: log,
    stdin: "ignore",
  });
  const query = `http://127.0.0.1:${queryHttp}`;
  const stop = async () => {
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(
      async () => {
        if (proc.exitCode !== null) throw new Error(`jaeger exited: ${readFileSync(logFile, "utf8").slice(-2000)}`);
        const [q, r] = await Promise.all([
          fetch(`${query}/api/services`).then(
            (x) => x.ok,
            () => false,
          ),
          fetch(`http://127.0.0.1:${otlp}/v1/traces`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: "{}",
          }).then(
            (x) => x.status < 500,
            () => false,
          ),
        ]);
        return q && r;
      },
      { timeout: 30_000, message: "Jaeger's query API and OTLP receiver answering" },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const get = async <T>(path: string): Promise<T | undefined> => {
    const res = await fetch(`${query}${path}`);
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { data: T }).data;
  };
  return {
    otlpTracesUrl: `http://127.0.0.1:${otlp}/v1/traces`,
    logFile,
    trace: (traceId, minSpans = 1) =>
      eventually(
        async () => {
          const t = (await get<JaegerTrace[]>(`/api/traces/${traceId}`))?.[0];
          return t && t.spans.length >= minSpans ? t : undefined;
        },
        { timeout: 20_000, message: `trace ${traceId} in Jaeger with ${minSpans} spans` },
      ),
    traces: async (service, operation) =>
      (await get<JaegerTrace[]>(
        `/api/traces?${new URLSearchParams({ service, ...(operation ? { operation } : {}), lookback: "1h", limit: "100" })}`,
      )) ?? [],
    stop,
  };
}
