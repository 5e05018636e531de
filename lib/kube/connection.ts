/**
 * One authenticated HTTP connection to a kube-apiserver, made from a
 * kubeconfig, that works under Bun.
 *
 * Why this exists: @kubernetes/client-node 2.x hands TLS material to undici
 * through a `dispatcher`, and Bun's fetch ignores dispatchers, so under Bun
 * the kubeconfig's CA and client certificate are silently dropped. Bun's own
 * fetch takes them through its `tls` option instead. The kubeconfig and its
 * credentials are ours too (kubeconfig.ts): client-node's loader alone costs
 * each process about 45 MiB (ADR 0001). Its generated API classes still work
 * over this connection, for whoever wants them: client-node-api.ts.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeApiError, KubeConnectionError, type KubeStatus } from "./errors.ts";
import {
  type BunTlsOptions,
  KubeCredentials,
  type Kubeconfig,
  loadKubeconfig,
  parseKubeconfig,
  selectContext,
} from "./kubeconfig.ts";

export type { BunTlsOptions, Kubeconfig };

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

/** Where to find the cluster: an explicit kubeconfig, or the usual search (kubeconfig.ts). */
export interface KubeConnectionOptions {
  /** A kubeconfig file; else $KUBECONFIG, ~/.kube/config, or in-cluster. */
  kubeconfigPath?: string;
  /** A kubeconfig given as YAML text, used before kubeconfigPath. */
  kubeconfigYaml?: string;
  /**
   * A ready client-node KubeConfig, used before both. Only its data is read
   * (exportConfig), so client-node is not loaded for it here.
   */
  kubeConfig?: KubeConfig;
  /** The context to use instead of the kubeconfig's current-context. */
  context?: string;
  /** Client-side rate limit in requests per second; 0 means none. */
  qps?: number;
}

export function loadKubeConfig(opts: KubeConnectionOptions = {}): Kubeconfig {
  if (opts.kubeConfig) return fromClientNode(opts.kubeConfig, opts.context);
  return loadKubeconfig({ yaml: opts.kubeconfigYaml, path: opts.kubeconfigPath, context: opts.context });
}

/**
 * A client-node KubeConfig's current context, through its exported text. Its
 * in-cluster configuration names the token file as an auth-provider, which
 * is the kubeconfig's tokenFile.
 */
function fromClientNode(kc: KubeConfig, context?: string): Kubeconfig {
  const doc = JSON.parse(kc.exportConfig()) as { users?: { user?: Record<string, unknown> }[] };
  for (const { user } of doc.users ?? []) {
    const provider = user?.["auth-provider"] as { name?: string; config?: { tokenFile?: string } } | undefined;
    if (user && provider?.name === "tokenFile" && provider.config?.tokenFile) {
      user.tokenFile = provider.config.tokenFile;
      delete user["auth-provider"];
    }
  }
  return selectContext(parseKubeconfig(JSON.stringify(doc), "a KubeConfig", process.cwd()), context);
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
  readonly credentials: KubeCredentials;

  /** Reads the kubeconfig's CA and certificate files now, so a bad one fails here (KubeconfigError). */
  constructor(readonly kubeconfig: Kubeconfig) {
    this.server = kubeconfig.cluster.server.replace(/\/+$/, "");
    this.credentials = new KubeCredentials(kubeconfig);
  }

  static fromOptions(opts: KubeConnectionOptions = {}): KubeConnection {
    return new KubeConnection(loadKubeConfig(opts));
  }

  /**
   * The TLS options of the next request: the same object for the life of the
   * connection (Bun pools keep-alive connections per TLS configuration),
   * unless an exec plugin hands out a new client certificate.
   */
  tls(): Promise<BunTlsOptions | undefined> {
    return this.credentials.tls();
  }

  /**
   * Authentication headers, asked for on every request because tokens change
   * underneath us: a mounted service-account token is re-read each minute (as
   * client-go does) and exec plugins mint short-lived ones.
   */
  authHeaders(): Promise<Record<string, string>> {
    return this.credentials.authHeaders();
  }

  /** A raw fetch against the apiserver with this identity. */
  async fetch(method: string, path: string, init: RequestOptions & { accept?: string } = {}): Promise<Response> {
    const url = `${this.server}${path}${toQueryString(init.query)}`;
    const tls = await this.tls();
    const headers = await this.authHeaders();
    // After the credentials: a 401 then drops only a credential this request could have used.
    const sentAt = Date.now();
    headers.Accept = init.accept ?? "application/json";
    let body: string | undefined;
    if (init.body !== undefined) {
      body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
      headers["Content-Type"] = init.contentType ?? "application/json";
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, signal: init.signal, tls } as RequestInit);
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new KubeConnectionError(method, path, err);
    }
    if (res.status === 401) this.credentials.unauthorized(sentAt);
    return res;
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
