/**
 * The MCPServer operator: a level-triggered reconciler that turns each
 * managed MCPServer into its Deployment and Service (server-side apply with
 * our field manager, forced, so hand edits of fields we own are put back),
 * shakes hands with every server over MCP, and writes what it saw as status.
 * It watches the Deployments and Services it made, so drift and rollout
 * progress reach it as events, and their pods, so a container the kubelet
 * cannot start (an image that runs as root, a failed pull, a crash loop) is
 * reported on the MCPServer in the kubelet's words; deletion is Kubernetes'
 * garbage collector's work, through owner references.
 */
import type { MCPServer } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import { setCondition } from "../../lib/controller/conditions.ts";
import type { EventRecorder } from "../../lib/controller/events.ts";
import {
  type ReconcileObserver,
  type ReconcileResult,
  reportOnObject,
  runWorkers,
} from "../../lib/controller/reconcile.ts";
import { WorkQueue } from "../../lib/controller/workqueue.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import { isConflict, isNotFound } from "../../lib/kube/errors.ts";
import { Informer, objectKey } from "../../lib/kube/informer.ts";
import { type KubeObject, ResourceClient } from "../../lib/kube/resource-client.ts";
import { type Logger, logIgnored } from "../../lib/log.ts";
import { type Prober, probeMcpServer } from "./mcp-probe.ts";
import {
  type DeploymentView,
  desiredDeployment,
  desiredService,
  isManaged,
  managedBy,
  managedByLabel,
  mcpServerConditions,
  mcpServerStatus,
  type PodView,
  type ProbeResult,
  serverLabel,
  serverUrl,
  statusDiffers,
  type WorkloadOptions,
  workloadProblemReasons,
} from "./mcp-server-workload.ts";

export const operatorFieldManager = "mcp-conductor-controller";

export interface McpServerOperatorOptions {
  conn: KubeConnection;
  namespace: string;
  log: Logger;
  events: EventRecorder;
  workload: WorkloadOptions;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  concurrency: number;
  observer?: ReconcileObserver;
  prober?: Prober;
}

const deploymentType = { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true };
const serviceType = { group: "", version: "v1", plural: "services", kind: "Service", namespaced: true };
const podType = { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true };
const newQueue = () => new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });

export class McpServerOperator {
  readonly servers: Informer<MCPServer>;
  readonly deployments: Informer<DeploymentView>;
  readonly services: Informer<KubeObject>;
  /** The servers' pods, read only: their container statuses say why a server does not start. */
  readonly pods: Informer<PodView>;
  private readonly clients;
  private readonly deploymentClient: ResourceClient<DeploymentView>;
  private readonly serviceClient: ResourceClient<KubeObject>;
  // A new queue each time reconciling starts: stopping shuts the last one.
  private queue = newQueue();
  private readonly probes = new Map<string, { result: ProbeResult; at: number }>();
  private readonly prober: Prober;
  private readonly log: Logger;
  private workers: Promise<void> | undefined;

  constructor(private readonly opts: McpServerOperatorOptions) {
    this.log = opts.log.child({ controller: "mcpserver" });
    this.prober = opts.prober ?? probeMcpServer;
    this.clients = mcpClients(opts.conn);
    this.deploymentClient = new ResourceClient<DeploymentView>(opts.conn, deploymentType);
    this.serviceClient = new ResourceClient<KubeObject>(opts.conn, serviceType);
    const ours = `${managedByLabel}=${managedBy},${serverLabel}`;
    this.servers = new Informer(this.clients.mcpServers, { namespace: opts.namespace, logger: this.log });
    this.deployments = new Informer(this.deploymentClient, {
      namespace: opts.namespace,
      labelSelector: ours,
      logger: this.log,
    });
    this.services = new Informer(this.serviceClient, {
      namespace: opts.namespace,
      labelSelector: ours,
      logger: this.log,
    });
    // Pods carry the template's labels, so the same selector finds the servers' pods and no others.
    this.pods = new Informer(new ResourceClient<PodView>(opts.conn, podType), {
      namespace: opts.namespace,
      labelSelector: ours,
      logger: this.log,
    });
    const enqueue = (s: MCPServer) => this.queue.add(objectKey(s));
    this.servers.on({
      add: enqueue,
      // Status writes of our own come back as updates; only spec (generation) and labels matter.
      update: (s, old) => {
        if (s.metadata.generation !== old.metadata.generation || s.metadata.deletionTimestamp) enqueue(s);
      },
      delete: (s) => this.probes.delete(objectKey(s)),
    });
    const owner = (o: KubeObject) => {
      const name = o.metadata.labels?.[serverLabel];
      if (name) this.queue.add(`${opts.namespace}/${name}`);
    };
    this.deployments.on({ add: owner, update: owner, delete: owner });
    this.services.on({ add: owner, update: owner, delete: owner });
    this.pods.on({ add: owner, update: owner, delete: owner });
  }

  get hasSynced(): boolean {
    return this.servers.hasSynced && this.deployments.hasSynced && this.services.hasSynced && this.pods.hasSynced;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  async startCaches(): Promise<void> {
    await Promise.all([this.servers.start(), this.deployments.start(), this.services.start(), this.pods.start()]);
  }

  /** Starts reconciling (as the leader): everything once, then what changes. */
  startReconciling(): void {
    this.queue = newQueue();
    this.workers = runWorkers({
      name: "mcpserver",
      queue: this.queue,
      reconcile: (k, l) => this.reconcile(k, l),
      concurrency: this.opts.concurrency,
      log: this.log,
      observer: this.opts.observer,
      // A write the apiserver refuses as invalid or forbidden fails the same way on every retry:
      // said once on the MCPServer, then nothing until it changes.
      onPermanentFailure: reportOnObject((k) => this.servers.getByKey(k), this.opts.events),
    });
    for (const s of this.servers.list()) this.queue.add(objectKey(s));
  }

  stopReconciling(): void {
    this.queue.shutdown();
  }

  /** Resolves when the reconciles started as the leader have finished (at once if none). */
  get reconciling(): Promise<void> {
    return this.workers ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await this.workers;
    await Promise.all([this.servers.stop(), this.deployments.stop(), this.services.stop(), this.pods.stop()]);
  }

  private async reconcile(key: string, log: Logger): Promise<ReconcileResult | undefined> {
    const cached = this.servers.getByKey(key);
    if (!cached || cached.metadata.deletionTimestamp) return; // owner references take the rest away
    const s = cached;
    const slog = log.child({ mcpServer: s.metadata.name });
    let deployment = this.deployments.get(this.opts.namespace, s.metadata.name ?? "");
    if (isManaged(s)) {
      try {
        deployment = (await this.apply(s, slog)) ?? deployment;
      } catch (err) {
        if (!isConflict(err)) await this.reportApplyFailure(s, err as Error, slog);
        throw err; // retried with backoff
      }
    } else {
      await this.removeWorkload(s, slog);
      deployment = undefined;
    }

    const url = serverUrl(s);
    const probe = await this.probe(s, url, deployment, slog);
    const now = new Date();
    const pods = deployment ? this.podsOf(s) : [];
    const status = mcpServerStatus(s, { deployment, pods, probe }, now);
    if (statusDiffers(s.status, status)) {
      const before = s.status?.phase;
      await this.clients.mcpServers.replaceStatus({ ...s, status }, { fieldManager: operatorFieldManager });
      this.recordWorkloadProblem(s, s.status?.conditions ?? [], status.conditions ?? [], slog);
      if (before !== status.phase) this.recordPhase(s, status.phase, status.conditions ?? [], slog);
    }
    // Keep shaking hands: Reachable is only as fresh as the last probe.
    const needsProbe = !isManaged(s) || status.conditions?.some((c) => c.type === "Available" && c.status === "True");
    return needsProbe ? { requeueAfterMs: this.opts.probeIntervalMs } : undefined;
  }

  /** The pods of a server's Deployment, from the cache (the Deployment's selector is the server label). */
  private podsOf(s: MCPServer): PodView[] {
    const name = s.metadata.name ?? "";
    return this.pods
      .list()
      .filter((p) => p.metadata.namespace === this.opts.namespace && p.metadata.labels?.[serverLabel] === name);
  }

  /**
   * A Warning Event when Available turns to a reason the pods give (the
   * container cannot start, its image cannot be pulled, it crash-loops) or
   * that reason's message changes; not on every reconcile, since the
   * condition keeps saying it.
   */
  private recordWorkloadProblem(
    s: MCPServer,
    before: { type: string; reason?: string; message?: string }[],
    after: { type: string; status: string; reason?: string; message?: string }[],
    log: Logger,
  ) {
    const now = after.find((c) => c.type === mcpServerConditions.available);
    if (now?.status !== "False" || !now.reason || !workloadProblemReasons.has(now.reason)) return;
    const old = before.find((c) => c.type === mcpServerConditions.available);
    if (old?.reason === now.reason && old.message === now.message) return;
    log.warn({ reason: now.reason, err: now.message }, "The server's pods cannot run");
    this.opts.events.record(s, "Warning", now.reason, now.message ?? "");
  }

  /** Applies the Deployment and Service; returns the Deployment as the apiserver now has it. */
  private async apply(s: MCPServer, log: Logger): Promise<DeploymentView | undefined> {
    const ns = this.opts.namespace;
    const name = s.metadata.name ?? "";
    const existed = !!this.deployments.get(ns, name);
    const opts = { fieldManager: operatorFieldManager, force: true };
    const d = await this.deploymentClient.patch(ns, name, desiredDeployment(s, this.opts.workload), "apply", opts);
    await this.serviceClient.patch(ns, name, desiredService(s), "apply", opts);
    if (!existed) {
      log.info("Created the Deployment and Service");
      this.opts.events.record(s, "Normal", "WorkloadCreated", `Created Deployment and Service ${name}`);
    }
    return d;
  }

  /**
   * The apiserver refused the Deployment or Service (a quota, an admission
   * policy, no Service IP left): say so on the MCPServer, where its owner looks.
   */
  private async reportApplyFailure(s: MCPServer, err: Error, log: Logger): Promise<void> {
    const message = err.message.slice(0, 1024);
    log.warn({ err: message }, "Could not apply the Deployment or Service");
    const current = s.status?.conditions?.find((c) => c.type === mcpServerConditions.progressing);
    if (current?.reason === "ApplyFailed" && current.message === message) return;
    const conditions = setCondition(
      s.status?.conditions,
      { type: mcpServerConditions.progressing, status: "False", reason: "ApplyFailed", message },
      new Date(),
      s.metadata.generation,
    );
    this.opts.events.record(s, "Warning", "ApplyFailed", message);
    await this.clients.mcpServers
      .replaceStatus({ ...s, status: { ...s.status, conditions } }, { fieldManager: operatorFieldManager })
      // the retry will say it again
      .catch(logIgnored(this.log, "Writing the ApplyFailed condition", { mcpServer: s.metadata.name }));
  }

  /** A server that became remote (spec.url) keeps no workload of ours. */
  private async removeWorkload(s: MCPServer, log: Logger): Promise<void> {
    const ns = this.opts.namespace;
    const name = s.metadata.name ?? "";
    const mine = (o: KubeObject | undefined) =>
      !!o?.metadata.ownerReferences?.some((r) => r.uid === s.metadata.uid && r.kind === "MCPServer");
    for (const [informer, client] of [
      [this.deployments, this.deploymentClient],
      [this.services, this.serviceClient],
    ] as const) {
      const o = informer.get(ns, name);
      if (!mine(o)) continue;
      try {
        await client.delete(ns, name, { uid: o?.metadata.uid });
        log.info({ kind: client.type.kind }, "Removed the workload of a server that is now remote");
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  /** The last handshake, renewed when it is older than the probe interval or was for another URL. */
  private async probe(
    s: MCPServer,
    url: string,
    deployment: DeploymentView | undefined,
    log: Logger,
  ): Promise<ProbeResult | undefined> {
    const key = objectKey(s);
    if (isManaged(s) && !((deployment?.status?.readyReplicas ?? 0) > 0)) {
      this.probes.delete(key);
      return undefined;
    }
    const last = this.probes.get(key);
    if (last && last.result.url === url && Date.now() - last.at < this.opts.probeIntervalMs - 50) return last.result;
    const headers = Object.fromEntries(
      Object.entries(s.spec.headers ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
    const result = await this.prober(url, headers, this.opts.probeTimeoutMs, log);
    if (!result.ok && last?.result.ok !== false) log.warn({ url, err: result.message }, "MCP handshake failed");
    this.probes.set(key, { result, at: Date.now() });
    return result;
  }

  private recordPhase(
    s: MCPServer,
    phase: string | undefined,
    conditions: { type: string; reason?: string; message?: string }[],
    log: Logger,
  ) {
    const reach = conditions.find((c) => c.type === "Reachable")?.message ?? "";
    log.info({ phase }, "MCPServer phase changed");
    if (phase === "Ready") this.opts.events.record(s, "Normal", "Ready", `Serving MCP at ${serverUrl(s)} (${reach})`);
    else if (phase === "Failed") {
      // recordWorkloadProblem has said it already, under its own reason.
      const available = conditions.find((c) => c.type === mcpServerConditions.available)?.reason;
      if (available && workloadProblemReasons.has(available)) return;
      const why = conditions.find((c) => c.type === "Progressing" && c.message)?.message;
      this.opts.events.record(
        s,
        "Warning",
        "Failed",
        reach && reach !== "waiting for a ready replica" ? reach : (why ?? ""),
      );
    }
  }
}
