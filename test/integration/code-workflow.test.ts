// The code workflow end to end (docs/examples/code-workflow.md) on the local
// control plane: the Plan in services/agents/code-writer/code-workflow.yaml run
// through the gateway's conductor__run_plan by an official SDK client that
// answers sampling with a fixed program. The code-writer agent asks the
// client's model for the program (ctx.sample, relayed by the gateway to the
// client that runs the plan), the real code-runner checks it against its
// policy and runs it in bubblewrap, and the code-writer reports the run. A
// program the policy refuses fails the run step (PrecheckFailed) and skips the
// report; a client without sampling is told so at once, in both protocol
// eras. It prints what the plan costs per step against the same three calls
// made one after another by the client.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { parse } from "yaml";
import { AgentRuntime } from "../../lib/agent/runtime.ts";
import type { AnyTool } from "../../lib/agent/tool.ts";
import type { PlanSpecStepsItem, Task } from "../../lib/api/resources.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { silentLogger } from "../../lib/log.ts";
import { codeRunnerTools } from "../../services/agents/code-runner/tools.ts";
import { tools as codeWriterTools } from "../../services/agents/code-writer/tools.ts";
import { labels } from "../../services/gateway/calls/marks.ts";
import { Gateway, serveGateway } from "../../services/gateway/gateway.ts";
import type { PlanSummary } from "../../services/gateway/plans.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { startConductor, type TestConductor } from "../harness/conductor.ts";
import { eventually } from "../harness/eventually.ts";
import { rpc2026 } from "../harness/mcp-2026.ts";

let cluster: TestCluster;
let ns: string;
let conductor: TestConductor;
let agents: AgentRuntime[] = [];
let gateway: Gateway;
let server: ReturnType<typeof serveGateway>;
let url: URL;

/** The example's plan, as the docs run it. */
const manifest = parse(readFileSync(join(repoRoot, "services/agents/code-writer/code-workflow.yaml"), "utf8")) as {
  metadata: { name: string };
  spec: { steps: PlanSpecStepsItem[]; context: Record<string, unknown> };
};
const planArguments = (context: Record<string, unknown> = {}) => ({
  name: manifest.metadata.name,
  steps: manifest.spec.steps,
  context: { ...manifest.spec.context, ...context },
});

const sumOfTen = "print(sum(range(10)))";
/** What a model might answer: the program in a fenced block, with words around it. */
const modelAnswer = (code: string) => `Here is the program:\n\n\`\`\`python\n${code}\n\`\`\`\n`;

/** An official 1.x (2025-11-25) client; with sampling, its "model" answers every request with this program. */
async function client2025(opts: { sampling: boolean; snippet?: string; prompts?: string[] }) {
  const c = new Client(
    { name: "code-workflow-test", version: "1.0.0" },
    { capabilities: opts.sampling ? { sampling: {} } : {} },
  );
  if (opts.sampling)
    c.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      const first = [req.params.messages[0]?.content].flat()[0];
      opts.prompts?.push(first?.type === "text" ? first.text : "");
      return {
        role: "assistant",
        model: "fixed-snippet",
        content: { type: "text", text: modelAnswer(opts.snippet ?? sumOfTen) },
      };
    });
  await c.connect(new StreamableHTTPClientTransport(url));
  return c;
}

const runPlan = async (c: Client, args = planArguments()) => {
  const res = (await c.callTool({ name: "conductor__run_plan", arguments: args }, undefined, {
    timeout: 60_000,
  })) as CallToolResult;
  return { res, summary: res.structuredContent as unknown as PlanSummary };
};
const stepOf = (s: PlanSummary, name: string) => s.steps.find((x) => x.name === name);

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("code-workflow");
  conductor = await startConductor(cluster, ns);
  const agent = (name: string, tools: AnyTool[]) =>
    new AgentRuntime({ name, namespace: ns, conn: cluster.conn, tools, heartbeatIntervalMs: 500, log: silentLogger });
  // The real code-runner, precheck and sandbox as deployed (as root it drops to an unprivileged uid per run).
  agents = [agent("code-runner-1", codeRunnerTools()), agent("code-writer-1", codeWriterTools)];
  for (const a of agents) await a.start();
  gateway = new Gateway({
    conn: cluster.conn,
    namespace: ns,
    log: silentLogger,
    security: { ratePerSecond: 10_000, burst: 10_000, allowUnauthenticated: true },
    plans: true,
  });
  await gateway.start();
  server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
  url = new URL(`http://127.0.0.1:${server.port}/mcp`);
  await eventually(() => ["write_code", "run_code", "report_run"].every((t) => gateway.get(t)), {
    timeout: 20_000,
    message: "the agents' tools in the registry",
  });
}, 120_000);

afterAll(async () => {
  await server?.stop(true);
  await gateway?.stop();
  for (const a of agents) await a.shutdown();
  await conductor?.stop();
});

describe("a 2025-11-25 client that answers sampling", () => {
  test("plan → write the program (the client's model) → precheck and run it → report: the report has 45", async () => {
    const prompts: string[] = [];
    const c = await client2025({ sampling: true, prompts });
    try {
      const { res, summary } = await runPlan(c);
      expect(res.isError).toBeUndefined();
      expect(summary.phase).toBe("Succeeded");
      expect(summary.steps.map((s) => [s.name, s.phase])).toEqual([
        ["write", "Succeeded"],
        ["run", "Succeeded"],
        ["report", "Succeeded"],
      ]);
      expect(summary.results.report).toMatchObject({
        ok: true,
        output: "45",
        exitCode: 0,
        summary: expect.stringMatching(/^the python program exited 0 in \d+ ms, printed "45"\.$/),
      });
      // the goal reached the model through the plan's context, once
      expect(prompts).toEqual(["Write a Python 3 program that prints the sum of the integers from 0 to 9"]);
      // what ran is what the model wrote, taken out of its fenced block
      const write = await cluster.mcp.tasks.get(ns, stepOf(summary, "write")?.task ?? "");
      expect(write.status?.result).toEqual({ code: sumOfTen, language: "python", model: "fixed-snippet" });
      const run = await cluster.mcp.tasks.get(ns, stepOf(summary, "run")?.task ?? "");
      expect(run.spec.payload).toEqual({ code: sumOfTen, language: "python", timeoutMs: 5000 });
      expect(run.status?.result).toMatchObject({ exitCode: 0, stdout: "45\n", timedOut: false });
      // the question and its answer are off the Task once the tool took them
      expect(write.status?.inputRequests ?? {}).toEqual({});
      expect(write.status?.inputResponses ?? {}).toEqual({});
    } finally {
      await c.close();
    }
  }, 60_000);

  test("a program the policy refuses: the run step fails PrecheckFailed, nothing runs, and the report is skipped", async () => {
    const c = await client2025({ sampling: true, snippet: "import socket\nprint(socket.gethostname())" });
    try {
      const { res, summary } = await runPlan(c);
      expect(res.isError).toBe(true);
      expect(summary.phase).toBe("Failed");
      expect(stepOf(summary, "write")?.phase).toBe("Succeeded");
      expect(stepOf(summary, "run")).toMatchObject({
        phase: "Failed",
        reason: "PrecheckFailed",
        message: expect.stringContaining('import of "socket" is forbidden (rule forbidden-import)'),
      });
      // onFailure FailPlan (the default): what depends on the failed step does not start
      expect(stepOf(summary, "report")).toMatchObject({ phase: "Skipped" });
      expect(stepOf(summary, "report")?.task).toBeUndefined();
      expect(summary.results).toEqual({});
    } finally {
      await c.close();
    }
  }, 60_000);

  test("a client without sampling: the write step fails at once, naming the capability; nothing else runs", async () => {
    const c = await client2025({ sampling: false });
    try {
      const started = performance.now();
      const { res, summary } = await runPlan(c);
      const took = performance.now() - started;
      expect(res.isError).toBe(true);
      expect(stepOf(summary, "write")).toMatchObject({
        phase: "Failed",
        reason: "InputNotSupported",
        message: "the tool asked for sampling/createMessage, but this client did not declare the sampling capability",
      });
      expect(stepOf(summary, "run")?.phase).toBe("Skipped");
      expect(stepOf(summary, "report")?.phase).toBe("Skipped");
      // never a wait for the answer-by time (ten minutes)
      expect(took).toBeLessThan(20_000);
    } finally {
      await c.close();
    }
  }, 60_000);
});

describe("the example's client, as the docs run it", () => {
  const run = async (...args: string[]) => {
    const proc = Bun.spawn(
      [
        process.execPath,
        join(repoRoot, "services/agents/code-writer/workflow-client.ts"),
        join(repoRoot, "services/agents/code-writer/code-workflow.yaml"),
        ...args,
      ],
      { env: { ...process.env, CONDUCTOR_GATEWAY: url.href }, stdout: "pipe", stderr: "pipe" },
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { code, summary: JSON.parse(stdout) as PlanSummary, stderr };
  };

  test("runs the plan, answering the model's part, and exits 0 with the report", async () => {
    const { code, summary, stderr } = await run("--snippet", sumOfTen);
    expect(code).toBe(0);
    expect(summary.results.report).toMatchObject({ ok: true, output: "45" });
    expect(stderr).toContain("model asked: Write a Python 3 program that prints the sum of the integers from 0 to 9");
    expect(stderr).toContain("3/3 step report Succeeded");
  }, 60_000);

  test("exits 1 when the plan fails: another goal's program the policy refuses, or no sampling", async () => {
    const refused = await run(
      "--goal",
      "prints the host name",
      "--snippet",
      "import socket\nprint(socket.gethostname())",
    );
    expect(refused.code).toBe(1);
    expect(stepOf(refused.summary, "run")).toMatchObject({ phase: "Failed", reason: "PrecheckFailed" });
    expect(refused.stderr).toContain("model asked: Write a Python 3 program that prints the host name");
    const none = await run("--no-sampling");
    expect(none.code).toBe(1);
    expect(stepOf(none.summary, "write")).toMatchObject({ phase: "Failed", reason: "InputNotSupported" });
  }, 60_000);
});

describe("a 2026-07-28 client", () => {
  const meta = (capabilities: Record<string, unknown>) => ({
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": capabilities,
  });
  const sampled = (code: string) => ({
    role: "assistant",
    model: "fixed-snippet",
    content: { type: "text", text: modelAnswer(code) },
  });

  test("without sampling: -32021 naming the step and the capability, as a single call is refused", async () => {
    const { status, body } = await rpc2026(
      url,
      "tools/call",
      { name: "conductor__run_plan", arguments: planArguments() },
      { meta: meta({}), id: 4021 },
    );
    expect(status).toBe(400);
    expect(body.error).toEqual({
      code: -32021,
      message:
        "step write: the tool asked for sampling/createMessage, but this client did not declare the sampling capability",
      data: { requiredCapabilities: { sampling: {} } },
    });
    // the call is over, and so is its plan
    const plans = (await cluster.mcp.plans.list(ns)).items.filter(
      (p) => p.metadata.annotations?.["mcp.io/mcp-request-id"] === "4021",
    );
    await eventually(
      async () => {
        const done = await Promise.all(plans.map((p) => cluster.mcp.plans.get(ns, p.metadata.name ?? "")));
        return done.every((p) => ["Failed", "Cancelled"].includes(p.status?.phase ?? ""));
      },
      { message: "the refused call's plan ended" },
    );
  }, 60_000);

  test("answers the call comes with (inputResponses, no requestState) answer the step that asks under that key", async () => {
    const { status, body } = await rpc2026(
      url,
      "tools/call",
      { name: "conductor__run_plan", arguments: planArguments(), inputResponses: { code: sampled(sumOfTen) } },
      { meta: meta({ sampling: {} }) },
    );
    expect(status).toBe(200);
    expect(body.result.structuredContent).toMatchObject({ phase: "Succeeded", results: { report: { output: "45" } } });
  }, 60_000);

  test("the 2.x SDK client answers the write step's question by itself, and the plan goes on", async () => {
    const c = new ModernClient(
      { name: "code-workflow-2026", version: "1.0.0" },
      { capabilities: { sampling: {} }, versionNegotiation: { mode: "auto" } },
    );
    let asked = 0;
    c.setRequestHandler("sampling/createMessage", async () => {
      asked++;
      return sampled(sumOfTen) as never;
    });
    await c.connect(new ModernTransport(url));
    try {
      expect(c.getProtocolEra()).toBe("modern");
      const res = await c.callTool({ name: "conductor__run_plan", arguments: planArguments() });
      const summary = res.structuredContent as unknown as PlanSummary;
      const write = await cluster.mcp.tasks.get(ns, stepOf(summary, "write")?.task ?? "");
      // The controller records the plan's caller on its steps' Tasks: the client's retry
      // (requestState naming the write step's Task) continues the plan.
      expect(write.metadata.labels?.[labels.client]).toBeDefined();
      expect(asked).toBe(1);
      expect(summary).toMatchObject({ phase: "Succeeded", results: { report: { output: "45" } } });
    } finally {
      await c.close();
    }
  }, 60_000);
});

/**
 * When each of the namespace's Tasks was first seen created, assigned (placed
 * by the controller) and completed (ms, this process's clock), by a watch:
 * where a step's time goes.
 */
function taskTimes() {
  const seen = new Map<string, { created: number; assigned?: number; completed?: number }>();
  const look = (t: Task) => {
    const now = performance.now();
    const name = t.metadata.name ?? "";
    const s = seen.get(name) ?? { created: now };
    // a call's Task is bound to its agent at creation (ADR 0013): it is never seen Assigned
    if (t.status?.phase === "Assigned") s.assigned ??= now;
    if (t.status?.phase === "Completed") s.completed ??= now;
    seen.set(name, s);
  };
  const informer = new Informer<Task>(cluster.mcp.tasks, { namespace: ns }).on({ add: look, update: look });
  return { seen, start: () => informer.start(), stop: () => informer.stop() };
}

describe("what the plan costs", () => {
  test("per step, against the same three calls made one after another by the client", async () => {
    const times = taskTimes();
    await times.start();
    const c = await client2025({ sampling: true });
    const direct = async () => {
      const call = async (name: string, args: Record<string, unknown>) =>
        (
          (await c.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })) as CallToolResult & {
            structuredContent: Record<string, unknown>;
          }
        ).structuredContent;
      const written = await call("write_code", { goal: String(manifest.spec.context.goal), language: "python" });
      const run = await call("run_code", { code: written.code, language: written.language, timeoutMs: 5000 });
      return call("report_run", { run, code: written.code, language: written.language });
    };
    const rounds = 5;
    const wall = { direct: [] as number[], plan: [] as number[] };
    // per round, when the call (or the first of the three) was sent and its answer came
    const spans = { direct: [] as [number, number][], plan: [] as [number, number][] };
    // per round, the three Tasks in order (write, run, report)
    const tasks = { direct: [] as string[][], plan: [] as string[][] };
    const made = () => new Set(times.seen.keys());
    try {
      // one of each first, not measured: the agents' and the gateway's first calls warm them
      await direct();
      await runPlan(c);
      for (let i = 0; i < rounds; i++) {
        let before = made();
        let t = performance.now();
        expect(await direct()).toMatchObject({ output: "45" });
        wall.direct.push(performance.now() - t);
        spans.direct.push([t, performance.now()]);
        tasks.direct.push([...made()].filter((n) => !before.has(n)));
        expect(tasks.direct.at(-1)).toHaveLength(3);
        before = made();
        t = performance.now();
        const { summary } = await runPlan(c);
        wall.plan.push(performance.now() - t);
        spans.plan.push([t, performance.now()]);
        expect(summary.results.report).toMatchObject({ output: "45" });
        tasks.plan.push(summary.steps.map((s) => s.task ?? ""));
        expect(tasks.plan.at(-1)?.every((n) => !before.has(n))).toBe(true);
      }
    } finally {
      await c.close();
      await times.stop();
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const round = (x: number) => Math.round(x * 10) / 10;
    const at = (name: string) => times.seen.get(name) as NonNullable<ReturnType<typeof times.seen.get>>;
    for (const names of [...tasks.direct, ...tasks.plan])
      expect(names.map((n) => at(n).completed)).not.toContain(undefined);
    // a step's Task created after the one before it completed (the client's next call, or the
    // controller starting the step), and completed after it was created (bound at once by the
    // gateway, or placed by the controller; then run)
    const gaps = (rs: string[][]) =>
      rs.flatMap((names) => names.slice(1).map((n, i) => at(n).created - (at(names[i] as string).completed as number)));
    // the Task's time from creation to its result: placed (a step's, by the controller), then run by its agent
    const placed = (rs: string[][], i: number) =>
      rs.map(
        (names) => (at(names[i] as string).assigned ?? at(names[i] as string).created) - at(names[i] as string).created,
      );
    const ran = (rs: string[][], i: number) =>
      rs.map((names) => {
        const t = at(names[i] as string);
        return (t.completed as number) - (t.assigned ?? t.created);
      });
    // before the first Task (the call checked and, for a plan, the Plan created and its first step
    // started), and after the last completed (the result in the client's hands)
    const head = (k: "direct" | "plan") =>
      tasks[k].map((names, r) => at(names[0] as string).created - (spans[k][r] as [number, number])[0]);
    const tail = (k: "direct" | "plan") =>
      tasks[k].map(
        (names, r) => (spans[k][r] as [number, number])[1] - (at(names.at(-1) as string).completed as number),
      );
    const steps = manifest.spec.steps.length;
    const figures = {
      steps,
      rounds,
      directMs: Math.round(median(wall.direct)),
      planMs: Math.round(median(wall.plan)),
      overheadMsPerStep: Math.round((median(wall.plan) - median(wall.direct)) / steps),
      headMedianMs: { direct: round(median(head("direct"))), plan: round(median(head("plan"))) },
      tailMedianMs: { direct: round(median(tail("direct"))), plan: round(median(tail("plan"))) },
      nextCreatedAfterCompletedMedianMs: {
        direct: round(median(gaps(tasks.direct))),
        plan: round(median(gaps(tasks.plan))),
      },
      placedMedianMs: Object.fromEntries(
        manifest.spec.steps.map((st, i) => [
          st.name,
          { direct: round(median(placed(tasks.direct, i))), plan: round(median(placed(tasks.plan, i))) },
        ]),
      ),
      ranMedianMs: Object.fromEntries(
        manifest.spec.steps.map((st, i) => [
          st.name,
          { direct: round(median(ran(tasks.direct, i))), plan: round(median(ran(tasks.plan, i))) },
        ]),
      ),
      all: { direct: wall.direct.map(Math.round), plan: wall.plan.map(Math.round) },
    };
    console.log(`code workflow overhead per step: ${JSON.stringify(figures)}`);
  }, 180_000);
});
