// The domains' NetworkPolicies (kustomize/base/network-policy.yaml) as a real
// engine on the node enforces them (kube-network-policies, started by the node
// harness). Every connection is opened from a pod, as an attacker in the
// cluster would: the host's own root sockets are never judged. Each "cannot"
// first shows the same connection working where a policy allows it, and then,
// where it can, that changing only what the policy looks at (a label) turns
// the refusal into a connection.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { eventually } from "../harness/eventually.ts";
import { type NodeCluster, runningPods } from "../harness/node.ts";
import type { E2e } from "./suite.ts";

const content = "mcp-content";
const dataProcessing = "mcp-data-processing";
/** A namespace no admin has marked as a client's. */
const foreign = "np-foreign";
/** A namespace marked as holding MCP clients (mcp.io/gateway-clients=true). */
const clients = "np-clients";
const monitoring = "np-monitoring";
/** The infrastructure overlay's NetworkPolicies (its http-client agents), in a namespace of their own. */
const infra = "np-infra";
/** A web server outside the cluster's domains, on HTTP's port and another. */
const web = "np-web";

let cluster: NodeCluster;

/** Runs a Python program inside `container` of `pod` (as its user, in its network) with `args`; its output. */
async function pythonIn(
  where: { namespace: string; pod: string; container?: string },
  lines: string[],
  args: string[],
): Promise<string> {
  const { namespace, pod, container } = where;
  const res = await cluster.kubectl([
    "-n",
    namespace,
    "exec",
    pod,
    ...(container ? ["-c", container] : []),
    "--",
    "python3",
    "-I",
    "-c",
    lines.join("\n"),
    ...args,
  ]);
  if (res.code !== 0) throw new Error(`exec in ${namespace}/${pod}: exit ${res.code}\n${res.stderr}`);
  return res.stdout.trim();
}

/** Opens a TCP connection from inside `container` of `pod`; "connected", or why not. */
async function connectFrom(
  namespace: string,
  pod: string,
  host: string,
  port: number,
  container?: string,
): Promise<string> {
  const probe = [
    "import socket, sys",
    "try:",
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()",
    "    print('connected')",
    "except OSError as e:",
    "    print('refused', type(e).__name__, e)",
  ];
  return pythonIn({ namespace, pod, container }, probe, [host, String(port)]);
}

/**
 * Resolves a name with the cluster's DNS from inside a pod; the address, or
 * why not (getaddrinfo ignores socket timeouts and retries for long, so it
 * gets 10 s in a thread of its own).
 */
async function resolveFrom(namespace: string, pod: string, name: string, container?: string): Promise<string> {
  const probe = [
    "import os, socket, sys, threading",
    "def resolve():",
    "    try:",
    "        print(socket.gethostbyname(sys.argv[1]), flush=True)",
    "    except OSError as e:",
    "        print('unresolved', type(e).__name__, e, flush=True)",
    "    os._exit(0)",
    "threading.Thread(target=resolve, daemon=True).start()",
    "threading.Event().wait(10)",
    "print('unresolved: no answer in 10 s', flush=True)",
    "os._exit(0)",
  ];
  return pythonIn({ namespace, pod, container }, probe, [name]);
}

/** A pod of the conductor's image that only sleeps, to connect from; restricted Pod Security. */
function probePod(namespace: string, name: string, labels: Record<string, string>, image: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name, labels },
    spec: {
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "probe",
          image,
          imagePullPolicy: "Never",
          command: ["sleep", "3600"],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
        },
      ],
    },
  });
}

/** A pod that accepts TCP connections on ports 80 and 8081 (and closes them), without root. */
function webPod(image: string): string {
  const serve = [
    "import selectors, socket",
    "sel = selectors.DefaultSelector()",
    "for port in (80, 8081):",
    "    s = socket.create_server(('0.0.0.0', port))",
    "    sel.register(s, selectors.EVENT_READ)",
    "while True:",
    "    for key, _ in sel.select():",
    "        key.fileobj.accept()[0].close()",
  ].join("\n");
  const pod = JSON.parse(probePod(web, "web", { "app.kubernetes.io/name": "web" }, image));
  pod.spec.containers[0].command = ["python3", "-I", "-c", serve];
  // Binding port 80 without a capability: a namespaced sysctl the restricted level allows.
  pod.spec.securityContext.sysctls = [{ name: "net.ipv4.ip_unprivileged_port_start", value: "0" }];
  return JSON.stringify(pod);
}

async function apply(manifest: string): Promise<void> {
  const res = await cluster.kubectl(["apply", "--server-side", "-f", "-"], { input: manifest });
  if (res.code !== 0) throw new Error(`kubectl apply: ${res.stderr}`);
}

async function podIp(namespace: string, app: string): Promise<string> {
  const pods = await runningPods(cluster, namespace, app);
  const ip = pods[0]?.ip;
  if (!ip) throw new Error(`no running ${app} pod in ${namespace}`);
  return ip;
}

async function serviceIp(namespace: string, name: string): Promise<string> {
  const svc = await cluster.conn.request<{ spec: { clusterIP: string } }>(
    "GET",
    `/api/v1/namespaces/${namespace}/services/${name}`,
  );
  return svc.spec.clusterIP;
}

async function firstRunning(namespace: string, app: string): Promise<string> {
  const pod = (await runningPods(cluster, namespace, app))[0]?.name;
  if (!pod) throw new Error(`no running ${app} pod in ${namespace}`);
  return pod;
}

export function registerNetworkPolicies(e2e: E2e): void {
  describe("NetworkPolicies enforced by the node's engine", () => {
    let gatewayService: string;
    let gatewayPod: string;
    let apiserver: { host: string; port: number };

    beforeAll(async () => {
      cluster = e2e.cluster;
      const image = cluster.images.conductor;
      const namespaces = [
        { name: foreign, labels: {} },
        { name: clients, labels: { "mcp.io/gateway-clients": "true" } },
        { name: monitoring, labels: {} },
        { name: infra, labels: {} },
        { name: web, labels: {} },
      ];
      for (const n of namespaces) {
        await apply(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: n }));
      }
      const client = { "mcp.io/gateway-client": "true" };
      await apply(probePod(foreign, "client", client, image));
      await apply(probePod(clients, "client", client, image));
      await apply(probePod(content, "np-client", client, image));
      await apply(probePod(monitoring, "prometheus", { "app.kubernetes.io/name": "prometheus" }, image));
      await apply(probePod(monitoring, "other", {}, image));
      // The infrastructure overlay's policies as it renders them, moved to a namespace of their own.
      const rendered = await cluster.kubectl(["kustomize", "kustomize/overlays/infrastructure"], { cwd: repoRoot });
      if (rendered.code !== 0) throw new Error(`kubectl kustomize: ${rendered.stderr}`);
      const policies = parseAllDocuments(rendered.stdout)
        .map((d) => d.toJS() as { kind: string; metadata: { namespace?: string } })
        .filter((o) => o.kind === "NetworkPolicy")
        .map((o) => ({ ...o, metadata: { ...o.metadata, namespace: infra } }));
      expect(policies.length).toBeGreaterThan(3);
      await apply(JSON.stringify({ apiVersion: "v1", kind: "List", items: policies }));
      await apply(probePod(infra, "agent", { "app.kubernetes.io/name": "mcp-agent" }, image));
      await apply(probePod(infra, "controller", { "app.kubernetes.io/name": "mcp-controller" }, image));
      await apply(webPod(image));
      const wait = [
        [foreign, "pod/client"],
        [clients, "pod/client"],
        [content, "pod/np-client"],
        [monitoring, "pod/prometheus"],
        [monitoring, "pod/other"],
        [infra, "pod/agent"],
        [infra, "pod/controller"],
        [web, "pod/web"],
      ];
      for (const [namespace, pod] of wait) {
        const res = await cluster.kubectl([
          "-n",
          namespace as string,
          "wait",
          "--for=condition=Ready",
          pod as string,
          "--timeout=120s",
        ]);
        if (res.code !== 0) throw new Error(`${namespace}/${pod} not Ready: ${res.stderr}`);
      }
      gatewayService = await serviceIp(content, "mcp-gateway");
      gatewayPod = await podIp(content, "mcp-gateway");
      const kubernetes = await cluster.conn.request<{ spec: { clusterIP: string; ports: { port: number }[] } }>(
        "GET",
        "/api/v1/namespaces/default/services/kubernetes",
      );
      apiserver = { host: kubernetes.spec.clusterIP, port: kubernetes.spec.ports[0]?.port ?? 443 };
    }, 300_000);

    afterAll(async () => {
      await cluster.kubectl(["-n", content, "delete", "pod", "np-client", "--wait=false"]);
      await cluster.kubectl(["delete", "namespace", foreign, clients, monitoring, infra, web, "--wait=false"]);
    });

    test("the node runs a NetworkPolicy engine: its table is installed and it listens on its queue", async () => {
      const tables = Bun.spawnSync(["nft", "list", "tables", "inet"]).stdout.toString();
      expect(tables).toContain("table inet kube-network-policies");
      const queues = (await Bun.file("/proc/net/netfilter/nfnetlink_queue").text())
        .split("\n")
        .map((l) => l.trim().split(/\s+/)[0]);
      expect(queues).toContain("100");
    });

    test("a pod in another namespace cannot reach the gateway's MCP port; a client's namespace can", async () => {
      // Allowed: a labelled client in the domain's namespace, and one in a namespace marked as clients'.
      expect(await connectFrom(content, "np-client", gatewayService, 8080)).toBe("connected");
      expect(await connectFrom(clients, "client", gatewayService, 8080)).toBe("connected");
      // The same pod spec and labels in an unmarked namespace: refused, by Service and by pod address.
      expect(await connectFrom(foreign, "client", gatewayService, 8080)).toStartWith("refused");
      expect(await connectFrom(foreign, "client", gatewayPod, 8080)).toStartWith("refused");
      // Only the namespace's label changes, and the same connection is admitted: the refusal was the policy's.
      const label = await cluster.kubectl(["label", "namespace", foreign, "mcp.io/gateway-clients=true"]);
      expect(label.code).toBe(0);
      await eventually(async () => (await connectFrom(foreign, "client", gatewayService, 8080)) === "connected", {
        message: "the foreign namespace, once marked, reaches the gateway",
        timeout: 30_000,
      });
      await cluster.kubectl(["label", "namespace", foreign, "mcp.io/gateway-clients-"]);
      await eventually(async () => (await connectFrom(foreign, "client", gatewayService, 8080)).startsWith("refused"), {
        message: "unmarked again, refused again",
        timeout: 30_000,
      });
    }, 180_000);

    test("the code-runner's pod reaches the apiserver and nothing else: no gateway, no DNS", async () => {
      const runner = await firstRunning(content, "mcp-agent");
      expect(await connectFrom(content, runner, apiserver.host, apiserver.port, "agent")).toBe("connected");
      // The gateway its labelled neighbour reaches (above), and the DNS a data-processing agent reaches (below).
      expect(await connectFrom(content, runner, gatewayService, 8080, "agent")).toStartWith("refused");
      expect(await connectFrom(content, runner, "10.0.0.10", 53, "agent")).toStartWith("refused");
      expect(await resolveFrom(content, runner, "kubernetes.default.svc.cluster.local", "agent")).toStartWith(
        "unresolved",
      );
      // Nor another domain's gateway, nor the probe pod of another namespace.
      expect(
        await connectFrom(content, runner, await serviceIp(dataProcessing, "mcp-gateway"), 8080, "agent"),
      ).toStartWith("refused");
    }, 180_000);

    test("an agent reaches the apiserver and DNS, and not the scheduler, which only the controller reaches", async () => {
      const agent = await firstRunning(dataProcessing, "mcp-agent");
      expect(await connectFrom(dataProcessing, agent, apiserver.host, apiserver.port, "agent")).toBe("connected");
      expect(await connectFrom(dataProcessing, agent, "10.0.0.10", 53, "agent")).toBe("connected");
      expect(await resolveFrom(dataProcessing, agent, "kubernetes.default.svc.cluster.local", "agent")).toBe(
        apiserver.host,
      );
      const scheduler = await serviceIp(dataProcessing, "mcp-scheduler");
      const controller = await firstRunning(dataProcessing, "mcp-controller");
      expect(await connectFrom(dataProcessing, controller, scheduler, 9090)).toBe("connected");
      expect(await connectFrom(dataProcessing, agent, scheduler, 9090, "agent")).toStartWith("refused");
    }, 180_000);

    test("the http-client's agents reach HTTP and HTTPS ports (their allowlist picks the host), nothing else", async () => {
      const server = await podIp(web, "web");
      // Where no policy applies, both ports answer: the server is up and a refusal below is the policy's.
      await eventually(async () => (await connectFrom(foreign, "client", server, 80)) === "connected", {
        message: "the web pod answers on 80",
        timeout: 30_000,
      });
      expect(await connectFrom(foreign, "client", server, 8081)).toBe("connected");
      expect(await connectFrom(infra, "agent", server, 80)).toBe("connected");
      expect(await connectFrom(infra, "agent", server, 8081)).toStartWith("refused");
      // The opening is the agents' alone: the domain's controller reaches no web server.
      expect(await connectFrom(infra, "controller", server, 80)).toStartWith("refused");
    }, 120_000);

    test("the metrics ports admit Prometheus's pods and no other pod of the monitoring namespace", async () => {
      expect(await connectFrom(monitoring, "prometheus", gatewayPod, 9102)).toBe("connected");
      expect(await connectFrom(monitoring, "other", gatewayPod, 9102)).toStartWith("refused");
      // The MCP port is not a metrics port: Prometheus's pod is no MCP client.
      expect(await connectFrom(monitoring, "prometheus", gatewayPod, 8080)).toStartWith("refused");
    }, 120_000);
  });
}
