/**
 * The controller's configuration: one typed object, parsed once at start-up
 * from defaults, then a mounted ConfigMap file (--config, YAML or JSON),
 * then environment variables, then flags, each overriding the one before.
 * Names: the file's keys below, CONDUCTOR_ + upper snake case in the
 * environment, kebab case as flags (docs/operations.md#configuration).
 */
import { hostname } from "node:os";
import {
  boolean,
  type ConfigOf,
  defaults,
  defineProgram,
  type Env,
  loadConfig as load,
  logLevel,
  number,
  port,
  string,
} from "../../lib/config/config.ts";
import { conductorImage } from "../../lib/version.ts";

export { ConfigError } from "../../lib/config/config.ts";

export interface ControllerConfig {
  /** The namespace this conductor serves; it is also the domain. */
  namespace: string;
  /** The domain label on metrics and events; defaults to the namespace. */
  domain: string;
  /** Unique per replica, for leader election and events. */
  identity: string;
  schedulerAddress: string;
  /** Ready → NotReady after this long without a heartbeat. */
  heartbeatTimeoutSeconds: number;
  /** NotReady → Unknown after this long without a heartbeat. */
  unknownAfterSeconds: number;
  /** Reconcile workers per controller. */
  concurrency: number;
  /** Deletes finished Tasks this long after they finished, unless they say otherwise. */
  defaultTtlSecondsAfterFinished: number;
  /** Keeps finished Tasks and Plans at least this long, whatever they say (the audit trail's floor). */
  minTtlSecondsAfterFinished: number;
  /** Where the audit records of tool calls go: "stdout", "off", or a file path. */
  auditLog: string;
  /** Parallel status writes in one placement pass. */
  placementWriteConcurrency: number;
  metricsPort: number;
  logLevel: string;
  mcpServers: {
    /** The conductor image, whose stdio bridge a stdio MCPServer's pod copies in. */
    bridgeImage: string;
    /** How often the controller shakes hands with each MCPServer to keep Reachable true. */
    probeIntervalSeconds: number;
    probeTimeoutSeconds: number;
  };
  leaderElection: {
    enabled: boolean;
    leaseName: string;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  };
}

const int = (env: string, fallback: number, doc: string, file?: string) =>
  number({ env, default: fallback, integer: true, min: 0, doc, file });
const atLeast1 = (env: string, fallback: number, doc: string, file: string) =>
  number({ env, default: fallback, integer: true, min: 1, doc, file });

export const controllerProgram = defineProgram({
  name: "controller",
  usage: "bun services/controller/main.ts [--config controller.yaml] [flags]",
  summary: "The controller of one domain: task lifecycle, agent health, placement, MCPServers; leader-elected.",
  configEnv: "CONDUCTOR_CONFIG",
  settings: {
    namespace: string({
      env: "CONDUCTOR_NAMESPACE",
      default: "mcp-system",
      doc: "The namespace this conductor serves.",
    }),
    domain: string({
      env: "CONDUCTOR_DOMAIN",
      default: "",
      defaultDoc: "the namespace",
      doc: "The domain label on metrics and Events.",
    }),
    identity: string({
      env: "CONDUCTOR_IDENTITY",
      default: (env) => env.POD_NAME ?? `${hostname()}-${process.pid}`,
      defaultDoc: "$POD_NAME, else <hostname>-<pid>",
      doc: "Unique per replica, for leader election and Events.",
    }),
    schedulerAddress: string({
      env: "CONDUCTOR_SCHEDULER_ADDRESS",
      default: "127.0.0.1:9090",
      doc: "The scheduler's gRPC address.",
    }),
    heartbeatTimeoutSeconds: int(
      "CONDUCTOR_HEARTBEAT_TIMEOUT_SECONDS",
      30,
      "An agent goes Ready → NotReady after this long without a heartbeat.",
    ),
    unknownAfterSeconds: int(
      "CONDUCTOR_UNKNOWN_AFTER_SECONDS",
      120,
      "An agent goes NotReady → Unknown after this long without a heartbeat.",
    ),
    concurrency: number({
      env: "CONDUCTOR_CONCURRENCY",
      default: 4,
      integer: true,
      min: 1,
      doc: "Reconcile workers per controller.",
    }),
    defaultTtlSecondsAfterFinished: int(
      "CONDUCTOR_DEFAULT_TTL_SECONDS_AFTER_FINISHED",
      3600,
      "Finished Tasks are deleted this long after they finished, unless they say otherwise.",
    ),
    minTtlSecondsAfterFinished: int(
      "CONDUCTOR_MIN_TTL_SECONDS_AFTER_FINISHED",
      300,
      "Finished Tasks and Plans are kept at least this long, even when they ask for less: a client cannot cut short the trail its calls leave.",
    ),
    auditLog: string({
      env: "CONDUCTOR_AUDIT_LOG",
      default: "stdout",
      doc: 'Where the audit record of each finished tool call goes: "stdout" (JSON lines with "log":"audit", beside the other logs), a file path, or "off".',
    }),
    placementWriteConcurrency: int(
      "CONDUCTOR_PLACEMENT_WRITE_CONCURRENCY",
      32,
      "Parallel status writes in one placement pass.",
    ),
    metricsPort: port({ env: "CONDUCTOR_METRICS_PORT", default: 8081, doc: "The port of /metrics and the probes." }),
    logLevel: logLevel(),
    bridgeImage: string({
      env: "CONDUCTOR_BRIDGE_IMAGE",
      default: conductorImage,
      file: "mcpServers.bridgeImage",
      doc: "The conductor image, whose stdio bridge a stdio MCPServer's pod copies in.",
    }),
    probeIntervalSeconds: atLeast1(
      "CONDUCTOR_PROBE_INTERVAL_SECONDS",
      30,
      "How often each MCPServer is probed (an MCP handshake) to keep Reachable current.",
      "mcpServers.probeIntervalSeconds",
    ),
    probeTimeoutSeconds: atLeast1(
      "CONDUCTOR_PROBE_TIMEOUT_SECONDS",
      5,
      "How long one probe may take.",
      "mcpServers.probeTimeoutSeconds",
    ),
    leaderElect: boolean({
      env: "CONDUCTOR_LEADER_ELECT",
      default: true,
      file: "leaderElection.enabled",
      doc: "Whether replicas elect a leader (only the leader reconciles).",
    }),
    leaseName: string({
      env: "CONDUCTOR_LEASE_NAME",
      default: "mcp-conductor-controller",
      file: "leaderElection.leaseName",
      doc: "The Lease the replicas elect their leader with.",
    }),
    leaseDurationSeconds: int(
      "CONDUCTOR_LEASE_DURATION_SECONDS",
      15,
      "How long a leader's Lease holds without renewal.",
      "leaderElection.leaseDurationSeconds",
    ),
    renewDeadlineSeconds: int(
      "CONDUCTOR_RENEW_DEADLINE_SECONDS",
      10,
      "How long the leader tries to renew before it steps down.",
      "leaderElection.renewDeadlineSeconds",
    ),
    retryPeriodSeconds: int(
      "CONDUCTOR_RETRY_PERIOD_SECONDS",
      2,
      "How often a replica tries to acquire or renew the Lease.",
      "leaderElection.retryPeriodSeconds",
    ),
  },
  check: (c) => [
    ...(c.unknownAfterSeconds <= c.heartbeatTimeoutSeconds
      ? [
          {
            key: "unknownAfterSeconds" as const,
            message: `must be greater than heartbeatTimeoutSeconds (${c.heartbeatTimeoutSeconds})`,
          },
        ]
      : []),
    ...(c.defaultTtlSecondsAfterFinished < c.minTtlSecondsAfterFinished
      ? [
          {
            key: "defaultTtlSecondsAfterFinished" as const,
            message: `must be at least minTtlSecondsAfterFinished (${c.minTtlSecondsAfterFinished})`,
          },
        ]
      : []),
    ...(c.renewDeadlineSeconds >= c.leaseDurationSeconds
      ? [
          {
            key: "renewDeadlineSeconds" as const,
            message: `must be less than leaseDurationSeconds (${c.leaseDurationSeconds})`,
          },
        ]
      : []),
    ...(c.retryPeriodSeconds >= c.renewDeadlineSeconds
      ? [
          {
            key: "retryPeriodSeconds" as const,
            message: `must be less than renewDeadlineSeconds (${c.renewDeadlineSeconds})`,
          },
        ]
      : []),
  ],
});

/** The flat settings as the nested object the controller takes. */
function nest(v: ConfigOf<typeof controllerProgram.settings>): ControllerConfig {
  return {
    namespace: v.namespace,
    domain: v.domain,
    identity: v.identity,
    schedulerAddress: v.schedulerAddress,
    heartbeatTimeoutSeconds: v.heartbeatTimeoutSeconds,
    unknownAfterSeconds: v.unknownAfterSeconds,
    concurrency: v.concurrency,
    defaultTtlSecondsAfterFinished: v.defaultTtlSecondsAfterFinished,
    minTtlSecondsAfterFinished: v.minTtlSecondsAfterFinished,
    auditLog: v.auditLog,
    placementWriteConcurrency: v.placementWriteConcurrency,
    metricsPort: v.metricsPort,
    logLevel: v.logLevel,
    mcpServers: {
      bridgeImage: v.bridgeImage,
      probeIntervalSeconds: v.probeIntervalSeconds,
      probeTimeoutSeconds: v.probeTimeoutSeconds,
    },
    leaderElection: {
      enabled: v.leaderElect,
      leaseName: v.leaseName,
      leaseDurationSeconds: v.leaseDurationSeconds,
      renewDeadlineSeconds: v.renewDeadlineSeconds,
      retryPeriodSeconds: v.retryPeriodSeconds,
    },
  };
}

export const defaultConfig = (): ControllerConfig => nest(defaults(controllerProgram));

/** Throws ConfigError with every problem found, or HelpRequested for --help. */
export function loadConfig(argv: readonly string[] = process.argv.slice(2), env: Env = process.env): ControllerConfig {
  const c = nest(load(controllerProgram, argv, env));
  c.domain ||= c.namespace;
  return c;
}
