/**
 * One authenticated HTTP connection to a kube-apiserver, made from a
 * kubeconfig, that works under Bun.
 *
 * Why this exists: @kubernetes/client-node 2.x hands TLS material to undici
 * through a `dispatcher`, and Bun's fetch ignores dispatchers, so under Bun
 * the kubeconfig's CA and client certificate are silently dropped. Bun's own
 * fetch takes them through its `tls` option instead. This module keeps
 * client-node for what it does well (parsing kubeconfigs, in-cluster config,
 * token and exec credential plugins) and does the HTTP itself, so both our
 * typed resource clients and client-node's generated API classes
 * (`makeApiClient`) carry the right identity.
 */
import {
  type ApiType,
  type Configuration,
  createConfiguration,
  type HttpLibrary,
  KubeConfig,
  type RequestContext,
  ResponseContext,
  ServerConfiguration,
  wrapHttpLibrary,
} from "@kubernetes/client-node";
import { KubeApiError, KubeConnectionError, type KubeStatus } from "./errors.ts";

/** TLS settings in the shape Bun's fetch takes them. */
export interface BunTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
  serverName?: string;
}

/** How many times a request the apiserver throttled (429) is sent again. */
const maxThrottledRetries = 5;

export type QueryValue = string | number | boolean | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Defaults to application/json when there is a body. */
  contentType?: string;
  signal?: AbortSignal;
}

/** Where to find the cluster: an explicit kubeconfig, or the usual search. */
export interface KubeConnectionOptions {
  /** A kubeconfig file; else $KUBECONFIG, ~/.kube/config, or in-cluster. */
  kubeconfigPath?: string;
  /** A kubeconfig given as YAML text, used before kubeconfigPath. */
  kubeconfigYaml?: string;
  /** A ready KubeConfig, used before both. */
  kubeConfig?: KubeConfig;
  /** Client-side rate limit in requests per second; 0 means none. */
  qps?: number;
}

export function loadKubeConfig(opts: KubeConnectionOptions = {}): KubeConfig {
  if (opts.kubeConfig) return opts.kubeConfig;
  const kc = new KubeConfig();
  if (opts.kubeconfigYaml) kc.loadFromString(opts.kubeconfigYaml);
  else if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error("The kubeconfig has no current cluster");
  return kc;
}

function toQueryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : "";
}

export class KubeConnection {
  readonly server: string;
  private tls: BunTlsOptions | undefined;
  private tlsReady: Promise<void>;

  constructor(readonly kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("The kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/+$/, "");
    this.tlsReady = this.loadTls();
  }

  static fromOptions(opts: KubeConnectionOptions = {}): KubeConnection {
    return new KubeConnection(loadKubeConfig(opts));
  }

  /**
   * TLS material is read once: Bun pools keep-alive connections per TLS
   * configuration, so a fresh object per request would defeat the pool.
   */
  private async loadTls(): Promise<void> {
    if (!this.server.startsWith("https:")) return;
    const o: Record<string, unknown> = {};
    await this.kubeConfig.applyToHTTPSOptions(o);
    const tls: BunTlsOptions = {};
    if (o.ca) tls.ca = o.ca as Buffer;
    if (o.cert) tls.cert = o.cert as Buffer;
    if (o.key) tls.key = o.key as Buffer;
    if (o.rejectUnauthorized === false) tls.rejectUnauthorized = false;
    if (typeof o.servername === "string") tls.serverName = o.servername;
    this.tls = tls;
  }

  /**
   * Authentication headers, asked for on every request because tokens change
   * underneath us: client-node re-reads a mounted service-account token each
   * minute (as client-go does) and exec plugins mint short-lived ones.
   */
  async authHeaders(): Promise<Record<string, string>> {
    const o: { headers?: Record<string, string | string[]>; auth?: string } = {};
    await this.kubeConfig.applyToHTTPSOptions(o as never);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
    if (o.auth && !headers.Authorization) headers.Authorization = `Basic ${Buffer.from(o.auth).toString("base64")}`;
    return headers;
  }

  /** A raw fetch against the apiserver with this identity. */
  async fetch(method: string, path: string, init: RequestOptions & { accept?: string } = {}): Promise<Response> {
    await this.tlsReady;
    const url = `${this.server}${path}${toQueryString(init.query)}`;
    const headers = await this.authHeaders();
    headers.Accept = init.accept ?? "application/json";
    let body: string | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
      headers["Content-Type"] = init.contentType ?? "application/json";
    }
    try {
      return await fetch(url, { method, headers, body, signal: init.signal, tls: this.tls } as RequestInit);
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new KubeConnectionError(method, path, err);
    }
  }

  /** A JSON request; a non-2xx answer throws KubeApiError with the apiserver's Status. */
  async request<T>(method: string, path: string, init: RequestOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.fetch(method, path, init);
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
      // 429 means the apiserver did not process the request (priority and
      // fairness, or a watch cache still initialising): like client-go, wait
      // as long as Retry-After says and send it again, a few times.
      if (res.status === 429 && attempt < maxThrottledRetries && !init.signal?.aborted) {
        const after = Number(res.headers.get("retry-after"));
        await Bun.sleep(Math.min(Number.isFinite(after) && after > 0 ? after * 1000 : 1000, 10_000));
        continue;
      }
      throw new KubeApiError(res.status, parseStatus(text, res.status), method, path);
    }
  }

  /**
   * A client-node API class (CoreV1Api, CoordinationV1Api, …) whose HTTP goes
   * through this connection, so it carries the right TLS identity under Bun.
   */
  makeApiClient<T extends ApiType>(apiClientType: new (config: Configuration) => T): T {
    const config = createConfiguration({
      baseServer: new ServerConfiguration(this.server, {}),
      authMethods: { default: this.kubeConfig },
      httpApi: this.httpLibrary(),
    });
    return new apiClientType(config);
  }

  private httpLibrary(): HttpLibrary {
    return wrapHttpLibrary({
      send: async (ctx: RequestContext): Promise<ResponseContext> => {
        await this.tlsReady;
        // ctx already carries the auth headers client-node applied; its
        // undici dispatcher is what Bun ignores, so TLS is ours to pass.
        let res: Response;
        try {
          res = await fetch(ctx.getUrl(), {
            method: ctx.getHttpMethod().toString(),
            headers: ctx.getHeaders(),
            body: ctx.getBody() as BodyInit | undefined,
            signal: ctx.getSignal() as AbortSignal | undefined,
            tls: this.tls,
          } as RequestInit);
        } catch (err) {
          throw new KubeConnectionError(ctx.getHttpMethod().toString(), new URL(ctx.getUrl()).pathname, err);
        }
        const headers: Record<string, string> = {};
        res.headers.forEach((v, k) => {
          headers[k] = v;
        });
        const bytes = Buffer.from(await res.arrayBuffer());
        return new ResponseContext(res.status, headers, {
          text: async () => bytes.toString("utf8"),
          binary: async () => bytes,
          stream: () => new Blob([bytes]).stream(),
        });
      },
    });
  }
}

function parseStatus(text: string, code: number): KubeStatus {
  try {
    const parsed = JSON.parse(text) as KubeStatus;
    if (parsed && typeof parsed === "object") return parsed;
  } catch {
    // not JSON: fall through
  }
  return { status: "Failure", code, message: text.trim() || `HTTP ${code}` };
}
