import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError, defaultConfig, loadConfig } from "./config.ts";

describe("loadConfig", () => {
  test("defaults, then file, then env, then flags", () => {
    const file = join(mkdtempSync(join(tmpdir(), "cfg-")), "config.yaml");
    writeFileSync(file, "namespace: from-file\nconcurrency: 7\nleaderElection:\n  leaseName: file-lease\n");
    const cfg = loadConfig(["--config", file, "--concurrency", "9"], {
      CONDUCTOR_NAMESPACE: "from-env",
      CONDUCTOR_LEASE_NAME: "env-lease",
    });
    expect(cfg.namespace).toBe("from-env");
    expect(cfg.domain).toBe("from-env");
    expect(cfg.concurrency).toBe(9);
    expect(cfg.leaderElection.leaseName).toBe("env-lease");
    expect(cfg.heartbeatTimeoutSeconds).toBe(30);
  });

  test("the shipped ConfigMap is read whole and changes no default", () => {
    const file = join(import.meta.dir, "../../kustomize/base/controller-config.yaml");
    const cfg = loadConfig(["--config", file], { POD_NAME: "p" });
    const shipped = parseYaml(readFileSync(file, "utf8"));
    expect(cfg).toMatchObject(shipped);
    expect(cfg).toEqual({
      ...defaultConfig(),
      identity: "p",
      domain: "mcp-system",
      schedulerAddress: "mcp-scheduler:9090",
      mcpServers: { ...defaultConfig().mcpServers, bridgeImage: shipped.mcpServers.bridgeImage },
    });
  });

  test.each([
    { name: "POD_NAME as identity", argv: [], env: { POD_NAME: "pod-1" }, want: { identity: "pod-1" } },
    {
      name: "an identity that beats POD_NAME",
      argv: ["--identity=me"],
      env: { POD_NAME: "p" },
      want: { identity: "me" },
    },
    {
      name: "a domain of its own",
      argv: ["--domain=d", "--namespace=n"],
      env: {},
      want: { domain: "d", namespace: "n" },
    },
    {
      name: "leader election off",
      argv: ["--leader-elect=false"],
      env: {},
      want: { leaderElection: expect.objectContaining({ enabled: false }) },
    },
    {
      name: "leader election off, the value apart",
      argv: ["--leader-elect", "false"],
      env: {},
      want: { leaderElection: expect.objectContaining({ enabled: false }) },
    },
    { name: "LOG_LEVEL", argv: [], env: { LOG_LEVEL: "debug" }, want: { logLevel: "debug" } },
  ])("accepts $name", ({ argv, env, want }) => {
    expect(loadConfig(argv, env)).toMatchObject(want);
  });

  test.each([
    {
      name: "a non-number",
      argv: ["--concurrency", "many"],
      says: 'controller: concurrency (--concurrency/CONDUCTOR_CONCURRENCY): must be an integer of at least 1, got "many"',
    },
    { name: "no workers", argv: ["--concurrency=0"], says: "must be an integer of at least 1" },
    { name: "an unknown flag", argv: ["--bogus", "1"], says: "controller: --bogus: no such flag" },
    {
      name: "inverted heartbeat thresholds",
      argv: ["--heartbeat-timeout-seconds", "60", "--unknown-after-seconds", "30"],
      says: "unknownAfterSeconds (--unknown-after-seconds/CONDUCTOR_UNKNOWN_AFTER_SECONDS): must be greater than heartbeatTimeoutSeconds (60), got 30",
    },
    {
      name: "a renew deadline past the lease",
      argv: ["--lease-duration-seconds", "5", "--renew-deadline-seconds", "5"],
      says: "renewDeadlineSeconds (--renew-deadline-seconds/CONDUCTOR_RENEW_DEADLINE_SECONDS): must be less than leaseDurationSeconds (5)",
    },
    {
      name: "a retry period past the renew deadline",
      argv: ["--retry-period-seconds=10"],
      says: "retryPeriodSeconds (--retry-period-seconds/CONDUCTOR_RETRY_PERIOD_SECONDS): must be less than renewDeadlineSeconds",
    },
    {
      name: "a bad boolean",
      argv: ["--leader-elect", "maybe"],
      says: 'leaderElection.enabled (--leader-elect/CONDUCTOR_LEADER_ELECT): must be true or false, got "maybe"',
    },
    { name: "a probe interval of 0", argv: ["--probe-interval-seconds=0"], says: "probeIntervalSeconds" },
    { name: "a negative port", argv: ["--metrics-port=-1"], says: "must be an integer from 0 to 65535" },
  ])("rejects $name", ({ argv, says }) => {
    expect(() => loadConfig(argv, {})).toThrow(ConfigError);
    expect(() => loadConfig(argv, {})).toThrow(says);
  });

  test("a misspelt key in the file is refused", () => {
    const file = join(mkdtempSync(join(tmpdir(), "cfg-")), "config.yaml");
    writeFileSync(file, "leaderElection:\n  leaseDurationSecond: 20\n");
    expect(() => loadConfig(["--config", file], {})).toThrow("leaderElection.leaseDurationSecond: no such setting");
  });
});
