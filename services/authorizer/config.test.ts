import { expect, test } from "bun:test";
import { loadConfig } from "../../lib/config/config.ts";
import { authorizerProgram } from "./config.ts";

const files = ["--tls-cert-file=/tls/tls.crt", "--tls-key-file=/tls/tls.key"];

test.each([
  {
    given: files,
    env: {},
    want: { port: 8443, host: "0.0.0.0", metricsPort: 9103, tlsCertFile: "/tls/tls.crt", logLevel: "info" },
  },
  {
    given: [],
    env: { AUTHORIZER_TLS_CERT_FILE: "/c", AUTHORIZER_TLS_KEY_FILE: "/k", AUTHORIZER_PORT: "9443" },
    want: { port: 9443, tlsCertFile: "/c", tlsKeyFile: "/k" },
  },
  { given: [...files, "--port=0", "--metrics-port=0"], env: {}, want: { port: 0, metricsPort: 0 } },
])("reads $given $env", ({ given, env, want }) => {
  expect(loadConfig(authorizerProgram, given, env)).toMatchObject(want);
});

test.each([
  {
    given: ["--tls-key-file=/k"],
    says: "authorizer: tlsCertFile (--tls-cert-file/AUTHORIZER_TLS_CERT_FILE): is required: the apiserver calls over HTTPS",
  },
  {
    given: ["--tls-cert-file=/c"],
    says: "authorizer: tlsKeyFile (--tls-key-file/AUTHORIZER_TLS_KEY_FILE): is required",
  },
  { given: [...files, "--port=https"], says: "must be an integer from 0 to 65535" },
])("refuses $given", ({ given, says }) => {
  expect(() => loadConfig(authorizerProgram, given, {})).toThrow(says);
});
