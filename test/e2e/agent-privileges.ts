// An agent's privileges as its real pod has them: the content domain's
// code-runner, with the service-account token its runtime container holds,
// speaking to the apiserver as the runtime does (the apiserver asks the
// agents' task authorizer, ADR 0011; the admission policies of deploy/policy
// judge its writes). Each refusal comes after the same token doing the
// allowed thing with the same Task, so that it can fail.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { eventually } from "../harness/eventually.ts";
import { gatewayOf, type NodeCluster } from "../harness/node.ts";
import type { E2e } from "./suite.ts";

const ns = "mcp-content";

let cluster: NodeCluster;
/** The code-runner pod whose token asAgent uses: the one running the Task at hand. */
let pod: string;

/**
 * One request to the apiserver from the agent's container with its own token
 * and CA (the pod's environment names the apiserver); its status and body.
 */
async function asAgent(
  method: "GET" | "PATCH",
  path: string,
  body?: unknown,
): Promise<{ status: number; body: { items?: { metadata: { name: string } }[]; message?: string } }> {
  const script = [
    "import json, os, ssl, sys, urllib.request, urllib.error",
    "sa = '/var/run/secrets/kubernetes.io/serviceaccount'",
    "ctx = ssl.create_default_context(cafile=sa + '/ca.crt')",
    "host = os.environ['KUBERNETES_SERVICE_HOST'] + ':' + os.environ['KUBERNETES_SERVICE_PORT']",
    "data = sys.argv[3].encode() if sys.argv[3] else None",
    "req = urllib.request.Request('https://' + host + sys.argv[2], data=data, method=sys.argv[1])",
    "req.add_header('Authorization', 'Bearer ' + open(sa + '/token').read())",
    "req.add_header('Content-Type', 'application/merge-patch+json')",
    "try:",
    "    r = urllib.request.urlopen(req, context=ctx, timeout=10)",
    "    print(json.dumps({'status': r.status, 'body': json.loads(r.read())}))",
    "except urllib.error.HTTPError as e:",
    "    print(json.dumps({'status': e.code, 'body': json.loads(e.read() or b'{}')}))",
  ].join("\n");
  const res = await cluster.kubectl([
    "-n",
    ns,
    "exec",
    pod,
    "-c",
    "agent",
    "--",
    "python3",
    "-I",
    "-c",
    script,
    method,
    path,
    body === undefined ? "" : JSON.stringify(body),
  ]);
  if (res.code !== 0) throw new Error(`exec in ${ns}/${pod}: exit ${res.code}\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split("\n").at(-1) ?? "{}");
}

const tasksPath = `/apis/mcp.io/v1/namespaces/${ns}/tasks`;
const assignedTo = (agent: string) =>
  `${tasksPath}?fieldSelector=${encodeURIComponent(`status.assignedAgent=${agent}`)}`;

/**
 * Runs `check` while a run_code call sleeps in a snippet, so that its Task is
 * Running on one of the code-runner's pods; `pod` is that pod.
 */
async function whileRunning(client: Client, check: (task: string) => Promise<void>): Promise<void> {
  const call = client
    .callTool({ name: "run_code", arguments: { language: "python", code: "import time\ntime.sleep(9)" } })
    .catch((err: unknown) => err);
  try {
    const running = await eventually(
      async () => {
        const list = await cluster.conn.request<{
          items: { metadata: { name: string }; status?: { phase?: string; assignedAgent?: string } }[];
        }>("GET", tasksPath);
        return list.items.find((t) => t.status?.phase === "Running" && t.status.assignedAgent);
      },
      { message: "a Running Task of the code-runner", timeout: 30_000 },
    );
    pod = running.status?.assignedAgent ?? "";
    await check(running.metadata.name);
  } finally {
    await call;
  }
}

export function registerAgentPrivileges(e2e: E2e): void {
  describe("an agent's privileges, from its pod", () => {
    let client: Client;

    beforeAll(async () => {
      cluster = e2e.cluster;
      const { url, token } = await gatewayOf(cluster, ns);
      client = new Client({ name: "e2e-agent-privileges", version: "1.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
      );
    }, 60_000);

    afterAll(async () => {
      await client?.close();
    });

    test("it lists its own Tasks and reads no other: not by another agent's name, not all, not by name", async () => {
      await whileRunning(client, async (task) => {
        const own = await asAgent("GET", assignedTo(pod));
        expect(own.status).toBe(200);
        expect(own.body.items?.map((t) => t.metadata.name)).toContain(task);
        // The admin sees the same Task in the unfiltered list (whileRunning found it there); the agent may not.
        for (const path of [assignedTo("mcp-agent-someone-else"), tasksPath, `${tasksPath}/${task}`]) {
          const refused = await asAgent("GET", path);
          expect({ path, status: refused.status }).toEqual({ path, status: 403 });
        }
      });
    }, 90_000);

    test("it may report on its running Task, and not rewrite its attempts or its phase", async () => {
      await whileRunning(client, async (task) => {
        // dryRun=All: admission judges the write in full and nothing is stored, so the call runs on untouched.
        const status = `${tasksPath}/${task}/status?dryRun=All`;
        const progress = await asAgent("PATCH", status, { status: { progress: { done: 1, total: 2 } } });
        expect(progress.status).toBe(200);
        const attempts = await asAgent("PATCH", status, { status: { attempts: 7 } });
        expect(attempts.status).toBe(403);
        expect(attempts.body.message).toContain("an agent may not change status.attempts");
        const phase = await asAgent("PATCH", status, { status: { phase: "Pending" } });
        expect(phase.status).toBe(403);
        expect(phase.body.message).toContain(
          "an agent may move its task only Assigned (or bound) → Running → Completed or Failed",
        );
      });
    }, 90_000);
  });
}
