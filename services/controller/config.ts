/**
 * The controller's configuration: one typed object, parsed once at start-up
 * from defaults, then a mounted ConfigMap file (--config, YAML or JSON),
 * then environment variables, then flags, each overriding the one before.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { conductorImage } from "../../lib/version.ts";

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
  /** Parallel status writes in one placement pass. */
  placementWriteConcurrency: number;
  metricsPort: number;
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

export const defaultConfig = (): ControllerConfig => ({
  namespace: "mcp-system",
  domain: "",
  identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
  schedulerAddress: "127.0.0.1:9090",
  heartbeatTimeoutSeconds: 30,
  unknownAfterSeconds: 120,
  concurrency: 4,
  defaultTtlSecondsAfterFinished: 3600,
  placementWriteConcurrency: 32,
  metricsPort: 8081,
  mcpServers: {
    bridgeImage: conductorImage,
    probeIntervalSeconds: 30,
    probeTimeoutSeconds: 5,
  },
  leaderElection: {
    enabled: true,
    leaseName: "mcp-conductor-controller",
    leaseDurationSeconds: 15,
    renewDeadlineSeconds: 10,
    retryPeriodSeconds: 2,
  },
});

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Flat = Record<string, string | undefined>;

/** Setting names as written in files, env (CONDUCTOR_ + upper snake) and flags (kebab). */
const settings: { key: string; path: string[]; kind: "string" | "int" | "bool" }[] = [
  { key: "namespace", path: ["namespace"], kind: "string" },
  { key: "domain", path: ["domain"], kind: "string" },
  { key: "identity", path: ["identity"], kind: "string" },
  { key: "schedulerAddress", path: ["schedulerAddress"], kind: "string" },
  { key: "heartbeatTimeoutSeconds", path: ["heartbeatTimeoutSeconds"], kind: "int" },
  { key: "unknownAfterSeconds", path: ["unknownAfterSeconds"], kind: "int" },
  { key: "concurrency", path: ["concurrency"], kind: "int" },
  { key: "defaultTtlSecondsAfterFinished", path: ["defaultTtlSecondsAfterFinished"], kind: "int" },
  { key: "placementWriteConcurrency", path: ["placementWriteConcurrency"], kind: "int" },
  { key: "metricsPort", path: ["metricsPort"], kind: "int" },
  { key: "bridgeImage", path: ["mcpServers", "bridgeImage"], kind: "string" },
  { key: "probeIntervalSeconds", path: ["mcpServers", "probeIntervalSeconds"], kind: "int" },
  { key: "probeTimeoutSeconds", path: ["mcpServers", "probeTimeoutSeconds"], kind: "int" },
  { key: "leaderElect", path: ["leaderElection", "enabled"], kind: "bool" },
  { key: "leaseName", path: ["leaderElection", "leaseName"], kind: "string" },
  { key: "leaseDurationSeconds", path: ["leaderElection", "leaseDurationSeconds"], kind: "int" },
  { key: "renewDeadlineSeconds", path: ["leaderElection", "renewDeadlineSeconds"], kind: "int" },
  { key: "retryPeriodSeconds", path: ["leaderElection", "retryPeriodSeconds"], kind: "int" },
];

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (s: string) => `CONDUCTOR_${s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string, unknown>;
  o[path[path.length - 1] as string] = value;
}

function getPath(obj: unknown, path: string[]): unknown {
  let o = obj;
  for (const p of path) {
    if (o === null || typeof o !== "object") return undefined;
    o = (o as Record<string, unknown>)[p];
  }
  return o;
}

function convert(raw: unknown, kind: "string" | "int" | "bool", source: string): unknown {
  if (kind === "string") {
    if (typeof raw !== "string" || raw === "") throw new ConfigError(`${source}: must be a non-empty string`);
    return raw;
  }
  if (kind === "int") {
    const n = typeof raw === "number" ? raw : Number(raw);
    if (!Number.isInteger(n) || n < 0)
      throw new ConfigError(`${source}: must be a non-negative integer, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (raw === true || raw === "true") return true;
  if (raw === false || raw === "false") return false;
  throw new ConfigError(`${source}: must be true or false, got ${JSON.stringify(raw)}`);
}

export function loadConfig(argv: readonly string[] = process.argv.slice(2), env: Flat = process.env): ControllerConfig {
  const options: Record<string, { type: "string" }> = { config: { type: "string" } };
  for (const s of settings) options[kebab(s.key)] = { type: "string" };
  let flags: Flat;
  try {
    flags = parseArgs({ args: [...argv], options, strict: true }).values as Flat;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const cfg = defaultConfig() as unknown as Record<string, unknown>;

  const file = flags.config ?? env.CONDUCTOR_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
    for (const s of settings) {
      const v = getPath(parsed, s.path);
      if (v !== undefined) setPath(cfg, s.path, convert(v, s.kind, `${file}: ${s.path.join(".")}`));
    }
  }
  for (const s of settings) {
    const v = env[envName(s.key)];
    if (v !== undefined) setPath(cfg, s.path, convert(v, s.kind, envName(s.key)));
  }
  for (const s of settings) {
    const v = flags[kebab(s.key)];
    if (v !== undefined) setPath(cfg, s.path, convert(v, s.kind, `--${kebab(s.key)}`));
  }

  const c = cfg as unknown as ControllerConfig;
  c.domain ||= c.namespace;
  if (c.unknownAfterSeconds <= c.heartbeatTimeoutSeconds) {
    throw new ConfigError("unknownAfterSeconds must be greater than heartbeatTimeoutSeconds");
  }
  const le = c.leaderElection;
  if (le.renewDeadlineSeconds >= le.leaseDurationSeconds)
    throw new ConfigError("renewDeadlineSeconds must be less than leaseDurationSeconds");
  if (le.retryPeriodSeconds >= le.renewDeadlineSeconds)
    throw new ConfigError("retryPeriodSeconds must be less than renewDeadlineSeconds");
  if (c.concurrency < 1) throw new ConfigError("concurrency must be at least 1");
  if (c.mcpServers.probeIntervalSeconds < 1)
    throw new ConfigError("mcpServers.probeIntervalSeconds must be at least 1");
  if (c.mcpServers.probeTimeoutSeconds < 1) throw new ConfigError("mcpServers.probeTimeoutSeconds must be at least 1");
  return c;
}
