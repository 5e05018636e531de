/**
 * The scheduler process.
 *   bun services/scheduler/main.ts [--port 9090] [--host 0.0.0.0]
 * Env: SCHEDULER_PORT, SCHEDULER_HOST, KUBECONFIG (for what-if), LOG_LEVEL.
 */
import { parseArgs } from "node:util";
import { KubeConnection } from "../../lib/kube/connection.ts";
import { createLogger } from "../../lib/log.ts";
import { kubeCandidateSource, startSchedulerServer } from "./server.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.SCHEDULER_PORT ?? "9090" },
    host: { type: "string", default: process.env.SCHEDULER_HOST ?? "0.0.0.0" },
  },
});
const log = createLogger({ service: "scheduler" });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log.fatal({ port: values.port }, "Invalid --port");
  process.exit(2);
}

let candidates: ReturnType<typeof kubeCandidateSource> | undefined;
try {
  candidates = kubeCandidateSource(KubeConnection.fromOptions());
} catch (err) {
  log.warn({ err }, "No Kubernetes configuration; what-if is disabled");
}

const srv = await startSchedulerServer({ host: values.host, port, log, candidates });
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, async () => {
    log.info({ signal: sig }, "Shutting down");
    await srv.stop();
    process.exit(0);
  });
}
