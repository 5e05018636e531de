/**
 * The controller process: one per domain (namespace), leader-elected.
 *   bun services/controller/main.ts --namespace mcp-data-processing --scheduler-address scheduler:9090
 * See config.ts for every setting and its env/ConfigMap equivalents.
 */
import { loadOrExit } from "../../lib/config/config.ts";
import { EventRecorder } from "../../lib/controller/events.ts";
import { startOpsServer } from "../../lib/http/ops-server.ts";
import { startIdleCollection } from "../../lib/idle-collection.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createAuditLogger, createLogger } from "../../lib/log.ts";
import { SchedulerClient } from "../../lib/scheduling/client.ts";
import { KeptCandidatesPlacer } from "../../lib/scheduling/kept-candidates.ts";
import { stopOnSignal } from "../../lib/shutdown.ts";
import { startServiceTracing, tracedServices } from "../../lib/tracing.ts";
import { loadConfig } from "./config.ts";
import { Controller } from "./controller.ts";
import { QuotaRecount } from "./quota-recount.ts";

const config = loadOrExit(() => loadConfig());
const log = createLogger({ service: "controller", level: config.logLevel });

const tracing = await startServiceTracing(tracedServices.controller, log);
const schedulerClient = new SchedulerClient(config.schedulerAddress);
// The candidates go to the scheduler again only when an agent changed (ADR 0014).
const scheduler = new KeptCandidatesPlacer(schedulerClient);
const conn = KubeConnection.fromOptions();
const audit = createAuditLogger("controller", config.auditLog);
const controller = new Controller({ config, conn, scheduler, log, audit });
// A quota on Tasks made before Kubernetes discovered them is never counted by itself (quota-recount.ts).
const quotaRecount = new QuotaRecount({
  conn,
  namespace: config.namespace,
  log,
  events: new EventRecorder(conn, "mcp-conductor-controller", config.identity, log),
  isLeader: () => controller.isLeader,
});
const ops = startOpsServer({
  port: config.metricsPort,
  registry: controller.metrics.registry,
  ready: () => controller.ready,
});
log.info({ namespace: config.namespace, identity: config.identity, metricsPort: ops.port }, "Starting controller");
await controller.start();
quotaRecount.start();
// A burst of placements leaves its garbage in the heap until something allocates again (idle-collection.ts).
const idleCollection = startIdleCollection({ log, registry: controller.metrics.registry });

stopOnSignal(log, async () => {
  idleCollection.stop();
  quotaRecount.stop();
  await controller.stop(); // releases the lease so a successor takes over at once
  schedulerClient.close();
  await ops.stop();
  await tracing?.shutdown();
});
