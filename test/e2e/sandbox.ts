// The code-runner as shipped (the content domain: non-root, read-only root,
// no capabilities, the node's Localhost seccomp profile), attacked from a
// snippet in its real pod. Each attack first shows the same action working
// for the agent itself, in the same container, so that its refusal can fail.
import { beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { eventually } from "../harness/eventually.ts";
import { gatewayOf, type NodeCluster } from "../harness/node.ts";
import type { E2e } from "./suite.ts";

const ns = "mcp-content";
const tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token";

let cluster: NodeCluster;
let figures: E2e["figures"];
let pod: string;

/** A command in the code-runner's own container, as the agent runs (its uid, its filesystem, its network). */
async function inAgent(args: string[]): Promise<string> {
  const res = await cluster.kubectl(["-n", ns, "exec", pod, "-c", "agent", "--", ...args]);
  if (res.code !== 0) throw new Error(`exec ${args.join(" ")}: exit ${res.code}\n${res.stderr}`);
  return res.stdout;
}

/** Snippets run through the agent's own sandbox module inside the pod; their results. */
async function snippets(jobs: { language: "python" | "javascript"; code: string }[]) {
  const script = `
    import { runSnippet } from "/app/services/agents/code-runner/sandbox.ts";
    const out = [];
    for (const j of ${JSON.stringify(jobs)}) {
      out.push(await runSnippet(j.language, j.code, "", { cpuSeconds: 2, memoryMb: 128, wallMs: 5000, maxOutputBytes: 16384, maxProcesses: 8 }));
    }
    console.log(JSON.stringify(out));`;
  const out = await inAgent(["bun", "-e", script]);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "[]") as { stdout: string; stderr: string; exitCode: number }[];
}

const python = (code: string) => ["python3", "-I", "-S", "-c", code];

export function registerSandbox(e2e: E2e): void {
  describe("the code sandbox in its shipped pod", () => {
    beforeAll(async () => {
      cluster = e2e.cluster;
      figures = e2e.figures;
      const pods = await cluster.conn.request<{
        items: { metadata: { name: string }; status: { phase: string } }[];
      }>("GET", `/api/v1/namespaces/${ns}/pods?labelSelector=app.kubernetes.io/name%3Dmcp-agent`);
      pod = pods.items.find((p) => p.status.phase === "Running")?.metadata.name ?? "";
      expect(pod).not.toBe("");
    });

    test("run_code through the domain's gateway, as a client calls it", async () => {
      const { url, token } = await gatewayOf(cluster, ns);
      const client = new Client({ name: "e2e-sandbox", version: "1.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
      );
      try {
        await eventually(async () => (await client.listTools()).tools.some((t) => t.name === "run_code"), {
          message: "run_code listed by the gateway",
          timeout: 60_000,
        });
        const started = performance.now();
        const result = await client.callTool({
          name: "run_code",
          arguments: { language: "python", code: "print(sum(range(10)))" },
        });
        figures.runCodeCallMs = Math.round(performance.now() - started);
        const text = (result.content as { type: string; text: string }[]).map((c) => c.text).join("");
        expect(result.isError).toBeFalsy();
        expect(JSON.parse(text)).toMatchObject({ exitCode: 0, stdout: "45\n" });
      } finally {
        await client.close();
      }
    }, 120_000);

    test("the pod runs as shipped: uid 65532, the Localhost seccomp profile, a service-account token", async () => {
      expect((await inAgent(["id", "-u"])).trim()).toBe("65532");
      const spec = await cluster.conn.request<{
        spec: { containers: { name: string; securityContext?: { seccompProfile?: { type: string } } }[] };
      }>("GET", `/api/v1/namespaces/${ns}/pods/${pod}`);
      expect(spec.spec.containers.find((c) => c.name === "agent")?.securityContext?.seccompProfile?.type).toBe(
        "Localhost",
      );
    });

    test("a snippet cannot read the agent's service-account token, which the agent itself reads", async () => {
      const token = await inAgent(["cat", tokenPath]);
      expect(token.split(".")).toHaveLength(3); // a JWT: the agent has it
      const [py, js] = await snippets([
        { language: "python", code: `print(open(${JSON.stringify(tokenPath)}).read())` },
        {
          language: "javascript",
          code: `console.log(require("fs").readFileSync(${JSON.stringify(tokenPath)}, "utf8"))`,
        },
      ]);
      expect(py?.stdout).toBe("");
      expect(py?.stderr).toContain("FileNotFoundError");
      expect(js?.stdout).toBe("");
      expect(js?.stderr).toContain("ENOENT");
    }, 60_000);

    test("a snippet cannot open a socket to the apiserver, which the agent itself reaches", async () => {
      const connect =
        "import os, socket\ns = socket.create_connection((os.environ.get('KUBERNETES_SERVICE_HOST', '10.0.0.1'), int(os.environ.get('KUBERNETES_SERVICE_PORT', '443'))), timeout=3)\nprint('connected')";
      expect((await inAgent(python(connect))).trim()).toBe("connected");
      // The snippet's environment has no KUBERNETES_* variables: the address is given to it.
      const host = (await inAgent(["sh", "-c", "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"])).trim();
      const [h, p] = host.split(":");
      const [r] = await snippets([
        {
          language: "python",
          code: `import socket\ntry:\n    socket.create_connection((${JSON.stringify(h)}, ${Number(p)}), timeout=3)\n    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)`,
        },
      ]);
      expect(r?.stdout).toBe("refused 13\n");
    }, 60_000);

    test("a snippet forks up to its own limit and no further", async () => {
      const forkN = (n: number) =>
        `import os, time\nkids = 0\nfor i in range(${n}):\n    try:\n        pid = os.fork()\n    except OSError as e:\n        print('refused at', i, e.errno); break\n    if pid == 0:\n        time.sleep(2); os._exit(0)\n    kids += 1\nprint('forked', kids)`;
      const [few, many] = await snippets([
        { language: "python", code: forkN(5) },
        { language: "python", code: forkN(100) },
      ]);
      expect(few?.stdout).toBe("forked 5\n");
      expect(many?.stdout).toMatch(/^refused at [5-7] 11\n/);
    }, 60_000);

    test("a snippet cannot read the agent's process (its environment, its files)", async () => {
      // The container's pid 1 is the agent; the agent itself reads its own environment.
      expect(await inAgent(["sh", "-c", "tr '\\0' ' ' </proc/1/cmdline"])).toContain("code-runner/main.ts");
      expect(await inAgent(["sh", "-c", "tr '\\0' '\\n' </proc/1/environ | grep -c ="])).not.toBe("0\n");
      const [r] = await snippets([
        {
          language: "python",
          code: "print(open('/proc/1/cmdline').read().replace('\\0', ' ').strip())\nfor f in ['/proc/1/environ', '/proc/1/root/var/run/secrets/kubernetes.io/serviceaccount/token']:\n    try:\n        open(f).read(); print('read', f)\n    except OSError as e:\n        print(e.errno)",
        },
      ]);
      const [cmdline, environ, root] = (r?.stdout ?? "").trim().split("\n");
      // It is the agent's /proc/1 the snippet looks at, and it is closed to it.
      expect(cmdline).toContain("code-runner/main.ts");
      expect(environ).toBe("13");
      expect(root).toBe("13");
    }, 60_000);
  });
}
