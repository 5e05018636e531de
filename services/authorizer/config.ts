/** The authorizer's settings (docs/operations.md#configuration lists them). */
import { defineProgram, logLevel, port, string } from "../../lib/config/config.ts";

export const authorizerProgram = defineProgram({
  name: "authorizer",
  usage: "bun services/authorizer/main.ts --tls-cert-file tls.crt --tls-key-file tls.key [--port 8443]",
  summary:
    "The apiserver's authorization webhook that lets agents list and watch only the Tasks assigned to them (ADR 0011).",
  configEnv: "AUTHORIZER_CONFIG",
  settings: {
    port: port({ env: "AUTHORIZER_PORT", default: 8443, doc: "The HTTPS port of /authorize and the probes." }),
    host: string({ env: "AUTHORIZER_HOST", default: "0.0.0.0", doc: "The address to listen on." }),
    tlsCertFile: string({
      env: "AUTHORIZER_TLS_CERT_FILE",
      doc: "The serving certificate (PEM, with its chain), read at start.",
    }),
    tlsKeyFile: string({ env: "AUTHORIZER_TLS_KEY_FILE", doc: "The serving certificate's private key (PEM)." }),
    metricsPort: port({
      env: "AUTHORIZER_METRICS_PORT",
      default: 9103,
      doc: "The port of /metrics and the probes, plain HTTP (0: none).",
    }),
    logLevel: logLevel(),
  },
  check: (c) => [
    ...(c.tlsCertFile ? [] : [{ key: "tlsCertFile" as const, message: "is required: the apiserver calls over HTTPS" }]),
    ...(c.tlsKeyFile ? [] : [{ key: "tlsKeyFile" as const, message: "is required: the apiserver calls over HTTPS" }]),
  ],
});
