import { describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { filesystemSettings } from "../../services/agents/filesystem/config.ts";
import { httpClientSettings } from "../../services/agents/http-client/config.ts";
import { loadConfig } from "../config/config.ts";
import { agentProgram } from "./config.ts";

const runtime = agentProgram("demo", {});

describe("the agent runtime's configuration", () => {
  test("defaults", () => {
    expect(loadConfig(runtime, [], {})).toEqual({
      name: `demo-${hostname()}-${process.pid}`,
      namespace: "mcp-system",
      podName: undefined,
      podUid: undefined,
      tags: [],
      maxConcurrentTasks: 5,
      heartbeatIntervalSeconds: 10,
      taskTimeoutSeconds: 300,
      runningAfterSeconds: 1,
      shutdownGraceSeconds: 25,
      metricsPort: 8080,
      cpu: undefined,
      memory: undefined,
      gpu: false,
      logLevel: "info",
    });
  });

  test.each([
    { name: "the pod's name", argv: [], env: { POD_NAME: "agent-7f" }, want: { name: "agent-7f" } },
    { name: "a name that beats it", argv: ["--name=a"], env: { POD_NAME: "p" }, want: { name: "a" } },
    // The pod is the pod whatever the Agent is named: its owner reference must name it exactly.
    {
      name: "the pod, apart from the Agent's name",
      argv: ["--name=a"],
      env: { POD_NAME: "p", POD_UID: "u-1" },
      want: { name: "a", podName: "p", podUid: "u-1" },
    },
    { name: "POD_NAMESPACE", argv: [], env: { POD_NAMESPACE: "pn" }, want: { namespace: "pn" } },
    {
      name: "NAMESPACE before POD_NAMESPACE",
      argv: [],
      env: { NAMESPACE: "n", POD_NAMESPACE: "pn" },
      want: { namespace: "n" },
    },
    { name: "tags", argv: ["--tags=gpu, big"], env: {}, want: { tags: ["gpu", "big"] } },
    {
      name: "the ConfigMap's values",
      argv: [],
      env: {
        AGENT_MAX_CONCURRENT_TASKS: "5",
        AGENT_HEARTBEAT_INTERVAL_SECONDS: "10",
        AGENT_TASK_TIMEOUT_SECONDS: "300",
        AGENT_SHUTDOWN_GRACE_SECONDS: "25",
        AGENT_CPU: "1",
        AGENT_MEMORY: "512Mi",
      },
      want: { cpu: "1", memory: "512Mi" },
    },
    {
      name: "a fast heartbeat",
      argv: ["--heartbeat-interval-seconds=0.5"],
      env: {},
      want: { heartbeatIntervalSeconds: 0.5 },
    },
    { name: "no grace", argv: ["--shutdown-grace-seconds=0"], env: {}, want: { shutdownGraceSeconds: 0 } },
    { name: "a GPU, as before", argv: ["--gpu", "true"], env: {}, want: { gpu: true } },
    { name: "a GPU, bare", argv: ["--gpu"], env: {}, want: { gpu: true } },
    { name: "a GPU from the environment", argv: [], env: { AGENT_GPU: "true" }, want: { gpu: true } },
  ])("accepts $name", ({ argv, env, want }) => {
    expect(loadConfig(runtime, argv, env)).toMatchObject(want);
  });

  test.each([
    {
      name: "no task at a time",
      argv: ["--max-concurrent-tasks=0"],
      says: 'demo: maxConcurrentTasks (--max-concurrent-tasks/AGENT_MAX_CONCURRENT_TASKS): must be an integer of at least 1, got "0"',
    },
    {
      name: "a heartbeat too fast",
      argv: ["--heartbeat-interval-seconds=0.01"],
      says: "must be a number of at least 0.1",
    },
    { name: "a negative grace", argv: ["--shutdown-grace-seconds=-1"], says: "must be a number of at least 0" },
    { name: "a bad GPU", argv: ["--gpu=yes"], says: "gpu (--gpu/AGENT_GPU): must be true or false" },
    { name: "another agent's flag", argv: ["--root=/data"], says: "demo: --root: no such flag" },
  ])("rejects $name", ({ argv, says }) => {
    expect(() => loadConfig(runtime, argv, {})).toThrow(says);
  });
});

describe("the example agents' own settings", () => {
  test.each([
    { name: "filesystem root", extra: filesystemSettings, argv: [], env: {}, want: { root: "/data" } },
    { name: "FS_ROOT", extra: filesystemSettings, argv: [], env: { FS_ROOT: "/srv" }, want: { root: "/srv" } },
    { name: "--root", extra: filesystemSettings, argv: ["--root=/x"], env: { FS_ROOT: "/srv" }, want: { root: "/x" } },
    { name: "no hosts", extra: httpClientSettings, argv: [], env: {}, want: { allowedHosts: [] } },
    {
      name: "HTTP_ALLOWED_HOSTS",
      extra: httpClientSettings,
      argv: [],
      env: { HTTP_ALLOWED_HOSTS: "api.example.com,*.internal" },
      want: { allowedHosts: ["api.example.com", "*.internal"] },
    },
  ])("$name", ({ extra, argv, env, want }) => {
    expect(loadConfig(agentProgram("x", extra), argv, env)).toMatchObject(want);
  });
});
