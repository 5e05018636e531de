// The deployment as users run it, on a real node: the README's install
// commands verbatim, pods from images built here, the Service reached through
// kube-proxy by an official MCP client, and a Task to show for the call; Pod
// Security enforced; two domains side by side, one deleted.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import {
  createTokenCommand,
  installClusterCommand,
  installDomainCommand,
  waitReadyCommands,
} from "../../lib/control-plane/install-commands.ts";
import { conductorImage } from "../../lib/version.ts";
import { eventually } from "../harness/eventually.ts";
import { type NodeCluster, waitAvailable } from "../harness/node.ts";
import type { E2e } from "./suite.ts";
import { upgradeWithTasksInFlight } from "./upgrade.ts";

const domain = "data-processing";
const ns = `mcp-${domain}`;
const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
let figures: E2e["figures"];

// The README's install, in its order; the test checks each line is in the README word for word.
const installCluster = installClusterCommand;
const installDomain = installDomainCommand(domain);
const createToken = createTokenCommand(domain);
const waitReady = waitReadyCommands(domain);

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
    containers: { name: string; securityContext?: { readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean } }[];
  };
  status: { phase: string; podIP?: string };
}

let cluster: NodeCluster;

const run = async (line: string) => {
  const res = await cluster.sh(line, { cwd: repoRoot });
  if (res.code !== 0) throw new Error(`${line}\nexit ${res.code}\n${res.stderr}`);
  return res;
};

const pods = async (namespace: string) =>
  (await cluster.conn.request<{ items: Pod[] }>("GET", `/api/v1/namespaces/${namespace}/pods`)).items;

/** The README's install of one domain, a call through its gateway, and Pod Security. */
export function registerInstall(e2e: E2e): void {
  describe("install", () => {
    beforeAll(() => {
      cluster = e2e.cluster;
      figures = e2e.figures;
    });
    describe("the README's install on a real node", () => {
      test("every command is the README's, verbatim", () => {
        for (const line of [installCluster, installDomain, createToken, ...waitReady]) expect(readme).toContain(line);
      });

      test("the cluster-wide part, then a domain: every Deployment Available, pods non-root and read-only", async () => {
        const started = performance.now();
        await run(installCluster);
        const applied = await run(installDomain);
        // Pod Security warns (as it enforces) on the domain namespace: a clean apply has no warning.
        expect(applied.stderr).not.toContain("PodSecurity");
        await run(createToken);
        for (const line of waitReady) await run(line);
        figures.installToAvailableSeconds = (performance.now() - started) / 1000;

        const namespace = await cluster.conn.request<{ metadata: { labels: Record<string, string> } }>(
          "GET",
          `/api/v1/namespaces/${ns}`,
        );
        expect(namespace.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
        expect(namespace.metadata.labels["pod-security.kubernetes.io/warn"]).toBe("restricted");

        const running = (await pods(ns)).filter((p) => p.status.phase === "Running");
        expect(running.length).toBeGreaterThanOrEqual(5);
        for (const pod of running) {
          for (const c of pod.spec.containers) {
            // In the pod as it runs, not only in its spec: the process's uid, and a write to / refused.
            const probe = await cluster.kubectl([
              "-n",
              ns,
              "exec",
              pod.metadata.name,
              "-c",
              c.name,
              "--",
              "sh",
              "-c",
              "id -u; touch /probe 2>/dev/null && echo writable || echo read-only",
            ]);
            expect(probe.stderr).toBe("");
            const [uid, rootfs] = probe.stdout.trim().split("\n");
            expect(Number(uid)).not.toBe(0);
            expect(rootfs).toBe("read-only");
          }
        }
      }, 400_000);

      test("an official MCP client calls csv_to_json through the gateway Service, and a Task shows for it", async () => {
        const secret = await cluster.conn.request<{ data: Record<string, string> }>(
          "GET",
          `/api/v1/namespaces/${ns}/secrets/mcp-gateway-tokens`,
        );
        const token = Buffer.from(secret.data["my-client"] ?? "", "base64").toString();
        expect(token).toMatch(/^[0-9a-f]{48}$/);
        const svc = await cluster.conn.request<{ spec: { clusterIP: string; ports: { port: number }[] } }>(
          "GET",
          `/api/v1/namespaces/${ns}/services/mcp-gateway`,
        );
        // A ClusterIP: only kube-proxy's rules on this node make it answer.
        const url = new URL(`http://${svc.spec.clusterIP}:${svc.spec.ports[0]?.port}/mcp`);
        const client = new Client({ name: "e2e", version: "1.0.0" });
        const started = performance.now();
        await client.connect(
          new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
        );
        try {
          await eventually(async () => (await client.listTools()).tools.some((t) => t.name === "csv_to_json"), {
            message: "csv_to_json listed by the gateway",
            timeout: 60_000,
          });
          const result = await client.callTool({ name: "csv_to_json", arguments: { csv: "a,b\n1,2\n3,4" } });
          figures.firstCallMs = performance.now() - started;
          expect(result.isError).toBeFalsy();
          const text = (result.content as { type: string; text: string }[]).map((c) => c.text).join("");
          expect(JSON.parse(text)).toEqual(
            expect.objectContaining({
              rows: [
                { a: "1", b: "2" },
                { a: "3", b: "4" },
              ],
            }),
          );
        } finally {
          await client.close();
        }
        // Each pod's memory as the kubelet measures it (its summary API, through the apiserver),
        // once it has measured them all.
        type Summary = { pods: { podRef: { name: string; namespace: string }; memory?: { rssBytes?: number } }[] };
        const measured = await eventually(
          async () => {
            const summary = await cluster.conn.request<Summary>("GET", "/api/v1/nodes/mcp-node/proxy/stats/summary");
            const ours = summary.pods.filter((p) => p.podRef.namespace === ns);
            return ours.length >= 7 && ours.every((p) => (p.memory?.rssBytes ?? 0) > 0) ? ours : undefined;
          },
          { timeout: 60_000, interval: 1_000, message: "the kubelet's memory figures for every pod" },
        );
        for (const p of measured) {
          figures[`rssMiB.${p.podRef.name}`] = Math.round((p.memory?.rssBytes ?? 0) / 2 ** 20);
        }
        const tasks = await cluster.conn.request<{
          items: { spec: { tool?: string }; status?: { phase?: string; assignedAgent?: string } }[];
        }>("GET", `/apis/mcp.io/v1/namespaces/${ns}/tasks`);
        const task = tasks.items.find((t) => t.spec.tool === "csv_to_json");
        expect(task?.status?.phase).toBe("Completed");
        expect(task?.status?.assignedAgent).toBeTruthy();
      }, 120_000);

      test("the design's seed samples apply unchanged", async () => {
        // They name the namespace mcp-system (the default domain of `up`).
        await run("kubectl create namespace mcp-system --dry-run=client -o yaml | kubectl apply -f -");
        const res = await run("kubectl apply -f deploy/samples");
        expect(res.stdout).toContain("agent.mcp.io/data-processor-7d8f4");
        expect(res.stdout).toContain("mcpserver.mcp.io/everything");
        expect(res.stdout).toContain("task.mcp.io/process-dataset");
        const got = await cluster.kubectl(["get", "agents,tasks,mcpservers", "-n", "mcp-system", "-o", "name"]);
        expect(got.stdout.trim().split("\n")).toHaveLength(3);
      });
    });

    describe("Pod Security on the node", () => {
      const pod = (name: string, privileged: boolean) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name },
        spec: {
          restartPolicy: "Never",
          securityContext: privileged
            ? {}
            : { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "main",
              image: conductorImage,
              command: ["sleep", "300"],
              securityContext: privileged
                ? { privileged: true }
                : { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
            },
          ],
        },
      });

      test("a restricted pod runs in a domain namespace; the same pod privileged is refused", async () => {
        // The compliant pod first: the namespace admits pods and the node runs them, so the refusal below can fail.
        await cluster.conn.request("POST", `/api/v1/namespaces/${ns}/pods`, { body: pod("psa-restricted", false) });
        await eventually(
          async () =>
            (await cluster.conn.request<Pod>("GET", `/api/v1/namespaces/${ns}/pods/psa-restricted`)).status.phase ===
            "Running",
          { timeout: 60_000, message: "the restricted pod Running" },
        );
        const refused = await cluster.conn
          .request("POST", `/api/v1/namespaces/${ns}/pods`, { body: pod("psa-privileged", true) })
          .then(
            () => undefined,
            (err: Error & { status?: number }) => err,
          );
        expect(refused).toBeDefined();
        expect(refused?.message).toContain('violates PodSecurity "restricted:latest"');
        expect(refused?.message).toContain("privileged");
        await cluster.conn.request("DELETE", `/api/v1/namespaces/${ns}/pods/psa-restricted`, {
          body: { gracePeriodSeconds: 0 },
        });
      }, 90_000);

      test("the node runs user-namespaced pods (hostUsers: false): their root is not the host's", async () => {
        const uidMap = async (name: string, hostUsers: boolean) => {
          const body = pod(name, false) as { spec: Record<string, unknown> };
          body.spec.hostUsers = hostUsers;
          await cluster.conn.request("POST", `/api/v1/namespaces/${ns}/pods`, { body });
          await eventually(
            async () =>
              (await cluster.conn.request<Pod>("GET", `/api/v1/namespaces/${ns}/pods/${name}`)).status.phase ===
              "Running",
            { timeout: 60_000, message: `${name} Running` },
          );
          const res = await cluster.kubectl(["-n", ns, "exec", name, "--", "cat", "/proc/self/uid_map"]);
          await cluster.conn.request("DELETE", `/api/v1/namespaces/${ns}/pods/${name}`, {
            body: { gracePeriodSeconds: 0 },
          });
          expect(res.stderr).toBe("");
          return res.stdout.trim().split(/\s+/).map(Number);
        };
        // Without a user namespace, uid 0 in the pod is uid 0 on the host (the whole range maps through).
        expect(await uidMap("userns-off", true)).toEqual([0, 0, 4294967295]);
        // With one, the pod's 65,536 uids start at an unprivileged host uid.
        const [inside, host, length] = await uidMap("userns-on", false);
        expect(inside).toBe(0);
        expect(host).toBeGreaterThan(0);
        expect(length).toBe(65536);
      }, 150_000);
    });
  });
}

/**
 * A second domain beside the first (the content domain: the code-runner);
 * `whileBoth` registers what runs while both are up; deleting it then leaves
 * the cluster-wide part and the first.
 */
export function registerDomains(e2e: E2e, whileBoth: () => void = () => {}): void {
  describe("domains", () => {
    beforeAll(() => {
      cluster = e2e.cluster;
      figures = e2e.figures;
    });
    describe("two domains side by side", () => {
      test("a second domain, installed at the previous release, upgrades to this one with Tasks in flight: none lost, none failed, none completed twice", async () => {
        const f = await upgradeWithTasksInFlight(cluster, "content", (_n, id) => ({
          name: "run_code",
          arguments: { language: "python", code: `import time\ntime.sleep(1)\nprint("${id}")` },
          expect: id,
        }));
        figures.upgradeRolloutSeconds = Math.round(f.rolloutSeconds);
        figures.upgradeCalls = f.calls;
        figures.upgradeTasks = f.tasks;
        figures.upgradeClientErrors = f.clientErrors;
      }, 900_000);

      whileBoth();

      test("deleting one domain leaves the CRDs, the policies and the other domain in place", async () => {
        // Both domains run; the first one's Task from the call above is there.
        const tasksBefore = await cluster.conn.request<{ items: unknown[] }>(
          "GET",
          `/apis/mcp.io/v1/namespaces/${ns}/tasks`,
        );
        expect(tasksBefore.items.length).toBeGreaterThan(0);

        await run("kubectl delete -k kustomize/overlays/content --wait=true --timeout=180s");
        const gone = await cluster.kubectl(["get", "namespace", "mcp-content"]);
        expect(gone.stderr).toContain("NotFound");

        for (const crd of ["agents.mcp.io", "tasks.mcp.io", "mcpservers.mcp.io"]) {
          expect((await cluster.kubectl(["get", "crd", crd])).code).toBe(0);
        }
        for (const policy of ["mcp-agent-own-tasks", "mcp-agent-own-agent", "mcp-agent-own-lease"]) {
          expect((await cluster.kubectl(["get", "validatingadmissionpolicy", policy])).code).toBe(0);
          expect((await cluster.kubectl(["get", "validatingadmissionpolicybinding", policy])).code).toBe(0);
        }
        const tasksAfter = await cluster.conn.request<{ items: unknown[] }>(
          "GET",
          `/apis/mcp.io/v1/namespaces/${ns}/tasks`,
        );
        expect(tasksAfter.items.length).toBe(tasksBefore.items.length);
        await waitAvailable(cluster, ns, 60);
      }, 600_000);
    });
  });
}
