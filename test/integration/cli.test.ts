// The `conductor` command line, run as a real process (as a user or a script
// would) against the shared control plane, with a controller, scheduler,
// gateway and agent for its namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { defineTool, ToolError } from "../../lib/agent/tool.ts";
import type { Task } from "../../lib/api/resources.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";

const bin = join(import.meta.dir, "..", "..", "services", "cli", "bin.ts");

let cluster: TestCluster;
let ns: string;
let stack: GatewayStack;

const echo = defineTool({
  name: "echo",
  description: "Repeats a text.",
  capability: "echo",
  inputSchema: {
    type: "object",
    properties: { text: { type: "string" }, times: { type: "integer", minimum: 1 } },
    required: ["text"],
  },
  handler: async ({ text, times = 1 }: { text: string; times?: number }) => ({ echoed: text.repeat(times) }),
});
const boom = defineTool({
  name: "boom",
  description: "Always fails.",
  capability: "echo",
  inputSchema: { type: "object" },
  handler: () => {
    throw new ToolError("Exploded", "the tool blew up on purpose");
  },
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as its own process with the harness's kubeconfig. */
async function conductor(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const proc = Bun.spawn([process.execPath, bin, ...args], {
    env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** A long-running CLI process whose output the test reads as it comes. */
function background(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, bin, ...args], {
    env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) out += decoder.decode(chunk);
  })();
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += decoder.decode(chunk);
  })();
  return { proc, stdout: () => out, stderr: () => err };
}

const lines = (s: string) => s.trimEnd().split("\n");
const schedulerAddress = () => `127.0.0.1:${stack.conductor.scheduler.port}`;

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("cli");
  stack = await startGatewayStack(cluster, ns, [echo, boom], { agentName: "echo-agent" });
  // A second agent that never heartbeats: never Ready, and without the capability.
  await cluster.mcp.agents.create(ns, {
    metadata: { name: "gpu-agent" },
    spec: { capabilities: ["gpu"], tags: ["big"], maxConcurrentTasks: 2 },
  });
  await eventually(async () => (await cluster.mcp.agents.get(ns, "echo-agent")).status?.phase === "Ready", {
    message: "echo-agent Ready",
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe("conductor agents and tasks", () => {
  test("agents shows kubectl's columns and the agents' state", async () => {
    const [ours, theirs] = await Promise.all([
      conductor(["agents", "-n", ns]),
      cluster.kubectl(["get", "agents", "-n", ns]),
    ]);
    expect(ours.code).toBe(0);
    expect(theirs.code).toBe(0);
    // Same header, spaced as kubectl spaces it.
    expect(lines(ours.stdout)[0]).toBe(lines(theirs.stdout)[0] as string);
    expect(lines(ours.stdout)[0]).toMatch(/^NAME\s+PHASE\s+TASKS\s+MAX\s+CAPABILITIES\s+REASON\s+AGE$/);
    const echoRow = lines(ours.stdout).find((l) => l.startsWith("echo-agent"));
    expect(echoRow).toMatch(/^echo-agent\s+Ready\s+0\s+20\s+\["echo"\]\s+HeartbeatFresh\s+\d+s$/);
    const gpuRow = lines(ours.stdout).find((l) => l.startsWith("gpu-agent"));
    expect(gpuRow).toMatch(/^gpu-agent\s+(NotReady|Unknown)\s+0\s+2\s+\["gpu"\]\s+\w+\s+\d+s$/);
    // Every cell as kubectl renders it, ages aside (a second may pass between the two).
    const cells = (out: string) => lines(out).map((l) => l.replace(/\b\d+s\b/g, "N").replace(/\s+/g, " "));
    expect(cells(ours.stdout)).toEqual(cells(theirs.stdout));

    // -o wide adds the priority-1 columns, as kubectl's does.
    const [wide, kWide] = await Promise.all([
      conductor(["agents", "-n", ns, "-o", "wide"]),
      cluster.kubectl(["get", "agents", "-n", ns, "-o", "wide"]),
    ]);
    expect(lines(wide.stdout)[0]).toBe(lines(kWide.stdout)[0] as string);
    expect(wide.stdout).toContain('["big"]');
  });

  test("tasks: tables match kubectl, -o json and -o yaml carry the objects, -A adds NAMESPACE", async () => {
    await cluster.mcp.tasks.create(ns, {
      metadata: { name: "listed-task" },
      spec: { requiredCapabilities: ["gpu"], priority: 7, tool: "render" },
    });
    const ours = await conductor(["tasks", "-n", ns, "-o", "wide"]);
    const theirs = await cluster.kubectl(["get", "tasks", "-n", ns, "-o", "wide"]);
    expect(ours.code).toBe(0);
    expect(lines(ours.stdout)[0]).toBe(lines(theirs.stdout)[0] as string);
    expect(lines(ours.stdout).find((l) => l.startsWith("listed-task"))).toMatch(
      /^listed-task\s+(Pending\s+)?7\s+.*render\s+\["gpu"\]/,
    );

    const json = await conductor(["tasks", "-n", ns, "-o", "json"]);
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as { kind: string; items: Task[] };
    expect(list.kind).toBe("List");
    const task = list.items.find((t) => t.metadata.name === "listed-task");
    expect(task?.spec).toMatchObject({ requiredCapabilities: ["gpu"], priority: 7, tool: "render" });

    const yaml = await conductor(["tasks", "-n", ns, "-o", "yaml"]);
    expect(yaml.code).toBe(0);
    const fromYaml = parseYaml(yaml.stdout) as { items: Task[] };
    expect(fromYaml.items.map((t) => t.metadata.name)).toContain("listed-task");

    const all = await conductor(["tasks", "-A", "--field-selector", "status.phase=Pending"]);
    expect(all.code).toBe(0);
    expect(lines(all.stdout)[0]).toMatch(/^NAMESPACE\s+NAME\s+PHASE/);
    expect(all.stdout).toMatch(new RegExp(`${ns}\\s+listed-task\\s+Pending`));
  });

  test("an empty namespace says so on stderr and exits 0", async () => {
    const empty = await cluster.newNamespace("cli-empty");
    const res = await conductor(["tasks", "-n", empty]);
    expect(res).toMatchObject({ code: 0, stdout: "" });
    expect(res.stderr).toBe(`No resources found in ${empty} namespace.\n`);
  });

  test("--watch prints the table, then a row for each change", async () => {
    const watch = background(["tasks", "-n", ns, "--watch"]);
    try {
      await eventually(() => watch.stdout().startsWith("NAME"), { message: "the first table" });
      await cluster.mcp.tasks.create(ns, {
        metadata: { name: "watched-task" },
        spec: { requiredCapabilities: ["gpu"], priority: 3 },
      });
      // First the new task as created, then as the controller marks it Pending.
      await eventually(() => /^watched-task\s+Pending\s+3\b/m.test(watch.stdout()), {
        message: "a Pending row for watched-task",
      });
      await cluster.mcp.tasks.delete(ns, "watched-task");
      // Created, marked Pending, deleted: a row for each.
      await eventually(() => (watch.stdout().match(/^watched-task\s/gm)?.length ?? 0) >= 3, {
        message: "a row for each change",
      });
    } finally {
      watch.proc.kill("SIGINT");
    }
    expect(await watch.proc.exited).toBe(0);
    expect(lines(watch.stdout())[0]).toMatch(/^NAME\s+PHASE\s+PRIORITY\s+AGENT\s+ATTEMPTS\s+AGE$/);
    expect(watch.stderr()).toBe("");
  });

  test("also runs as a kubectl plugin", async () => {
    const pathDir = mkdtempSync(join(tmpdir(), "plugin-"));
    symlinkSync(bin, join(pathDir, "kubectl-conductor"));
    const res = await cluster.kubectl(["conductor", "agents", "-n", ns]).catch(() => undefined);
    // kubectl finds plugins on PATH; run it with ours (and bun) first on PATH.
    const proc = Bun.spawn([cluster.cp.binaries.kubectl, "conductor", "agents", "-n", ns], {
      env: {
        ...process.env,
        KUBECONFIG: cluster.kubeconfigPath,
        PATH: `${pathDir}:${dirname(process.execPath)}:${process.env.PATH}`,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(res?.code).not.toBe(0); // without it on PATH, kubectl knows no such command
    expect(code).toBe(0);
    expect(stdout).toMatch(/^echo-agent\s+Ready/m);
  });
});

describe("conductor whatif", () => {
  test("names the agent that fits and why the others do not", async () => {
    const res = await conductor([
      "whatif",
      "-n",
      ns,
      "--capability",
      "echo",
      "--priority",
      "8",
      "--scheduler",
      schedulerAddress(),
    ]);
    expect(res.code).toBe(0);
    expect(lines(res.stdout)[0]).toBe(`Chosen: echo-agent (2 agents considered in ${ns})`);
    expect(lines(res.stdout)[1]).toMatch(/^AGENT\s+FITS\s+SCORE\s+WHY$/);
    expect(res.stdout).toMatch(/^echo-agent\s+yes\s+[\d.]+\s+load 0\/20/m);
    expect(res.stdout).toMatch(/^gpu-agent\s+no\s+.*missing capability echo/m);
  });

  test("exits 1 when no agent fits, with the reasons; -o json carries the placement", async () => {
    const res = await conductor(["whatif", "-n", ns, "-c", "gpu", "--tag", "big", "--scheduler", schedulerAddress()]);
    expect(res.code).toBe(1);
    expect(res.stdout).toStartWith(`No agent fits (2 agents considered in ${ns}):`);
    expect(res.stdout).toMatch(/^echo-agent\s+no\s+missing capability gpu, missing required tag big/m);

    const json = await conductor(["whatif", "-n", ns, "-c", "echo", "-o", "json", "--scheduler", schedulerAddress()]);
    expect(json.code).toBe(0);
    const answer = JSON.parse(json.stdout);
    expect(answer.namespace).toBe(ns);
    expect(answer.placement.chosenAgent).toBe("echo-agent");
    expect(answer.placement.candidates).toHaveLength(2);
  });

  test("a scheduler that is not there is a clear error", async () => {
    const port = await freePort();
    const res = await conductor(["whatif", "-c", "echo", "--scheduler", `127.0.0.1:${port}`, "--timeout", "2"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toStartWith(`error: cannot reach the scheduler at 127.0.0.1:${port}`);
    expect(res.stdout).toBe("");
  });
});

describe("conductor call and describe task", () => {
  test("calls a tool through the gateway, with progress on stderr, and describes its Task", async () => {
    const res = await conductor(["call", "echo", "--arg", "text=ab", "--arg", "times=3", "--gateway", stack.url.href]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ echoed: "ababab" });
    expect(res.stderr).toContain("progress 0/4: task created");
    expect(res.stderr).toContain("progress 4/4: task finished");

    // The call left a Task; its timeline tells the story in order.
    const task = await eventually(async () =>
      (await cluster.mcp.tasks.list(ns)).items.find(
        (t) => t.spec.tool === "echo" && t.spec.payload?.times === 3 && t.status?.phase === "Completed",
      ),
    );
    const name = task.metadata.name as string;
    const described = await conductor(["describe", "task", name, "-n", ns]);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(`Name:         ${name}\n`);
    expect(described.stdout).toContain("Phase:        Completed\n");
    expect(described.stdout).toContain("Agent:        echo-agent\n");
    expect(described.stdout).toContain("Tool:         echo\n");
    const timeline = described.stdout.slice(described.stdout.indexOf("Timeline:"));
    expect(lines(timeline)[1]).toMatch(/^\s+TIME\s+AGE\s+SOURCE\s+TYPE\s+REASON\s+MESSAGE$/);
    const at = (s: string) => timeline.indexOf(s);
    // The gateway placed the call itself and created its Task bound to the agent (ADR 0013):
    // no placement write, so no Scheduled condition and no Assigned Event.
    for (const s of ["Created", "Started", "Completed"]) expect(at(s)).toBeGreaterThan(0);
    expect(at("Created")).toBeLessThan(at("Started"));
    expect(at("Started")).toBeLessThan(at("Completed"));
    expect(lines(timeline).at(-1)).toMatch(/Task\s+Completed\s+completed on echo-agent$/);
    expect(timeline).not.toMatch(/AgentFound|Event\s+Normal\s+Assigned/);

    const json = await conductor(["describe", "task", name, "-n", ns, "-o", "json"]);
    const doc = JSON.parse(json.stdout) as { task: Task; timeline: { at: number; reason: string }[] };
    expect(doc.task.status?.result).toEqual({ echoed: "ababab" });
    const times = doc.timeline.map((e) => e.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(doc.timeline[0]?.reason).toBe("Created");
  });

  test("--json gives all arguments; -o json prints the whole MCP result", async () => {
    const res = await conductor([
      "call",
      "echo",
      "--json",
      '{"text":"x","times":1}',
      "--arg",
      "times=2",
      "-q",
      "-o",
      "json",
      "--gateway",
      stack.url.href,
    ]);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe("");
    const result = JSON.parse(res.stdout);
    expect(result.structuredContent).toEqual({ echoed: "xx" });
    expect(result.isError).toBeFalsy();
  });

  test("a tool that fails, arguments the gateway rejects, and an unknown tool exit 1", async () => {
    const failed = await conductor(["call", "boom", "-q", "--gateway", stack.url.href]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe("error: tool boom failed: Exploded: the tool blew up on purpose\n");

    const invalid = await conductor(["call", "echo", "--arg", "times=2", "-q", "--gateway", stack.url.href]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("error: the gateway refused the call: MCP error -32602");
    expect(invalid.stderr).toContain("text");

    const unknown = await conductor(["call", "nope", "-q", "--gateway", stack.url.href]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("Unknown tool: nope");
  });

  test("a gateway that is not there is a clear error", async () => {
    const port = await freePort();
    const res = await conductor(["call", "echo", "--arg", "text=a", "--gateway", `http://127.0.0.1:${port}/mcp`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toStartWith(`error: cannot reach the gateway at http://127.0.0.1:${port}/mcp`);
  });

  test("describing a task that does not exist exits 1", async () => {
    const res = await conductor(["describe", "task", "no-such-task", "-n", ns]);
    expect(res).toMatchObject({ code: 1, stdout: "" });
    expect(res.stderr).toBe(`error: task "no-such-task" not found in namespace ${ns}\n`);
  });
});

describe("conductor errors", () => {
  const usage: [string, string[], string][] = [
    ["no command", [], "Commands:"],
    ["an unknown command", ["frobnicate"], 'error: unknown command "frobnicate"'],
    ["an unknown flag", ["tasks", "--bogus"], "error: tasks: Unknown option '--bogus'"],
    ["an unknown output format", ["agents", "-o", "xml"], 'error: agents: unknown output format "xml"'],
    ["a stray argument", ["agents", "extra"], 'error: agents: unexpected argument "extra"'],
    ["whatif without a capability", ["whatif"], "error: whatif: at least one --capability is required"],
    ["a priority out of range", ["whatif", "-c", "x", "-p", "11"], "--priority must be an integer from 1 to 10"],
    ["call without a tool", ["call"], "error: call: name the tool to call"],
    ["an --arg without =", ["call", "echo", "--arg", "text"], "--arg must look like KEY=VALUE"],
    ["--json that is not an object", ["call", "echo", "--json", "[1]"], "--json must be a JSON object"],
    ["--json that is not JSON", ["call", "echo", "--json", "{"], "--json is not valid JSON"],
    ["describing something else", ["describe", "pod", "x"], 'cannot describe "pod"'],
    ["describe task without a name", ["describe", "task"], "error: describe task: name the task"],
  ];
  test.each(usage)("%s is a usage error: exit 2 and a clear message", async (_name, args, message) => {
    const res = await conductor(args);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain(message);
    expect(res.stderr).not.toMatch(/^\s+at /m); // no stack trace
  });

  test("--help exits 0 and prints to stdout", async () => {
    for (const args of [["--help"], ["tasks", "--help"], ["whatif", "-h"], ["call", "--help"], ["describe", "-h"]]) {
      const res = await conductor(args);
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(/usage: conductor|Commands:/);
    }
  });

  test("a cluster that cannot be reached is a clear error, not a stack trace", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
    const kubeconfig = join(dir, "config");
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: gone, context: {cluster: gone, user: u, namespace: ${ns}}}]
current-context: gone
`,
    );
    for (const args of [["agents"], ["tasks", "--watch"], ["describe", "task", "x"]]) {
      const res = await conductor(args, { KUBECONFIG: kubeconfig });
      expect(res.code).toBe(1);
      expect(res.stderr).toStartWith(`error: cannot reach the Kubernetes API at https://127.0.0.1:${port}:`);
      expect(res.stderr).not.toMatch(/^\s+at /m);
    }
    // --kubeconfig wins over $KUBECONFIG, and a missing file is named.
    const missing = await conductor(["agents", "--kubeconfig", join(dir, "missing")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toStartWith(`error: cannot load the kubeconfig (${join(dir, "missing")})`);
  });
});

describe("conductor up", () => {
  test("runs the conductor on the configured cluster, which the other commands then reach; SIGTERM stops it", async () => {
    const upNs = await cluster.newNamespace("cli-up");
    const up = background(["up", "--namespace", upNs], { LOG_LEVEL: "error" });
    try {
      const ready = await eventually(() => up.stdout().includes("Press Ctrl-C") && up.stdout(), {
        timeout: 60_000,
        message: "up ready",
      });
      expect(ready).toContain(`Using the cluster at ${cluster.conn.server}`);
      expect(ready).toMatch(new RegExp(`Domain\\s+namespace ${upNs}`));
      const gateway = /MCP gateway\s+(\S+)/.exec(ready)?.[1] as string;
      const scheduler = /Scheduler\s+(\S+)/.exec(ready)?.[1] as string;

      await eventually(
        async () => /^data-processor-local\s+Ready\s/m.test((await conductor(["agents", "-n", upNs])).stdout),
        {
          timeout: 20_000,
          message: "the example agent Ready",
        },
      );
      const whatif = await conductor(["whatif", "-n", upNs, "-c", "data-processing"], {
        CONDUCTOR_SCHEDULER: scheduler,
      });
      expect(whatif.code).toBe(0);
      expect(lines(whatif.stdout)[0]).toBe(`Chosen: data-processor-local (1 agent considered in ${upNs})`);
      const call = await conductor(["call", "csv_to_json", "--arg", "csv=a,b\n1,2", "-q"], {
        CONDUCTOR_GATEWAY: gateway,
      });
      expect(call.code).toBe(0);
      expect(JSON.parse(call.stdout)).toMatchObject({ rows: [{ a: "1", b: "2" }] });
    } finally {
      up.proc.kill("SIGTERM");
    }
    expect(await up.proc.exited).toBe(0);
    expect(up.stdout()).toContain("Stopped.");
  }, 90_000);
});
