import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "./config.ts";

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
  test.each([
    { name: "a non-number", argv: ["--concurrency", "many"], says: "--concurrency: must be a non-negative integer" },
    { name: "an unknown flag", argv: ["--bogus", "1"], says: "bogus" },
    {
      name: "inverted heartbeat thresholds",
      argv: ["--heartbeat-timeout-seconds", "60", "--unknown-after-seconds", "30"],
      says: "unknownAfterSeconds must be greater",
    },
    {
      name: "a renew deadline past the lease",
      argv: ["--lease-duration-seconds", "5", "--renew-deadline-seconds", "5"],
      says: "renewDeadlineSeconds must be less",
    },
    { name: "a bad boolean", argv: ["--leader-elect", "maybe"], says: "--leader-elect: must be true or false" },
  ])("rejects $name", ({ argv, says }) => {
    expect(() => loadConfig(argv, {})).toThrow(ConfigError);
    expect(() => loadConfig(argv, {})).toThrow(says);
  });
});
