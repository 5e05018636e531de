/**
 * A real node beside the local control plane: its own containerd 2.x (CRI),
 * kubelet, kube-proxy and kube-scheduler from the pinned Kubernetes module,
 * CNI plugins (bridge + firewall + portmap), and CoreDNS as the cluster DNS.
 * Pods run as real containers; all traffic stays on this machine (the node's
 * address is on an interface the node creates, pods and Services live in
 * network namespaces it made).
 *
 * Needs root (it creates interfaces, iptables rules and mounts), containerd
 * 2.x and runc built from their Go modules (hack/node/build-runtime.sh), and
 * Debian's containernetworking-plugins, iptables and conntrack. One node per
 * machine at a time: a lock names the owner, and a node whose owner died is
 * cleaned up by the next start. stop() leaves no process, iptables rule,
 * interface or mount behind.
 */
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import { type Logger, silentLogger } from "../log.ts";
import { repoRoot } from "./binaries.ts";
import { freePort, type LocalControlPlane } from "./local.ts";
import type { KeyPair } from "./pki.ts";
import { isAlive, stopProcess } from "./processes.ts";

/** The node's fixed network plan. Every range is used only inside this machine. */
export const nodeNetwork = {
  /** The node's address, on an interface of its own (the kubelet refuses loopback). */
  address: "10.213.0.1",
  interface: "mcpnode0",
  /** The CNI bridge the pods hang off, and their range. */
  bridge: "mcpbr0",
  podCidr: "10.214.0.0/24",
  /** Within the apiserver's --service-cluster-ip-range (10.0.0.0/16). */
  serviceCidr: "10.0.0.0/16",
  dnsServiceIp: "10.0.0.10",
  clusterDomain: "cluster.local",
  /**
   * Ranges that must never leave the machine. A Service with no ready
   * endpoint has no DNAT rule, so a packet to its ClusterIP would follow the
   * default route out. These ranges are routed into the node's own interface
   * (a bridge with no ports), where such a packet ends; kube-proxy's REJECT
   * rule answers it once it has synced. Not "unreachable" routes: the host's
   * own connections to a ClusterIP need a route before kube-proxy's DNAT in
   * OUTPUT rewrites them. The pod range's route on the CNI bridge is more
   * specific and wins while it exists.
   */
  contained: ["10.0.0.0/16", "10.213.0.0/16", "10.214.0.0/16"],
} as const;

export const nodeName = "mcp-node";
/** The pod sandbox image: hack/images builds it; containerd is told to use it. */
export const pauseImage = "docker.io/mcp-conductor/pause:local";
export const corednsImage = "docker.io/mcp-conductor/coredns:local";

const lockPath = "/run/mcp-conductor-node.json";
const dataDirPrefix = "mcp-conductor-node-";

interface NodeLock {
  owner: number;
  dataDir: string;
  pids: number[];
}

export interface LocalNodeOptions {
  logger?: Logger;
  /** Image archives (docker save or OCI format) to import before pods start: at least the pause image. */
  images: string[];
  /** The folder with containerd 2.x, its runc shim, ctr and runc (hack/node/build-runtime.sh). */
  runtimeDir: string;
  /** Keep the data folder after stop, for debugging. */
  keepData?: boolean;
  /**
   * The folder holding kube-network-policies (hack/node/build-network-policies.sh):
   * when given, the node enforces NetworkPolicies.
   */
  networkPoliciesDir?: string;
}

/** The nftables table kube-network-policies keeps; it removes it on SIGTERM, not after SIGKILL. */
const networkPoliciesTable = "kube-network-policies";
/** The NFQUEUE number it listens on (its default). */
const networkPoliciesQueue = 100;

function run(cmd: string[], opts: { allowFail?: boolean; input?: string } = {}): string {
  const res = Bun.spawnSync(cmd, {
    stdout: "pipe",
    stderr: "pipe",
    stdin: opts.input ? Buffer.from(opts.input) : "ignore",
  });
  if (res.exitCode !== 0 && !opts.allowFail) {
    throw new Error(`${cmd.join(" ")} failed (exit ${res.exitCode}): ${res.stderr.toString().trim()}`);
  }
  return res.stdout.toString();
}

/** What a node needs from the machine, each with what to install when it is missing. */
export function missingNodePrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root (the node creates interfaces, iptables rules and mounts)");
  const need: [string, string][] = [
    ["/usr/lib/cni/bridge", "containernetworking-plugins"],
    ["/usr/sbin/iptables", "iptables"],
    ["/usr/sbin/conntrack", "conntrack"],
  ];
  for (const [path, pkg] of need) if (!existsSync(path)) missing.push(`${path} (Debian package ${pkg})`);
  return missing;
}

/**
 * Removes what a node leaves on the machine, whether or not it is still
 * running: its processes, containers' shims, pod network namespaces, mounts
 * below its data folder, iptables chains of kube-proxy, the kubelet and the
 * CNI plugins, the bridge and the node's interface. Idempotent.
 */
export function cleanUpNodeHost(state: { dataDir: string; pids: number[]; kubeProxy?: string }): void {
  const dir = state.dataDir;
  for (const pid of state.pids) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  // Shims outlive containerd; each names our containerd's socket (in the data folder).
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes(dir)) process.kill(Number(entry), "SIGKILL");
    } catch {
      // gone, or not readable
    }
  }
  // Containers the shims ran are in cgroups named by the kubelet; kill what is left there.
  killCgroupTree("kubepods");
  unmountBelow(dir);
  for (const ns of existsSync("/var/run/netns") ? readdirSync("/var/run/netns") : []) {
    if (!ns.startsWith("cni-")) continue;
    // Our containerd is the only CRI runtime making cni-* namespaces on this machine.
    run(["umount", join("/var/run/netns", ns)], { allowFail: true });
    rmSync(join("/var/run/netns", ns), { force: true });
  }
  if (state.kubeProxy) run([state.kubeProxy, "--cleanup"], { allowFail: true });
  // Left by a NetworkPolicy engine that was killed: without it, its rules keep
  // dropping new connections of the pods policies selected (it fails closed).
  if (nftTableExists(networkPoliciesTable))
    run(["nft", "delete", "table", "inet", networkPoliciesTable], { allowFail: true });
  removeIptablesChains(/^(KUBE-|CNI-)/);
  run(["ip", "link", "delete", nodeNetwork.bridge], { allowFail: true });
  run(["ip", "link", "delete", nodeNetwork.interface], { allowFail: true });
  removeCgroupTree("kubepods");
}

function nftTableExists(name: string): boolean {
  if (!Bun.which("nft")) return false;
  return run(["nft", "list", "tables", "inet"], { allowFail: true })
    .split("\n")
    .some((line) => line.trim() === `table inet ${name}`);
}

function killCgroupTree(name: string): void {
  for (const controller of ["pids", "memory", "cpu,cpuacct", "freezer"]) {
    const root = join("/sys/fs/cgroup", controller, name);
    if (!existsSync(root)) continue;
    const procs = run(["find", root, "-name", "cgroup.procs"], { allowFail: true }).split("\n").filter(Boolean);
    for (const file of procs) {
      for (const pid of readFileSync(file, "utf8").split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone
        }
      }
    }
  }
}

function removeCgroupTree(name: string): void {
  if (!existsSync("/sys/fs/cgroup")) return;
  for (const controller of readdirSync("/sys/fs/cgroup")) {
    const root = join("/sys/fs/cgroup", controller, name);
    if (!existsSync(root)) continue;
    // Deepest first: a cgroup goes only when it has no children and no processes.
    const dirs = run(["find", root, "-depth", "-type", "d"], { allowFail: true }).split("\n").filter(Boolean);
    for (const d of dirs) run(["rmdir", d], { allowFail: true });
  }
}

function unmountBelow(dir: string): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    // Deepest first.
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) run(["umount", "-l", m], { allowFail: true });
}

/** Deletes every rule jumping to, and then every chain named like, `pattern`, in every table. */
function removeIptablesChains(pattern: RegExp): void {
  for (const tool of ["iptables", "ip6tables"]) {
    for (const table of ["filter", "nat", "mangle"]) {
      const rules = run([tool, "-w", "-t", table, "-S"], { allowFail: true }).split("\n");
      const chains = rules
        .filter((r) => r.startsWith("-N "))
        .map((r) => r.slice(3).trim())
        .filter((c) => pattern.test(c));
      for (const rule of rules) {
        const m = rule.match(/^-A (\S+) (.*)-j (\S+)/);
        if (!m?.[1] || !m[3]) continue;
        if (pattern.test(m[3]) && !pattern.test(m[1])) {
          run([tool, "-w", "-t", table, "-D", ...splitRule(rule.slice(3))], { allowFail: true });
        }
      }
      for (const c of chains) run([tool, "-w", "-t", table, "-F", c], { allowFail: true });
      for (const c of chains) run([tool, "-w", "-t", table, "-X", c], { allowFail: true });
    }
  }
}

/** Splits an `iptables -S` rule into arguments, keeping quoted comments whole. */
export function splitRule(rule: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? ""));
  }
  return out;
}

/** Cleans up after a node whose owner died without stopping it (a killed test run). */
export function reapOrphanedNode(): boolean {
  if (!existsSync(lockPath)) return false;
  let lock: NodeLock;
  try {
    lock = JSON.parse(readFileSync(lockPath, "utf8")) as NodeLock;
  } catch {
    rmSync(lockPath, { force: true });
    return false;
  }
  if (isAlive(lock.owner)) {
    throw new Error(`a local node is already running (owner pid ${lock.owner}, data ${lock.dataDir})`);
  }
  cleanUpNodeHost({ dataDir: lock.dataDir, pids: lock.pids });
  rmSync(lock.dataDir, { recursive: true, force: true });
  rmSync(lockPath, { force: true });
  return true;
}

export class LocalNode {
  readonly dataDir: string;
  private readonly procs = new Map<string, Subprocess>();
  private readonly log: Logger;
  private readonly containerdSocket: string;
  /** For the node's own kubectl calls (waiting for Ready, installing CoreDNS). */
  private readonly adminKubeconfig: string;
  private readonly pids: number[] = [];

  private constructor(
    readonly cp: LocalControlPlane,
    private readonly opts: LocalNodeOptions,
  ) {
    this.log = (opts.logger ?? silentLogger).child({ component: "node", node: nodeName });
    this.dataDir = mkdtempSync(join(tmpdir(), dataDirPrefix));
    // A user-namespaced pod's root is an unprivileged host uid that must still
    // reach its rootfs below this folder: traverse, not list (mkdtemp made it 0700).
    chmodSync(this.dataDir, 0o711);
    this.containerdSocket = join(this.dataDir, "containerd", "containerd.sock");
    this.adminKubeconfig = cp.writeKubeconfig();
  }

  /**
   * Creates the node's interface and address. Call it before the control
   * plane starts: the apiserver binds that address.
   */
  static prepareNetwork(): string {
    const missing = missingNodePrerequisites();
    if (missing.length) throw new Error(`a local node needs: ${missing.join("; ")}`);
    reapOrphanedNode();
    const { interface: ifname, address } = nodeNetwork;
    run(["ip", "link", "delete", ifname], { allowFail: true });
    // A bridge with no ports holds the address (this kernel has no dummy driver).
    run(["ip", "link", "add", ifname, "type", "bridge"]);
    run(["ip", "addr", "add", `${address}/32`, "dev", ifname]);
    run(["ip", "link", "set", ifname, "up"]);
    for (const cidr of nodeNetwork.contained) run(["ip", "route", "replace", cidr, "dev", ifname]);
    // Pods' traffic is routed through the host; the kubelet's and kube-proxy's rules assume this.
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
    return address;
  }

  /** Starts the node on a control plane started with `nodeAddress` and kube-controller-manager. */
  static async start(cp: LocalControlPlane, opts: LocalNodeOptions): Promise<LocalNode> {
    if (cp.host !== nodeNetwork.address) throw new Error("the control plane was not started with the node's address");
    const node = new LocalNode(cp, opts);
    node.writeLock();
    try {
      await node.startContainerd();
      for (const image of opts.images) node.importImage(image);
      node.writeCniConfig();
      await node.startKubelet();
      await node.startKubeProxy();
      if (opts.networkPoliciesDir) await node.startNetworkPolicies(opts.networkPoliciesDir);
      await node.startScheduler();
      await node.waitNodeReady();
      await node.installCoreDns();
    } catch (err) {
      await node.stop();
      throw err;
    }
    return node;
  }

  private writeLock(): void {
    const lock: NodeLock = { owner: process.pid, dataDir: this.dataDir, pids: this.pids };
    writeFileSync(lockPath, JSON.stringify(lock));
  }

  private spawn(name: string, cmd: string[], env?: Record<string, string>): Subprocess {
    const logFd = openSync(join(this.dataDir, `${name}.log`), "a");
    const proc = Bun.spawn(cmd, {
      stdout: logFd,
      stderr: logFd,
      stdin: "ignore",
      env: env ? { ...process.env, ...env } : undefined,
    });
    this.procs.set(name, proc);
    this.pids.push(proc.pid);
    this.writeLock();
    appendFileSync(join(this.dataDir, "children.pids"), `${proc.pid}\n`);
    this.log.info({ pid: proc.pid, process: name }, "Started process");
    return proc;
  }

  private async waitFor(name: string, ready: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
    const proc = this.procs.get(name);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc && proc.exitCode !== null) {
        throw new Error(`${name} exited with code ${proc.exitCode}; see ${join(this.dataDir, `${name}.log`)}`);
      }
      try {
        if (await ready()) return;
      } catch {
        // not yet
      }
      await Bun.sleep(100);
    }
    throw new Error(`${name} was not ready after ${timeoutMs} ms; see ${join(this.dataDir, `${name}.log`)}`);
  }

  private writeFile(rel: string, content: string, mode = 0o644): string {
    const path = join(this.dataDir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content, { mode });
    return path;
  }

  private kubeconfigFor(name: string, cert: KeyPair): string {
    return this.writeFile(`${name}.kubeconfig`, this.cp.kubeconfig({ cert }), 0o600);
  }

  /** The `ctr` command against this node's containerd, in the CRI namespace. */
  ctr(args: string[], allowFail = false): string {
    const ctr = join(this.opts.runtimeDir, "ctr");
    return run([ctr, "--address", this.containerdSocket, "--namespace", "k8s.io", ...args], { allowFail });
  }

  private async startContainerd(): Promise<void> {
    const dir = join(this.dataDir, "containerd");
    const rt = this.opts.runtimeDir;
    const config = this.writeFile(
      "containerd/config.toml",
      `version = 3
root = "${dir}/root"
state = "${dir}/state"
# Only what the kubelet's CRI needs: this instance serves nothing else.
disabled_plugins = ["io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs"]

[grpc]
  address = "${this.containerdSocket}"

[ttrpc]
  address = "${this.containerdSocket}.ttrpc"

[debug]
  level = "warn"

[plugins.'io.containerd.internal.v1.opt']
  path = "${dir}/opt"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "${pauseImage}"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = ""

[plugins.'io.containerd.cri.v1.runtime']
  # This machine's bounding set lacks CAP_SYS_RESOURCE, so runc cannot lower a
  # sandbox's oom_score_adj; without this every pod sandbox fails to start.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "${join(rt, "runc")}"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "${this.dataDir}/cni/net.d"
`,
    );
    // Its own session: a Ctrl-C in the terminal reaches the owner, which stops it in order.
    // The shim is found on PATH: the runtime folder's, not a system containerd's.
    const proc = this.spawn("containerd", ["setsid", join(rt, "containerd"), "--config", config], {
      PATH: `${rt}:${process.env.PATH}`,
    });
    await this.waitFor("containerd", () => {
      run([join(rt, "ctr"), "--address", this.containerdSocket, "version"]);
      return proc.exitCode === null;
    });
  }

  /** Imports an image archive (docker save or OCI layout tar) into the node's image store. */
  importImage(archive: string): void {
    const started = performance.now();
    this.ctr(["images", "import", "--no-unpack=false", archive]);
    this.log.info({ archive, ms: Math.round(performance.now() - started) }, "Imported image");
  }

  private writeCniConfig(): void {
    this.writeFile(
      "cni/net.d/10-mcp-node.conflist",
      JSON.stringify(
        {
          cniVersion: "1.0.0",
          name: "mcp-node",
          plugins: [
            {
              type: "bridge",
              bridge: nodeNetwork.bridge,
              isGateway: true,
              ipMasq: true,
              hairpinMode: true,
              ipam: {
                type: "host-local",
                ranges: [[{ subnet: nodeNetwork.podCidr }]],
                routes: [{ dst: "0.0.0.0/0" }],
                dataDir: join(this.dataDir, "cni", "ipam"),
              },
            },
            // Accepts pod traffic in FORWARD, whose policy dockerd sets to DROP.
            { type: "firewall" },
            { type: "portmap", capabilities: { portMappings: true } },
          ],
        },
        null,
        2,
      ),
    );
  }

  private async startKubelet(): Promise<void> {
    const pki = this.cp.pki;
    const client = pki.clientCert(`system:node:${nodeName}`, ["system:nodes"]);
    const serving = pki.servingCert("kubelet", [nodeNetwork.address], [nodeName]);
    const kubeconfig = this.kubeconfigFor("kubelet", client);
    const port = await freePort();
    const healthzPort = await freePort();
    const resolv = this.writeFile("resolv.conf", readFileSync("/etc/resolv.conf", "utf8"));
    const root = join(this.dataDir, "kubelet");
    // The node's Localhost seccomp profiles, as an operator installs them on every node
    // (docs/deployment.md): the code-runner's, which lets bubblewrap make its sandboxes.
    const profiles = join(root, "seccomp", "mcp-conductor");
    mkdirSync(profiles, { recursive: true });
    copyFileSync(join(repoRoot, "deploy/seccomp/code-runner.json"), join(profiles, "code-runner.json"));
    const config = this.writeFile(
      "kubelet-config.yaml",
      `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${nodeNetwork.address}
port: ${port}
healthzBindAddress: 127.0.0.1
healthzPort: ${healthzPort}
readOnlyPort: 0
tlsCertFile: ${serving.certPath}
tlsPrivateKeyFile: ${serving.keyPath}
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${pki.ca.certPath} }
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://${this.containerdSocket}
cgroupDriver: cgroupfs
# Kubernetes 1.35 refuses cgroup v1 unless told otherwise; this kind of machine has v1.
failCgroupV1: false
failSwapOn: false
clusterDNS: [${nodeNetwork.dnsServiceIp}]
clusterDomain: ${nodeNetwork.clusterDomain}
resolvConf: ${resolv}
podLogsDir: ${join(this.dataDir, "pod-logs")}
# Images come from archives, never from a registry: nothing may collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
serializeImagePulls: false
maxPods: 110
registerNode: true
`,
    );
    this.spawn("kubelet", [
      this.cp.binaries.kubelet,
      `--config=${config}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${root}`,
      `--cert-dir=${join(root, "pki")}`,
      `--hostname-override=${nodeName}`,
      `--node-ip=${nodeNetwork.address}`,
      "--v=1",
    ]);
    await this.waitFor("kubelet", async () => (await fetch(`http://127.0.0.1:${healthzPort}/healthz`)).ok);
  }

  private async startKubeProxy(): Promise<void> {
    const kubeconfig = this.kubeconfigFor("kube-proxy", this.cp.pki.clientCert("system:kube-proxy"));
    const healthzPort = await freePort();
    const config = this.writeFile(
      "kube-proxy-config.yaml",
      `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: ${nodeNetwork.podCidr}
hostnameOverride: ${nodeName}
bindAddress: ${nodeNetwork.address}
healthzBindAddress: 127.0.0.1:${healthzPort}
metricsBindAddress: 127.0.0.1:${await freePort()}
clientConnection:
  kubeconfig: ${kubeconfig}
# Leave the machine's conntrack sysctls alone.
conntrack:
  maxPerCore: 0
`,
    );
    this.spawn("kube-proxy", [this.cp.binaries.kubeProxy, `--config=${config}`, "--v=1"]);
    await this.waitFor("kube-proxy", async () => (await fetch(`http://127.0.0.1:${healthzPort}/livez`)).ok);
  }

  /**
   * Starts the NetworkPolicy engine (docs/development.md, "The local node's
   * NetworkPolicy engine"): it reads pods, namespaces and policies with an
   * identity of its own and judges the first packet of each connection of a
   * selected pod, dropping it when nothing allows it (fail closed, as a
   * cluster's engine should). Ready when it listens on its queue: until then
   * the rules it installed drop what they queue.
   */
  private async startNetworkPolicies(dir: string): Promise<void> {
    const user = "system:kube-network-policies";
    this.kubectl(
      ["apply", "--server-side", "-f", "-"],
      `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "${user}" }
rules:
  - apiGroups: [""]
    resources: [pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [networkpolicies]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "${user}" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "${user}" }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: "${user}" }]
`,
    );
    const kubeconfig = this.kubeconfigFor("kube-network-policies", this.cp.pki.clientCert(user));
    this.spawn("kube-network-policies", [
      join(dir, "kube-network-policies"),
      `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${nodeName}`,
      "--disable-nri",
      "--fail-open=false",
      // The workaround for nftables bug 1766 needs the nftables queue expression this build replaces.
      "--netfilter-bug-1766-fix=false",
      `--nfqueue-id=${networkPoliciesQueue}`,
      `--metrics-bind-address=127.0.0.1:${await freePort()}`,
      "--v=1",
    ]);
    // /proc/net/netfilter/nfnetlink_queue: one line per bound queue, its number first.
    await this.waitFor("kube-network-policies", () =>
      readFileSync("/proc/net/netfilter/nfnetlink_queue", "utf8")
        .split("\n")
        .some((line) => line.trim().split(/\s+/)[0] === String(networkPoliciesQueue)),
    );
  }

  private async startScheduler(): Promise<void> {
    const kubeconfig = this.kubeconfigFor("kube-scheduler", this.cp.pki.clientCert("system:kube-scheduler"));
    const port = await freePort();
    this.spawn("kube-scheduler", [
      this.cp.binaries.kubeScheduler,
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      "--v=1",
    ]);
    await this.waitFor("kube-scheduler", async () => {
      const res = await fetch(`https://127.0.0.1:${port}/livez`, { tls: { rejectUnauthorized: false } } as RequestInit);
      return res.status === 200;
    });
  }

  /** Runs the pinned kubectl as the cluster's admin; throws with its stderr when it fails. */
  kubectl(args: string[], input?: string): string {
    return run([this.cp.binaries.kubectl, `--kubeconfig=${this.adminKubeconfig}`, ...args], { input });
  }

  private async waitNodeReady(timeoutMs = 60_000): Promise<void> {
    await this.waitFor(
      "kubelet",
      () => {
        const node = JSON.parse(this.kubectl(["get", "node", nodeName, "-o", "json"])) as {
          spec: { taints?: { key: string }[] };
          status: { conditions?: { type: string; status: string }[] };
        };
        const ready = node.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        // The node lifecycle controller lifts the not-ready taint once it sees Ready.
        const tainted = node.spec.taints?.some((t) => t.key.startsWith("node.kubernetes.io/"));
        return !!ready && !tainted;
      },
      timeoutMs,
    );
    this.log.info({}, "Node Ready");
  }

  private async installCoreDns(): Promise<void> {
    const manifest = readFileSync(join(repoRoot, "lib", "control-plane", "coredns.yaml"), "utf8")
      .replaceAll("$DNS_SERVICE_IP", nodeNetwork.dnsServiceIp)
      .replaceAll("$CLUSTER_DOMAIN", nodeNetwork.clusterDomain)
      .replaceAll("$COREDNS_IMAGE", corednsImage);
    this.kubectl(["apply", "--server-side", "-f", "-"], manifest);
    this.kubectl(["-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=90s"]);
  }

  /**
   * Stops the node's processes, kills every container (a node going away
   * gives its pods no grace: an agent would otherwise drain for its whole
   * grace period), and removes what they left on the machine.
   */
  async stop(): Promise<void> {
    const terminate = (name: string) => stopProcess(this.procs.get(name));
    // First what would restart containers, then the containers, then their runtime.
    await Promise.all(["kube-scheduler", "kube-proxy", "kubelet", "kube-network-policies"].map(terminate));
    const containerd = this.procs.get("containerd");
    if (containerd && containerd.exitCode === null) {
      // `ctr tasks ls`: TASK PID STATUS; stopped tasks stay listed until deleted.
      const tasks = () =>
        this.ctr(["tasks", "ls"], true)
          .split("\n")
          .slice(1)
          .map((line) => line.trim().split(/\s+/))
          .filter((cols) => cols[2] === "RUNNING")
          .map((cols) => cols[0] as string);
      for (const id of tasks()) this.ctr(["tasks", "kill", "--signal", "SIGKILL", id], true);
      const deadline = Date.now() + 10_000;
      while (tasks().length && Date.now() < deadline) await Bun.sleep(100);
    }
    await terminate("containerd");
    cleanUpNodeHost({ dataDir: this.dataDir, pids: this.pids, kubeProxy: this.cp.binaries.kubeProxy });
    rmSync(lockPath, { force: true });
    if (!this.opts.keepData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** The node's leftovers on the machine, for a test that checks stop() removed them all. */
export function nodeHostTraces(): string[] {
  const traces: string[] = [];
  const links = run(["ip", "-o", "link", "show"], { allowFail: true });
  for (const name of [nodeNetwork.interface, nodeNetwork.bridge]) {
    if (links.includes(`: ${name}:`) || links.includes(`: ${name}@`)) traces.push(`interface ${name}`);
  }
  const routes = run(["ip", "route", "show"], { allowFail: true });
  for (const cidr of nodeNetwork.contained) if (routes.includes(cidr)) traces.push(`route ${cidr}`);
  for (const tool of ["iptables", "ip6tables"]) {
    for (const table of ["filter", "nat", "mangle"]) {
      for (const line of run([tool, "-w", "-t", table, "-S"], { allowFail: true }).split("\n")) {
        if (/\b(KUBE-|CNI-)/.test(line)) traces.push(`${tool} ${table}: ${line}`);
      }
    }
  }
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const point = line.split(" ")[4];
    if (
      point?.includes(dataDirPrefix) ||
      point?.startsWith("/var/run/netns/cni-") ||
      point?.startsWith("/run/netns/cni-")
    ) {
      traces.push(`mount ${point}`);
    }
  }
  if (nftTableExists(networkPoliciesTable)) traces.push(`nftables table inet ${networkPoliciesTable}`);
  if (existsSync(lockPath)) traces.push(`lock ${lockPath}`);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.includes(`/${dataDirPrefix}`))
        traces.push(`process ${entry}: ${cmdline.replaceAll("\0", " ").slice(0, 120)}`);
    } catch {
      // gone
    }
  }
  return traces;
}
