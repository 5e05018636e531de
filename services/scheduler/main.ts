/**
 * The scheduler process.
 *   bun services/scheduler/main.ts [--port 9090] [--host 0.0.0.0]
 * Settings: config.ts; KUBECONFIG (or the pod's service account) for what-if.
 */
import { loadConfig, loadOrExit } from "../../lib/config/config.ts";
import { startOpsServer } from "../../lib/http/ops-server.ts";
import { startIdleCollection } from "../../lib/idle-collection.ts";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createLogger } from "../../lib/log.ts";
import { stopOnSignal } from "../../lib/shutdown.ts";
import { startServiceTracing, tracedServices } from "../../lib/tracing.ts";
import { schedulerProgram } from "./config.ts";
import { SchedulerMetrics } from "./metrics.ts";
import { kubeCandidateSource, startSchedulerServer } from "./server.ts";

const config = loadOrExit(() => loadConfig(schedulerProgram));
const log = createLogger({ service: "scheduler", level: config.logLevel });

const tracing = await startServiceTracing(tracedServices.scheduler, log);
let candidates: ReturnType<typeof kubeCandidateSource> | undefined;
try {
  candidates = kubeCandidateSource(KubeConnection.fromOptions());
} catch (err) {
  log.warn({ err }, "No Kubernetes configuration; what-if is disabled");
}

const metrics = new SchedulerMetrics(config.domain || undefined);
const srv = await startSchedulerServer({ host: config.host, port: config.port, log, candidates, metrics });
const ops =
  config.metricsPort > 0
    ? startOpsServer({ port: config.metricsPort, hostname: config.host, registry: metrics.registry, ready: () => true })
    : undefined;
// A burst of placements leaves its garbage in the heap until something allocates again (idle-collection.ts).
const idleCollection = startIdleCollection({ log, registry: metrics.registry });
stopOnSignal(log, async () => {
  idleCollection.stop();
  await srv.stop();
  await ops?.stop();
  await tracing?.shutdown();
});
