/** The scheduler's settings (docs/operations.md#configuration lists them). */
import { defineProgram, logLevel, port, string } from "../../lib/config/config.ts";

export const schedulerProgram = defineProgram({
  name: "scheduler",
  usage: "bun services/scheduler/main.ts [--port 9090] [--host 0.0.0.0]",
  summary: "The stateless gRPC scheduler: Place, PlaceBatch, WhatIf.",
  configEnv: "SCHEDULER_CONFIG",
  settings: {
    port: port({ env: "SCHEDULER_PORT", default: 9090, doc: "The gRPC port." }),
    host: string({ env: "SCHEDULER_HOST", default: "0.0.0.0", doc: "The address to listen on." }),
    metricsPort: port({
      env: "SCHEDULER_METRICS_PORT",
      default: 9091,
      doc: "The port of /metrics and the HTTP probes (0: none).",
    }),
    domain: string({ env: "NAMESPACE", default: "", doc: "The domain (namespace) its metrics are labelled with." }),
    logLevel: logLevel(),
  },
});
