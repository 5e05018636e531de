/**
 * A real control plane on loopback: etcd and kube-apiserver (and, when asked,
 * kube-controller-manager) started from pinned binaries, with a fresh CA,
 * RBAC on (and, when asked, an authorization webhook after it), and an admin
 * kubeconfig. Used by the test harness and by `up` when no cluster is
 * reachable. It stops everything it started, by pid.
 */
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type Logger, silentLogger } from "../log.ts";
import { type ControlPlaneBinaries, controlPlaneBinaries } from "./binaries.ts";
import { type KeyPair, LocalPki } from "./pki.ts";
import { isAlive, stopProcess } from "./processes.ts";

export interface LocalControlPlaneOptions {
  /** Also run kube-controller-manager (Deployments → ReplicaSets → Pods, SA tokens, GC). */
  controllerManager?: boolean;
  /** Keep the data folder after stop, for debugging. */
  keepData?: boolean;
  /**
   * The address of a local node (see node.ts): the apiserver binds and
   * advertises it (pods reach it through the `kubernetes` Service), puts it in
   * its certificate, authorizes kubelets with the Node authorizer and
   * NodeRestriction, and reaches kubelets with a client certificate of its own.
   */
  nodeAddress?: string;
  /**
   * Authorize with a structured authorization configuration
   * (--authorization-config instead of --authorization-mode): Node (with a
   * node) and RBAC as without it, then this webhook. See
   * deploy/authorization/ and ADR 0011.
   */
  authorizationWebhook?: AuthorizationWebhook;
  logger?: Logger;
}

/** A Webhook authorizer after Node and RBAC, and where it is reached. */
export interface AuthorizationWebhook {
  /**
   * Its entry in AuthorizationConfiguration.authorizers (type Webhook, name,
   * webhook: TTLs, timeout, failurePolicy, versions, matchConditions), as in
   * deploy/authorization/authorization-config.yaml; its connectionInfo is set here.
   */
  authorizer: { type: "Webhook"; name: string; webhook: Record<string, unknown> };
  /** The URL the apiserver posts SubjectAccessReviews to. */
  url: string;
  /**
   * PEM text of the CA that signed the webhook's serving certificate; by
   * default this control plane's own (sign it with `pki.servingCert`: the
   * webhook may start after the apiserver, which calls it only on requests).
   */
  caCert?: string;
}

/** Picks a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

export interface KubeconfigIdentity {
  /** Client certificate and key, or a bearer token. */
  cert?: KeyPair;
  token?: string;
  namespace?: string;
}

const dataDirPrefix = "mcp-conductor-cp-";

/**
 * Kills the processes of control planes whose owner died without stopping
 * them (a crashed or killed test run: bun test fires no exit handlers), and
 * removes their data. A pid is killed only if its command line still names
 * that control plane's data folder, so a reused pid is left alone.
 */
export function reapOrphanedControlPlanes(): number {
  let reaped = 0;
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(dataDirPrefix)) continue;
    const dir = join(tmpdir(), entry);
    let owner = 0;
    try {
      owner = Number(readFileSync(join(dir, "owner.pid"), "utf8"));
    } catch {
      continue; // being created, or not ours
    }
    if (!owner || isAlive(owner)) continue;
    let children: number[] = [];
    try {
      children = readFileSync(join(dir, "children.pids"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      // no children recorded
    }
    for (const pid of children) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) {
          process.kill(pid, "SIGKILL");
          reaped++;
        }
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return reaped;
}

export class LocalControlPlane {
  readonly dataDir: string;
  readonly pki: LocalPki;
  readonly binaries: ControlPlaneBinaries;
  readonly admin: KeyPair;
  apiserverPort = 0;
  etcdPort = 0;
  private etcdPeerPort = 0;
  private etcd: Subprocess | undefined;
  private apiserver: Subprocess | undefined;
  private controllerManager: Subprocess | undefined;
  private readonly extraApiServers = new Set<Subprocess>();
  private saKey: { keyPath: string; pubPath: string };
  private serving: KeyPair;
  /** The apiserver's client certificate towards kubelets (with a node only). */
  readonly kubeletClient: KeyPair | undefined;
  private readonly log: Logger;

  private constructor(private readonly opts: LocalControlPlaneOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: "control-plane" });
    this.binaries = controlPlaneBinaries();
    reapOrphanedControlPlanes();
    this.dataDir = mkdtempSync(join(tmpdir(), dataDirPrefix));
    writeFileSync(join(this.dataDir, "owner.pid"), String(process.pid));
    this.pki = LocalPki.create(join(this.dataDir, "pki"));
    this.serving = this.pki.servingCert(
      "apiserver",
      ["127.0.0.1", "10.0.0.1", ...(opts.nodeAddress ? [opts.nodeAddress] : [])],
      [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
      ],
    );
    this.admin = this.pki.clientCert("admin", ["system:masters"]);
    if (opts.nodeAddress) {
      this.kubeletClient = this.pki.clientCert("kube-apiserver-kubelet-client", ["system:masters"]);
    }
    this.saKey = this.pki.serviceAccountKey();
  }

  /** Starts etcd and kube-apiserver and waits until the apiserver is ready. */
  static async start(opts: LocalControlPlaneOptions = {}): Promise<LocalControlPlane> {
    const cp = new LocalControlPlane(opts);
    try {
      cp.etcdPort = await freePort();
      cp.etcdPeerPort = await freePort();
      cp.apiserverPort = await freePort();
      await cp.startEtcd();
      await cp.startApiServer();
      if (opts.controllerManager) await cp.startControllerManager();
    } catch (err) {
      await cp.stop();
      throw err;
    }
    return cp;
  }

  /** The address the apiserver listens on: loopback, or the node's address when there is a node. */
  get host(): string {
    return this.opts.nodeAddress ?? "127.0.0.1";
  }

  get server(): string {
    return `https://${this.host}:${this.apiserverPort}`;
  }

  private spawn(name: string, cmd: string[]): Subprocess {
    const logFd = openSync(join(this.dataDir, `${name}.log`), "a");
    const proc = Bun.spawn(cmd, { stdout: logFd, stderr: logFd, stdin: "ignore" });
    appendFileSync(join(this.dataDir, "children.pids"), `${proc.pid}\n`);
    this.log.info({ pid: proc.pid, process: name }, "Started process");
    return proc;
  }

  async startEtcd(): Promise<void> {
    const dir = join(this.dataDir, "etcd");
    mkdirSync(dir, { recursive: true });
    const client = `http://127.0.0.1:${this.etcdPort}`;
    const peer = `http://127.0.0.1:${this.etcdPeerPort}`;
    this.etcd = this.spawn("etcd", [
      this.binaries.etcd,
      "--name=default",
      `--data-dir=${dir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=default=${peer}`,
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ]);
    await this.waitFor("etcd", this.etcd, async () => {
      const res = await fetch(`${client}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === "true";
    });
  }

  /** Starts (or, after stopApiServer, restarts) the apiserver on its port. */
  async startApiServer(): Promise<void> {
    this.apiserver = await this.launchApiServer(this.apiserverPort, "kube-apiserver");
  }

  /**
   * A second apiserver on the same etcd, as in an HA control plane: a test
   * can keep writing through it while the first one is down.
   */
  async startAdditionalApiServer(): Promise<{ server: string; stop: () => Promise<void> }> {
    const port = await freePort();
    const proc = await this.launchApiServer(port, `kube-apiserver-${port}`);
    this.extraApiServers.add(proc);
    return {
      server: `https://127.0.0.1:${port}`,
      stop: async () => {
        await stopProcess(proc, "SIGTERM");
        this.extraApiServers.delete(proc);
      },
    };
  }

  private async launchApiServer(port: number, name: string): Promise<Subprocess> {
    const certDir = join(this.dataDir, `${name}-certs`);
    mkdirSync(certDir, { recursive: true });
    const node = this.opts.nodeAddress;
    // Without a node nothing but loopback clients exist, and the `kubernetes`
    // Service needs no endpoints. With one, pods reach the apiserver through
    // that Service, so it must advertise the node's address and keep the
    // endpoints current (the lease reconciler, as a real cluster does).
    const networkFlags = node
      ? [
          `--bind-address=${node}`,
          `--advertise-address=${node}`,
          this.authorizationFlag(["Node", "RBAC"]),
          "--enable-admission-plugins=NodeRestriction",
          `--kubelet-client-certificate=${this.kubeletClient?.certPath}`,
          `--kubelet-client-key=${this.kubeletClient?.keyPath}`,
          "--kubelet-preferred-address-types=InternalIP",
        ]
      : [
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          "--endpoint-reconciler-type=none",
          this.authorizationFlag(["RBAC"]),
        ];
    const proc = this.spawn(name, [
      this.binaries.kubeApiserver,
      `--etcd-servers=http://127.0.0.1:${this.etcdPort}`,
      `--secure-port=${port}`,
      ...networkFlags,
      `--cert-dir=${certDir}`,
      `--tls-cert-file=${this.serving.certPath}`,
      `--tls-private-key-file=${this.serving.keyPath}`,
      `--client-ca-file=${this.pki.ca.certPath}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${this.saKey.pubPath}`,
      `--service-account-signing-key-file=${this.saKey.keyPath}`,
      // room for thousands of Services (the MCPServer benchmark makes one per server)
      "--service-cluster-ip-range=10.0.0.0/16",
      "--allow-privileged=true",
      // Without kube-controller-manager nobody creates the default
      // ServiceAccount, and the ServiceAccount admission plugin would then
      // refuse every Pod.
      ...(this.opts.controllerManager ? [] : ["--disable-admission-plugins=ServiceAccount"]),
      process.env.APISERVER_PROFILING ? "--profiling=true" : "--profiling=false",
      "--shutdown-delay-duration=0s",
      "--v=1",
    ]);
    await this.waitFor(name, proc, async () => {
      const res = await fetch(`https://${this.host}:${port}/readyz`, {
        tls: { ca: this.pki.ca.cert, cert: this.admin.cert, key: this.admin.key },
      } as RequestInit);
      return res.ok;
    });
    return proc;
  }

  /**
   * --authorization-mode for the given modes, or, with a webhook, an
   * --authorization-config file listing the same modes and then the webhook
   * (the two flags exclude each other). Its kubeconfig and the config are
   * written to the data folder.
   */
  private authorizationFlag(modes: string[]): string {
    const webhook = this.opts.authorizationWebhook;
    if (!webhook) return `--authorization-mode=${modes.join(",")}`;
    const dir = join(this.dataDir, "authorization");
    mkdirSync(dir, { recursive: true });
    const kubeconfig = join(dir, `${webhook.authorizer.name}.kubeconfig`);
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters:
- name: ${webhook.authorizer.name}
  cluster:
    server: ${webhook.url}
    certificate-authority-data: ${b64(webhook.caCert ?? this.pki.ca.cert)}
users:
- name: kube-apiserver
  user: {}
contexts:
- name: webhook
  context:
    cluster: ${webhook.authorizer.name}
    user: kube-apiserver
current-context: webhook
`,
    );
    const config = {
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "AuthorizationConfiguration",
      authorizers: [
        ...modes.map((type) => ({ type, name: type.toLowerCase() })),
        {
          ...webhook.authorizer,
          webhook: {
            ...webhook.authorizer.webhook,
            connectionInfo: { type: "KubeConfigFile", kubeConfigFile: kubeconfig },
          },
        },
      ],
    };
    const path = join(dir, "authorization-config.json");
    writeFileSync(path, JSON.stringify(config, null, 2)); // JSON is YAML
    return `--authorization-config=${path}`;
  }

  async startControllerManager(): Promise<void> {
    const kubeconfig = join(this.dataDir, "kube-controller-manager.kubeconfig");
    // One identity for every controller (no per-controller service accounts), so it needs
    // what they all need together: system:masters, as a test control plane may.
    writeFileSync(
      kubeconfig,
      this.kubeconfig({ cert: this.pki.clientCert("system:kube-controller-manager", ["system:masters"]) }),
    );
    this.controllerManager = this.spawn("kube-controller-manager", [
      this.binaries.kubeControllerManager,
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      `--service-account-private-key-file=${this.saKey.keyPath}`,
      `--root-ca-file=${this.pki.ca.certPath}`,
      `--cluster-signing-cert-file=${this.pki.ca.certPath}`,
      `--cluster-signing-key-file=${this.pki.ca.keyPath}`,
      "--use-service-account-credentials=false",
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${await freePort()}`,
      `--cert-dir=${join(this.dataDir, "kcm-certs")}`,
      // Without a node, the node lifecycle controller would only mark absent nodes;
      // with one it taints and untaints it as a real cluster's does.
      `--controllers=*,-nodeipam,${this.opts.nodeAddress ? "" : "-nodelifecycle,"}-persistentvolume-binder,-attachdetach,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller`,
      "--v=1",
    ]);
  }

  private async waitFor(name: string, proc: Subprocess, ready: () => Promise<boolean>, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) {
        throw new Error(`${name} exited with code ${proc.exitCode}; see ${join(this.dataDir, `${name}.log`)}`);
      }
      try {
        if (await ready()) {
          this.log.info({ process: name }, "Process ready");
          return;
        }
      } catch {
        // not listening yet
      }
      await Bun.sleep(100);
    }
    throw new Error(`${name} was not ready after ${timeoutMs} ms; see ${join(this.dataDir, `${name}.log`)}`);
  }

  /** Stops the apiserver (kill -9 by default), leaving etcd up: the data stays. */
  async stopApiServer(signal: "SIGTERM" | "SIGKILL" = "SIGKILL"): Promise<void> {
    await stopProcess(this.apiserver, signal);
    this.apiserver = undefined;
  }

  async stopEtcd(signal: "SIGTERM" | "SIGKILL" = "SIGKILL"): Promise<void> {
    await stopProcess(this.etcd, signal);
    this.etcd = undefined;
  }

  /** The pids this control plane is running, by process name. */
  get pids(): Record<string, number | undefined> {
    return {
      etcd: this.etcd?.pid,
      "kube-apiserver": this.apiserver?.pid,
      "kube-controller-manager": this.controllerManager?.pid,
    };
  }

  async stop(): Promise<void> {
    await stopProcess(this.controllerManager, "SIGTERM");
    for (const p of this.extraApiServers) await stopProcess(p, "SIGTERM");
    this.extraApiServers.clear();
    await stopProcess(this.apiserver, "SIGTERM");
    await stopProcess(this.etcd, "SIGTERM");
    this.controllerManager = this.apiserver = this.etcd = undefined;
    if (!this.opts.keepData) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** A kubeconfig for the admin, or for another identity (certificate or token). */
  kubeconfig(identity: KubeconfigIdentity = { cert: this.admin }): string {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const user = identity.token
      ? `    token: ${identity.token}`
      : `    client-certificate-data: ${b64((identity.cert ?? this.admin).cert)}\n    client-key-data: ${b64((identity.cert ?? this.admin).key)}`;
    return `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: ${this.server}
    certificate-authority-data: ${b64(this.pki.ca.cert)}
users:
- name: user
  user:
${user}
contexts:
- name: local
  context:
    cluster: local
    user: user${identity.namespace ? `\n    namespace: ${identity.namespace}` : ""}
current-context: local
`;
  }

  /** Writes the admin kubeconfig (or another) to a file in the data folder and returns its path. */
  writeKubeconfig(name = "admin", identity?: KubeconfigIdentity): string {
    const path = join(this.dataDir, `${name}.kubeconfig`);
    writeFileSync(path, this.kubeconfig(identity), { mode: 0o600 });
    return path;
  }
}
