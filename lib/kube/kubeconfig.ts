/**
 * Kubeconfigs, loaded as client-go loads them, and the credentials they name.
 *
 * Why our own: @kubernetes/client-node's KubeConfig pulls in the whole
 * generated API and its HTTP stack, about 45 MiB of every process (ADR 0001,
 * Update). What the services and the CLI need of it is small:
 *
 * - where the configuration comes from: a given file, else $KUBECONFIG (a
 *   list of files merged first-wins per name), else ~/.kube/config, else the
 *   pod's service account (in-cluster);
 * - the current context's (or a named context's) cluster and user, with
 *   relative file paths resolved against the folder of the file naming them;
 * - credentials: the CA, a client certificate, a bearer token (the token file
 *   re-read at most once a minute, as client-go does, since bound tokens
 *   rotate), basic auth, and exec plugins (client.authentication.k8s.io v1
 *   and v1beta1), whose ExecCredential is kept until it expires.
 *
 * Bad input fails with a KubeconfigError naming the file and the field.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, resolve } from "node:path";

/** Bun's own YAML parser: the yaml package would add 7 MiB to every process that reads a kubeconfig. */
const parse = (text: string): unknown => Bun.YAML.parse(text);

/** TLS settings in the shape Bun's fetch takes them. */
export interface BunTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
  serverName?: string;
}

/** A kubeconfig that cannot be used: where (a file, "in-cluster", "inline") and which field. */
export class KubeconfigError extends Error {
  override readonly name = "KubeconfigError";
  constructor(
    readonly source: string,
    readonly field: string | undefined,
    readonly detail: string,
  ) {
    super(field ? `${source}: ${field}: ${detail}` : `${source}: ${detail}`);
  }
}

/** Where a value was written, for errors: the file (or "inline", "in-cluster") and the field. */
export interface Origin {
  source: string;
  field: string;
}

/** Bytes given inline (a `-data` field, already decoded) or as a file's path (absolute). */
export type Material = Origin & ({ data: Buffer; file?: undefined } | { file: string; data?: undefined });

export interface KubeconfigCluster {
  /** The apiserver's URL, without a trailing slash. */
  server: string;
  certificateAuthority?: Material;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** The extension `client.authentication.k8s.io/exec`, given to exec plugins that ask for the cluster. */
  execExtension?: unknown;
}

export const execApiVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"] as const;
export type ExecApiVersion = (typeof execApiVersions)[number];
const interactiveModes = ["Never", "IfAvailable", "Always"] as const;

/** A user's exec credential plugin. */
export interface ExecConfig extends Origin {
  apiVersion: ExecApiVersion;
  /** Absolute when the kubeconfig gave a relative path with a slash; else looked up in PATH. */
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  provideClusterInfo: boolean;
  /** Whether the plugin may talk to the user; IfAvailable when not given. */
  interactiveMode: (typeof interactiveModes)[number];
  installHint?: string;
}

export interface KubeconfigUser {
  clientCertificate?: Material;
  clientKey?: Material;
  token?: string;
  tokenFile?: Origin & { file: string };
  username?: string;
  password?: string;
  exec?: ExecConfig;
  /** `as` and `as-uid`: impersonation. */
  impersonate?: { user: string; uid?: string };
}

/** The part of a kubeconfig a connection uses: one context, its cluster and its user. */
export interface Kubeconfig {
  /** Where it came from, for messages: the file or files, "in-cluster", or "inline". */
  source: string;
  context: string;
  /** The context's namespace, or the pod's in-cluster. */
  namespace?: string;
  cluster: KubeconfigCluster;
  user: KubeconfigUser;
}

export interface LoadKubeconfigOptions {
  /** A kubeconfig's text; used before `path`. Relative paths in it are resolved against the working folder. */
  yaml?: string;
  /** A kubeconfig file (a --kubeconfig flag): only it is read, and it must exist. */
  path?: string;
  /** The context to use instead of the kubeconfig's current-context. */
  context?: string;
  /** The environment: $KUBECONFIG, KUBERNETES_SERVICE_HOST and _PORT. process.env by default. */
  env?: Record<string, string | undefined>;
  /** The home folder, whose .kube/config is the default kubeconfig. os.homedir() by default. */
  home?: string;
  /** Where a pod's service-account token, ca.crt and namespace are mounted. */
  serviceAccountDir?: string;
}

export const defaultServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * The kubeconfig to use, found as client-go finds it: `yaml`, else `path`,
 * else the files in $KUBECONFIG (missing ones skipped), else ~/.kube/config,
 * else the pod's service account when KUBERNETES_SERVICE_HOST and _PORT are
 * set and its token is mounted.
 */
export function loadKubeconfig(opts: LoadKubeconfigOptions = {}): Kubeconfig {
  if (opts.yaml !== undefined) return selectContext(parseKubeconfig(opts.yaml, "inline", process.cwd()), opts.context);
  if (opts.path) {
    const path = resolve(opts.path);
    return selectContext(readKubeconfigFile(path, true) as RawKubeconfig, opts.context);
  }
  const env = opts.env ?? process.env;
  const saDir = opts.serviceAccountDir ?? defaultServiceAccountDir;
  if (env.KUBECONFIG) {
    const paths = [...new Set(env.KUBECONFIG.split(delimiter).filter(Boolean))].map((p) => resolve(p));
    const found = paths.map((p) => readKubeconfigFile(p, false)).filter((f): f is RawKubeconfig => f !== undefined);
    if (found.length) return selectContext(mergeKubeconfigs(found), opts.context);
    if (inClusterPossible(env, saDir)) return inClusterKubeconfig(env, saDir);
    throw new KubeconfigError(env.KUBECONFIG, undefined, "$KUBECONFIG names no file that exists");
  }
  const home = resolve(opts.home ?? homedir(), ".kube", "config");
  const file = readKubeconfigFile(home, false);
  if (file) return selectContext(file, opts.context);
  if (inClusterPossible(env, saDir)) return inClusterKubeconfig(env, saDir);
  throw new KubeconfigError(
    home,
    undefined,
    "no kubeconfig: the file does not exist, $KUBECONFIG is not set, and this is not a pod (KUBERNETES_SERVICE_HOST)",
  );
}

// --- files --------------------------------------------------------------

interface RawEntry extends Origin {
  name: string;
  body: Record<string, unknown>;
  /** The folder relative paths in it are resolved against. */
  baseDir: string;
}

/** A kubeconfig file as parsed, or several merged: entries by name, not yet checked. */
export interface RawKubeconfig {
  source: string;
  clusters: Map<string, RawEntry>;
  users: Map<string, RawEntry>;
  contexts: Map<string, RawEntry>;
  currentContext?: string;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

function readKubeconfigFile(path: string, mustExist: boolean): RawKubeconfig | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (!mustExist && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new KubeconfigError(path, undefined, `cannot be read: ${(err as Error).message}`);
  }
  return parseKubeconfig(text, path, dirname(path));
}

/** One kubeconfig's text: its named clusters, users and contexts (checked when used) and current-context. */
export function parseKubeconfig(text: string, source: string, baseDir: string): RawKubeconfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new KubeconfigError(source, undefined, `is not YAML: ${(err as Error).message}`);
  }
  const raw: RawKubeconfig = { source, clusters: new Map(), users: new Map(), contexts: new Map() };
  if (doc === null || doc === undefined) return raw; // an empty file is an empty kubeconfig
  if (!isObject(doc)) throw new KubeconfigError(source, undefined, "is not a mapping");
  const lists = [
    ["clusters", "cluster", raw.clusters],
    ["users", "user", raw.users],
    ["contexts", "context", raw.contexts],
  ] as const;
  for (const [list, key, into] of lists) {
    const items = doc[list];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) throw new KubeconfigError(source, list, "is not a list");
    items.forEach((item: unknown, i) => {
      const field = `${list}[${i}]`;
      if (!isObject(item)) throw new KubeconfigError(source, field, "is not a mapping");
      if (typeof item.name !== "string" || !item.name) throw new KubeconfigError(source, `${field}.name`, "is missing");
      if (into.has(item.name)) throw new KubeconfigError(source, `${field}.name`, `"${item.name}" is defined twice`);
      const body = item[key] ?? {};
      if (!isObject(body)) throw new KubeconfigError(source, `${field}.${key}`, "is not a mapping");
      into.set(item.name, { name: item.name, body, source, field: `${field}.${key}`, baseDir });
    });
  }
  const current = doc["current-context"];
  if (current !== undefined && current !== null && typeof current !== "string") {
    throw new KubeconfigError(source, "current-context", "is not a string");
  }
  if (current) raw.currentContext = current;
  return raw;
}

/** $KUBECONFIG's files merged as client-go merges them: the first file to name a cluster, user, context or current-context wins. */
export function mergeKubeconfigs(files: RawKubeconfig[]): RawKubeconfig {
  const merged: RawKubeconfig = {
    source: files.map((f) => f.source).join(delimiter),
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const f of files) {
    for (const kind of ["clusters", "users", "contexts"] as const) {
      for (const [name, entry] of f[kind]) if (!merged[kind].has(name)) merged[kind].set(name, entry);
    }
    merged.currentContext ??= f.currentContext;
  }
  return merged;
}

/** The context `name` (else current-context) with its cluster and user, checked. */
export function selectContext(raw: RawKubeconfig, name?: string): Kubeconfig {
  const contextName = name || raw.currentContext;
  if (!contextName) throw new KubeconfigError(raw.source, "current-context", "is not set");
  const context = raw.contexts.get(contextName);
  if (!context) {
    throw new KubeconfigError(
      raw.source,
      name ? undefined : "current-context",
      `context "${contextName}" is not defined`,
    );
  }
  const f = fields(context);
  const clusterName = f.string("cluster");
  if (!clusterName) throw new KubeconfigError(context.source, `${context.field}.cluster`, "is missing");
  const cluster = raw.clusters.get(clusterName);
  if (!cluster) {
    throw new KubeconfigError(context.source, `${context.field}.cluster`, `cluster "${clusterName}" is not defined`);
  }
  const userName = f.string("user");
  const user = userName ? raw.users.get(userName) : undefined;
  if (userName && !user) {
    throw new KubeconfigError(context.source, `${context.field}.user`, `user "${userName}" is not defined`);
  }
  const namespace = f.string("namespace");
  return {
    source: raw.source,
    context: contextName,
    ...(namespace ? { namespace } : {}),
    cluster: parseCluster(cluster),
    user: user ? parseUser(user) : {},
  };
}

/** Typed reads of one entry's fields, failing with the entry's file and the field's path. */
function fields(entry: { body: Record<string, unknown>; source: string; field: string; baseDir?: string }) {
  const at = (key: string) => `${entry.field}.${key}`;
  const fail = (key: string, detail: string): never => {
    throw new KubeconfigError(entry.source, at(key), detail);
  };
  const string = (key: string): string | undefined => {
    const v = entry.body[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") return fail(key, "is not a string");
    return v;
  };
  return {
    at,
    fail,
    string,
    bool: (key: string): boolean => {
      const v = entry.body[key];
      if (v === undefined || v === null) return false;
      if (typeof v !== "boolean") return fail(key, "is not true or false");
      return v;
    },
    /** A path, absolute: relative ones are relative to the kubeconfig's folder. */
    path: (key: string): string | undefined => {
      const v = string(key);
      return v === undefined ? undefined : resolve(entry.baseDir ?? process.cwd(), v);
    },
    base64: (key: string): Buffer | undefined => {
      const v = string(key);
      if (v === undefined) return undefined;
      if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v)) return fail(key, "is not base64");
      return Buffer.from(v, "base64");
    },
  };
}

/** `<name>-data` or `<name>`, not both. */
function material(f: ReturnType<typeof fields>, source: string, key: string): Material | undefined {
  const data = f.base64(`${key}-data`);
  const file = f.path(key);
  if (data && file) f.fail(`${key}-data`, `and ${key} are both set; give one`);
  if (data) return { data, source, field: f.at(`${key}-data`) };
  if (file) return { file, source, field: f.at(key) };
  return undefined;
}

function parseCluster(entry: RawEntry): KubeconfigCluster {
  const f = fields(entry);
  let server = f.string("server");
  if (!server) return f.fail("server", "is missing");
  if (!server.includes("://")) server = `https://${server}`; // host:port, as client-go takes it
  let protocol: string;
  try {
    protocol = new URL(server).protocol;
  } catch {
    return f.fail("server", `"${server}" is not a URL`);
  }
  if (protocol !== "https:" && protocol !== "http:") f.fail("server", `"${server}" is not an http(s) URL`);
  const cluster: KubeconfigCluster = {
    server: server.replace(/\/+$/, ""),
    insecureSkipTlsVerify: f.bool("insecure-skip-tls-verify"),
  };
  const ca = material(f, entry.source, "certificate-authority");
  if (ca) {
    if (cluster.insecureSkipTlsVerify) {
      f.fail("insecure-skip-tls-verify", "is true, and a certificate authority is given; give one or the other");
    }
    cluster.certificateAuthority = ca;
  }
  const serverName = f.string("tls-server-name");
  if (serverName) cluster.tlsServerName = serverName;
  const extensions = entry.body.extensions;
  if (extensions !== undefined && extensions !== null) {
    if (!Array.isArray(extensions)) return f.fail("extensions", "is not a list");
    const exec = extensions.find((e: unknown) => isObject(e) && e.name === "client.authentication.k8s.io/exec");
    if (exec) cluster.execExtension = (exec as Record<string, unknown>).extension;
  }
  return cluster;
}

function parseUser(entry: RawEntry): KubeconfigUser {
  const f = fields(entry);
  const user: KubeconfigUser = {};
  const cert = material(f, entry.source, "client-certificate");
  const key = material(f, entry.source, "client-key");
  if (cert && !key) f.fail("client-key", "is missing: client-certificate needs its key");
  if (key && !cert) f.fail("client-certificate", "is missing: client-key needs its certificate");
  if (cert && key) {
    user.clientCertificate = cert;
    user.clientKey = key;
  }
  const token = f.string("token");
  if (token) user.token = token;
  const tokenFile = f.path("tokenFile");
  if (tokenFile) user.tokenFile = { file: tokenFile, source: entry.source, field: f.at("tokenFile") };
  const username = f.string("username");
  const password = f.string("password");
  if ((username || password) && (token || tokenFile)) {
    f.fail("username", "and a token are both set: only one authentication method is allowed");
  }
  if (username) user.username = username;
  if (password) user.password = password;
  if (entry.body["auth-provider"] !== undefined && entry.body["auth-provider"] !== null) {
    f.fail("auth-provider", "is not supported: use an exec credential plugin (users[].user.exec)");
  }
  for (const key of ["as-groups", "as-user-extra"]) {
    if (entry.body[key] !== undefined && entry.body[key] !== null) f.fail(key, "is not supported");
  }
  const as = f.string("as");
  const asUid = f.string("as-uid");
  if (asUid && !as) f.fail("as-uid", "needs `as`");
  if (as) user.impersonate = { user: as, ...(asUid ? { uid: asUid } : {}) };
  const exec = entry.body.exec;
  if (exec !== undefined && exec !== null) user.exec = parseExec(entry, exec);
  return user;
}

function parseExec(user: RawEntry, exec: unknown): ExecConfig {
  const field = `${user.field}.exec`;
  if (!isObject(exec)) throw new KubeconfigError(user.source, field, "is not a mapping");
  const f = fields({ body: exec, source: user.source, field, baseDir: user.baseDir });
  let command = f.string("command");
  if (!command) return f.fail("command", "is missing");
  // As client-go: a relative path with a slash is relative to the kubeconfig; a bare name is looked up in PATH.
  if (command.includes("/") && !isAbsolute(command)) command = resolve(user.baseDir, command);
  const apiVersion = f.string("apiVersion");
  if (!apiVersion) return f.fail("apiVersion", `is missing (${execApiVersions.join(" or ")})`);
  if (!(execApiVersions as readonly string[]).includes(apiVersion)) {
    return f.fail("apiVersion", `"${apiVersion}" is not supported (${execApiVersions.join(" or ")})`);
  }
  const args = exec.args ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== "string"))
    return f.fail("args", "is not a list of strings");
  const env = exec.env ?? [];
  if (!Array.isArray(env)) return f.fail("env", "is not a list");
  const vars = env.map((e: unknown, i) => {
    if (!isObject(e) || typeof e.name !== "string" || !e.name || typeof e.value !== "string") {
      return f.fail(`env[${i}]`, "needs a name and a string value");
    }
    return { name: e.name, value: e.value };
  });
  const mode = f.string("interactiveMode") ?? "IfAvailable";
  if (!(interactiveModes as readonly string[]).includes(mode)) {
    return f.fail("interactiveMode", `"${mode}" is not one of ${interactiveModes.join(", ")}`);
  }
  const installHint = f.string("installHint");
  return {
    source: user.source,
    field,
    apiVersion: apiVersion as ExecApiVersion,
    command,
    args: args as string[],
    env: vars,
    provideClusterInfo: f.bool("provideClusterInfo"),
    interactiveMode: mode as ExecConfig["interactiveMode"],
    ...(installHint ? { installHint } : {}),
  };
}

// --- in-cluster ---------------------------------------------------------

function inClusterPossible(env: Record<string, string | undefined>, dir: string): boolean {
  if (!env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT) return false;
  try {
    return statSync(resolve(dir, "token")).isFile();
  } catch {
    return false;
  }
}

/** The pod's own identity: the apiserver from the service environment, the mounted token, CA and namespace. */
export function inClusterKubeconfig(
  env: Record<string, string | undefined> = process.env,
  dir = defaultServiceAccountDir,
): Kubeconfig {
  const source = "in-cluster";
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host) throw new KubeconfigError(source, "KUBERNETES_SERVICE_HOST", "is not set");
  if (!port) throw new KubeconfigError(source, "KUBERNETES_SERVICE_PORT", "is not set");
  const namespaceFile = resolve(dir, "namespace");
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, "utf8").trim() : undefined;
  return {
    source,
    context: "in-cluster",
    ...(namespace ? { namespace } : {}),
    cluster: {
      server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
      certificateAuthority: { file: resolve(dir, "ca.crt"), source, field: "ca.crt" },
      insecureSkipTlsVerify: false,
    },
    user: { tokenFile: { file: resolve(dir, "token"), source, field: "token" } },
  };
}

// --- credentials --------------------------------------------------------

/** How often a token file is read again: bound service-account tokens rotate (client-go: a minute). */
export const tokenFileRefreshMs = 60_000;

/** What an exec plugin printed, checked. */
export interface ExecCredentialStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  /** Epoch ms; none: kept for the life of the process. */
  expiresAt?: number;
}

export interface KubeCredentialsOptions {
  /** The clock, epoch ms. */
  now?: () => number;
  /** The environment exec plugins run in (plus their own env); process.env by default. */
  env?: Record<string, string | undefined>;
  /** Whether stdin is a terminal an exec plugin may prompt on. */
  terminal?: boolean;
}

interface CachedExec {
  status: ExecCredentialStatus;
  obtainedAt: number;
  /** Made once per credential, so Bun's pool keeps its connections. */
  tls?: BunTlsOptions;
}

/**
 * The credentials of one kubeconfig: TLS material (read once, at creation, so
 * a bad file fails at start) and authentication headers, asked for on each
 * request because tokens change: a token file is re-read each minute, an exec
 * plugin run again once its credential expires.
 */
export class KubeCredentials {
  private readonly now: () => number;
  private readonly staticTls: BunTlsOptions | undefined;
  private fileToken: { token: string; readAt: number } | undefined;
  private exec: CachedExec | undefined;
  private execRun: Promise<CachedExec> | undefined;

  constructor(
    readonly config: Kubeconfig,
    private readonly opts: KubeCredentialsOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    const { cluster, user } = config;
    if (cluster.server.startsWith("https:")) {
      const tls: BunTlsOptions = {};
      if (cluster.certificateAuthority) tls.ca = readMaterial(cluster.certificateAuthority);
      if (user.clientCertificate && user.clientKey) {
        tls.cert = readMaterial(user.clientCertificate);
        tls.key = readMaterial(user.clientKey);
      }
      if (cluster.insecureSkipTlsVerify) tls.rejectUnauthorized = false;
      if (cluster.tlsServerName) tls.serverName = cluster.tlsServerName;
      this.staticTls = tls;
    }
    if (user.tokenFile) this.readTokenFile(user.tokenFile, true);
  }

  /**
   * The TLS options for the next request; the same object until its material
   * changes (an exec plugin's new certificate), because Bun pools keep-alive
   * connections per TLS configuration.
   */
  async tls(): Promise<BunTlsOptions | undefined> {
    if (!this.staticTls) return undefined;
    if (!this.config.user.exec || this.staticTls.cert) return this.staticTls;
    const exec = await this.execCredential();
    const { clientCertificateData: cert, clientKeyData: key } = exec.status;
    if (!cert || !key) return this.staticTls;
    exec.tls ??= { ...this.staticTls, cert, key };
    return exec.tls;
  }

  /** The Authorization (and Impersonate-*) headers for the next request. */
  async authHeaders(): Promise<Record<string, string>> {
    const { user } = this.config;
    const headers: Record<string, string> = {};
    // A token in the kubeconfig wins over the exec plugin's, as in client-go; a token file over the token.
    const token = user.tokenFile
      ? this.readTokenFile(user.tokenFile, false)
      : (user.token ?? (user.exec ? (await this.execCredential()).status.token : undefined));
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (user.username || user.password) {
      headers.Authorization = `Basic ${Buffer.from(`${user.username ?? ""}:${user.password ?? ""}`).toString("base64")}`;
    }
    if (user.impersonate) {
      headers["Impersonate-User"] = user.impersonate.user;
      if (user.impersonate.uid) headers["Impersonate-Uid"] = user.impersonate.uid;
    }
    return headers;
  }

  /**
   * The apiserver refused a request sent at `sentAt` (epoch ms) with 401: an
   * exec credential obtained before then is dropped, so the next request runs
   * the plugin again (client-go does the same: a credential can be revoked
   * before it expires).
   */
  unauthorized(sentAt: number): void {
    if (this.exec && this.exec.obtainedAt <= sentAt) this.exec = undefined;
  }

  private readTokenFile(ref: Origin & { file: string }, first: boolean): string {
    const now = this.now();
    if (this.fileToken && now - this.fileToken.readAt < tokenFileRefreshMs) return this.fileToken.token;
    try {
      const token = readFileSync(ref.file, "utf8").trim();
      if (!token) throw new Error("it is empty");
      this.fileToken = { token, readAt: now };
    } catch (err) {
      // A token being rotated may be missing or empty for a moment: keep the last one.
      if (first || !this.fileToken) {
        throw new KubeconfigError(
          ref.source,
          ref.field,
          `cannot read the token file ${ref.file}: ${(err as Error).message}`,
        );
      }
      this.fileToken.readAt = now;
    }
    return this.fileToken.token;
  }

  private async execCredential(): Promise<CachedExec> {
    const cached = this.exec;
    if (cached && (cached.status.expiresAt === undefined || this.now() < cached.status.expiresAt)) return cached;
    this.execRun ??= (async () => {
      try {
        const exec = this.config.user.exec as ExecConfig;
        const obtainedAt = this.now();
        const status = await runExecPlugin(exec, this.config.cluster, this.opts);
        this.exec = { status, obtainedAt };
        return this.exec;
      } finally {
        this.execRun = undefined;
      }
    })();
    return this.execRun;
  }
}

function readMaterial(m: Material): Buffer {
  if (m.data) return m.data;
  try {
    return readFileSync(m.file as string);
  } catch (err) {
    throw new KubeconfigError(m.source, m.field, `cannot read ${m.file}: ${(err as Error).message}`);
  }
}

/**
 * Runs an exec credential plugin as client-go does: its args, the process's
 * environment plus its own env, KUBERNETES_EXEC_INFO holding an
 * ExecCredential with spec.interactive (and spec.cluster when it asks for
 * it); stdin and stderr are the user's only when it may be interactive.
 */
export async function runExecPlugin(
  exec: ExecConfig,
  cluster: KubeconfigCluster,
  opts: KubeCredentialsOptions = {},
): Promise<ExecCredentialStatus> {
  const fail = (detail: string): never => {
    throw new KubeconfigError(exec.source, exec.field, `${exec.command}: ${detail}`);
  };
  const terminal = opts.terminal ?? Boolean(process.stdin.isTTY);
  if (exec.interactiveMode === "Always" && !terminal)
    fail("needs a terminal (interactiveMode: Always), and there is none");
  const interactive = exec.interactiveMode !== "Never" && terminal;
  const spec: Record<string, unknown> = { interactive };
  if (exec.provideClusterInfo) {
    const ca = cluster.certificateAuthority && readMaterial(cluster.certificateAuthority);
    spec.cluster = {
      server: cluster.server,
      ...(cluster.tlsServerName ? { "tls-server-name": cluster.tlsServerName } : {}),
      ...(cluster.insecureSkipTlsVerify ? { "insecure-skip-tls-verify": true } : {}),
      ...(ca ? { "certificate-authority-data": ca.toString("base64") } : {}),
      ...(cluster.execExtension !== undefined ? { config: cluster.execExtension } : {}),
    };
  }
  const env: Record<string, string | undefined> = { ...(opts.env ?? process.env) };
  for (const { name, value } of exec.env) env[name] = value;
  env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion: exec.apiVersion, kind: "ExecCredential", spec });
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn([exec.command, ...exec.args], {
      env,
      stdin: interactive ? "inherit" : "ignore",
      stdout: "pipe",
      stderr: interactive ? "inherit" : "pipe",
    });
  } catch (err) {
    return fail(`cannot be run: ${(err as Error).message}${exec.installHint ? `\n${exec.installHint}` : ""}`);
  }
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout as ReadableStream).text(),
    proc.stderr instanceof ReadableStream ? new Response(proc.stderr).text() : Promise.resolve(""),
    proc.exited,
  ]);
  if (code !== 0) return fail(`exited with code ${code}${stderr.trim() ? `: ${stderr.trim()}` : ""}`);
  let out: unknown;
  try {
    out = JSON.parse(stdout);
  } catch {
    return fail("printed no JSON ExecCredential");
  }
  if (!isObject(out) || out.kind !== "ExecCredential") return fail("printed no ExecCredential");
  if (out.apiVersion !== exec.apiVersion) {
    return fail(`printed apiVersion ${String(out.apiVersion)}, but the kubeconfig asks for ${exec.apiVersion}`);
  }
  const status = out.status;
  if (!isObject(status)) return fail("printed an ExecCredential without status");
  const text = (key: string): string | undefined => {
    const v = status[key];
    if (v === undefined || v === null || v === "") return undefined;
    return typeof v === "string" ? v : fail(`printed a status.${key} that is not a string`);
  };
  const token = text("token");
  const clientCertificateData = text("clientCertificateData");
  const clientKeyData = text("clientKeyData");
  if (Boolean(clientCertificateData) !== Boolean(clientKeyData)) {
    fail("printed only one of status.clientCertificateData and status.clientKeyData");
  }
  if (!token && !clientCertificateData) fail("printed neither status.token nor status.clientCertificateData");
  const expiry = text("expirationTimestamp");
  const expiresAt = expiry === undefined ? undefined : Date.parse(expiry);
  if (expiresAt !== undefined && Number.isNaN(expiresAt))
    fail(`printed an expirationTimestamp that is not a time: ${expiry}`);
  return {
    ...(token ? { token } : {}),
    ...(clientCertificateData ? { clientCertificateData, clientKeyData } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}
