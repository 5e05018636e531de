// MCPServers with real containers on the node: the reference server
// (@modelcontextprotocol/server-everything, packaged into an image built
// here) as a managed Streamable HTTP server and as a stdio server behind the
// bridge's init container; both Ready and Reachable through real probes, and
// their tools called through the gateway. The image runs as root, as Node's
// official image does: without a securityContext the server gets a clear
// condition, not a crash loop nobody explains.
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { buildImageArchives, normalizeImageRef } from "../../lib/control-plane/images.ts";
import { eventually } from "../harness/eventually.ts";
import { ensureDomain, type NodeCluster } from "../harness/node.ts";
import type { E2e } from "./suite.ts";

const ns = "mcp-data-processing";
const entry = "/srv/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
let figures: E2e["figures"];
let cluster: NodeCluster;
let gateway: { url: URL; token: string };
let image: string;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface MCPServerView {
  status?: { phase?: string; conditions?: Condition[]; readyReplicas?: number };
}

const server = (name: string) =>
  cluster.conn.request<MCPServerView>("GET", `/apis/mcp.io/v1/namespaces/${ns}/mcpservers/${name}`);
const condition = (s: MCPServerView, type: string) => s.status?.conditions?.find((c) => c.type === type);

/** Waits for a server's phase Ready with Reachable=True: its pods run and the controller's MCP handshake got through. */
const readyAndReachable = (name: string) =>
  eventually(
    async () => {
      const s = await server(name);
      return s.status?.phase === "Ready" && condition(s, "Reachable")?.status === "True";
    },
    { timeout: 180_000, interval: 500, message: `${name} Ready and Reachable` },
  );

async function apply(obj: unknown): Promise<void> {
  const res = await cluster.kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    input: JSON.stringify(obj),
  });
  if (res.code !== 0) throw new Error(res.stderr);
}

const everything = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: "mcp.io/v1",
  kind: "MCPServer",
  metadata: { name, namespace: ns },
  spec: { image, replicas: 1, resources: { requests: { cpu: "50m", memory: "64Mi" } }, ...spec },
});

/** MCPServers from an image built here, managed and stdio, called through the gateway. */
export function registerMcpServers(e2e: E2e): void {
  describe("MCPServers as real containers", () => {
    beforeAll(async () => {
      cluster = e2e.cluster;
      figures = e2e.figures;
      const [[ref, archive]] = [...buildImageArchives("everything")] as [[string, string]];
      cluster.node.importImage(archive);
      image = normalizeImageRef(ref);
      gateway = await ensureDomain(cluster, "data-processing");
    }, 900_000);
    test("an image that runs as root gets a condition that says so, then runs as the user it is given", async () => {
      await apply(everything("everything", { port: 3001, transport: "streamable-http" }));
      // The restricted defaults (runAsNonRoot) meet an image without USER: the kubelet refuses it.
      const refused = await eventually(
        async () => {
          const c = condition(await server("everything"), "Available");
          return c?.status === "False" && c.reason === "ContainerCannotStart" ? c : undefined;
        },
        { timeout: 90_000, interval: 500, message: "Available=False ContainerCannotStart" },
      );
      expect(refused.message).toContain("runAsNonRoot");
      const events = await cluster.kubectl([
        "-n",
        ns,
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=everything",
      ]);
      expect(events.stdout).toContain("ContainerCannotStart");

      const started = performance.now();
      await apply(
        everything("everything", {
          port: 3001,
          transport: "streamable-http",
          securityContext: { runAsUser: 1000, runAsGroup: 1000 },
        }),
      );
      await readyAndReachable("everything");
      figures.managedReadySeconds = (performance.now() - started) / 1000;
    }, 300_000);

    test("a stdio server behind the bridge's init container is Ready and Reachable", async () => {
      const started = performance.now();
      await apply(
        everything("everything-stdio", {
          transport: "stdio",
          command: ["bun", entry, "stdio"],
          securityContext: { runAsUser: 1000, runAsGroup: 1000 },
        }),
      );
      await readyAndReachable("everything-stdio");
      figures.stdioReadySeconds = (performance.now() - started) / 1000;
    }, 300_000);

    test("their tools are called through the gateway", async () => {
      const client = new Client({ name: "e2e-servers", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
      await client.connect(
        new StreamableHTTPClientTransport(gateway.url, {
          requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
        }),
      );
      try {
        for (const name of ["everything__echo", "everything-stdio__echo"]) {
          await eventually(async () => (await client.listTools()).tools.some((t) => t.name === name), {
            timeout: 60_000,
            interval: 500,
            message: `${name} listed`,
          });
          const res = await client.callTool({ name, arguments: { message: `hi from ${name}` } });
          expect(res.isError).toBeFalsy();
          expect(res.content).toEqual([{ type: "text", text: `Echo: hi from ${name}` }]);
        }
      } finally {
        await client.close();
      }
    }, 180_000);
  });
}
