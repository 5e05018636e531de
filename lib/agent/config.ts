/**
 * The agent runtime's settings, which every agent reads (runAgent), plus any
 * of the agent's own; docs/operations.md#configuration lists them. In a pod,
 * POD_NAME, POD_UID and NAMESPACE come from the Downward API and the rest from
 * the overlay's mcp-agent-config ConfigMap.
 */
import { hostname } from "node:os";
import {
  boolean,
  type ConfigOf,
  defineProgram,
  list,
  logLevel,
  number,
  port,
  type Specs,
  string,
} from "../config/config.ts";

const seconds = (env: string, fallback: number, min: number, doc: string) =>
  number({ env, default: fallback, min, doc });

export const agentSettings = (kind: string) => ({
  name: string({
    env: "POD_NAME",
    default: () => `${kind}-${hostname()}-${process.pid}`,
    defaultDoc: "<kind>-<hostname>-<pid>",
    doc: "The Agent's name; in a pod, the pod's (the admission policy lets it write only that Agent).",
  }),
  namespace: string({
    env: ["NAMESPACE", "POD_NAMESPACE"],
    default: "mcp-system",
    doc: "The namespace (domain) it serves.",
  }),
  // The pod, apart from the Agent's name (which --name may set): an owner
  // reference must name the pod exactly, or the garbage collector deletes the Agent.
  podName: string({
    env: "POD_NAME",
    flag: false,
    defaultDoc: "none",
    doc: "The pod it runs in (Downward API metadata.name), in the namespace it serves.",
  }),
  podUid: string({
    env: "POD_UID",
    flag: false,
    defaultDoc: "none",
    doc: "The pod's uid (Downward API metadata.uid); with podName, the pod owns the Agent, which goes with it.",
  }),
  tags: list({ env: "AGENT_TAGS", default: [], defaultDoc: "none", doc: "Tags a Task's affinity can ask for." }),
  maxConcurrentTasks: number({
    env: "AGENT_MAX_CONCURRENT_TASKS",
    default: 5,
    integer: true,
    min: 1,
    doc: "Tasks it runs at once at most.",
  }),
  heartbeatIntervalSeconds: seconds("AGENT_HEARTBEAT_INTERVAL_SECONDS", 10, 0.1, "How often it heartbeats."),
  taskTimeoutSeconds: seconds("AGENT_TASK_TIMEOUT_SECONDS", 300, 0.1, "A tool's time limit, unless it sets its own."),
  runningAfterSeconds: seconds(
    "AGENT_RUNNING_AFTER_SECONDS",
    1,
    0,
    "How long a task runs before it is marked Running (0: at once); a shorter call writes only its result.",
  ),
  shutdownGraceSeconds: seconds(
    "AGENT_SHUTDOWN_GRACE_SECONDS",
    25,
    0,
    "On SIGTERM, how long the tasks in flight may take to finish.",
  ),
  metricsPort: port({ env: "AGENT_METRICS_PORT", default: 8080, doc: "The port of /metrics and the probes." }),
  // What the agent offers, as Kubernetes quantities (in a pod: its resource limits).
  cpu: string({ env: "AGENT_CPU", defaultDoc: "none", doc: "The CPU it offers, a Kubernetes quantity." }),
  memory: string({ env: "AGENT_MEMORY", defaultDoc: "none", doc: "The memory it offers, a Kubernetes quantity." }),
  gpu: boolean({ env: "AGENT_GPU", default: false, doc: "Whether it offers a GPU." }),
  logLevel: logLevel(),
});

export type AgentSettings = ReturnType<typeof agentSettings>;
/** An agent's configuration: the runtime's settings and its own (`S`). */
export type AgentConfig<S extends Specs> = ConfigOf<AgentSettings> & ConfigOf<S>;

/** An agent's program: the runtime's settings and its own (`extra`). */
export const agentProgram = <S extends Specs>(kind: string, extra: S) =>
  defineProgram({
    name: kind,
    usage: `bun <agent>/main.ts [flags]`,
    summary: `The ${kind} agent.`,
    configEnv: "AGENT_CONFIG",
    settings: { ...agentSettings(kind), ...extra },
  });
