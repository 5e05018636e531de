// Who may call the gateway, on the real apiserver: Kubernetes service-account
// tokens (the apiserver's JWKS and TokenReview), static tokens read again as
// their folder changes, fail-closed without any configured check, and open
// mode only when asked for; and the process's own flags and ports.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { Gateway, type GatewaySecurity, serveGateway } from "../../services/gateway/gateway.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually, within } from "../harness/eventually.ts";

let cluster: TestCluster;
let ns: string;
let resource: string;

beforeAll(async () => {
  cluster = await testCluster();
  ns = await cluster.newNamespace("gw-auth");
  resource = `http://mcp-gateway.${ns}.svc:8080/mcp`;
  await cluster.conn.request("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, {
    body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "caller" } },
  });
}, 120_000);

/** A projected-style token of the ServiceAccount "caller", for the audiences given. */
async function saToken(audiences: string[]): Promise<string> {
  const res = await cluster.conn.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${ns}/serviceaccounts/caller/token`,
    {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { audiences, expirationSeconds: 600 },
      },
    },
  );
  return res.status.token;
}

interface Running {
  url: string;
  /** The clients the gateway opened sessions for, from its log. */
  clients: () => string[];
  stop: () => Promise<void>;
}

async function startGateway(security: GatewaySecurity): Promise<Running> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  const gateway = new Gateway({
    conn: cluster.conn,
    namespace: ns,
    log: pino({ level: "info" }, sink),
    security: { ratePerSecond: 10_000, burst: 10_000, ...security },
  });
  await within(10_000, "the gateway's start", gateway.start());
  const server = serveGateway(gateway, { port: 0, hostname: "127.0.0.1" });
  return {
    url: `http://127.0.0.1:${server.port}/mcp`,
    clients: () =>
      lines
        .map((l) => JSON.parse(l) as { msg?: string; client?: string })
        .filter((l) => l.msg === "Opened MCP session")
        .map((l) => l.client as string),
    stop: async () => {
      await within(5_000, "the server's stop", server.stop(true));
      await within(10_000, "the gateway's stop", gateway.stop());
    },
  };
}

// Twice in about ten full suites (never alone) one of the tests below hung 30 s
// in a gateway of its own; the steps now say which one hangs, and such a test
// runs once more before it fails.
const again = { retry: 1 };

/**
 * An MCP initialize, with a bearer token if given: its status and headers,
 * the body read to the end and the connection not kept (the gateways of these
 * tests come and go on ports the system may hand out again).
 */
const initialize = async (url: string, token?: string) => {
  const res = await fetch(url, {
    keepalive: false,
    signal: AbortSignal.timeout(15_000),
    method: "POST",
    headers: {
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "auth-test", version: "1" } },
    }),
  });
  await res.arrayBuffer();
  return { status: res.status, headers: res.headers };
};

describe.each(["jwks", "tokenreview"] as const)("Kubernetes service-account tokens (%s)", (mode) => {
  let gw: Running;
  beforeAll(async () => {
    gw = await startGateway({ kubernetesTokens: mode, resource });
  }, 60_000);
  afterAll(() => gw.stop());

  test("a token for the gateway's audience is accepted, as system:serviceaccount:<ns>:<name>", async () => {
    const res = await initialize(gw.url, await saToken([resource]));
    expect(res.status).toBe(200);
    expect(res.headers.get("mcp-session-id")).toBeTruthy();
    expect(gw.clients()).toContain(`system:serviceaccount:${ns}:caller`);
  });

  test("a token for another audience → 401 invalid_token", async () => {
    const res = await initialize(gw.url, await saToken(["https://some-other-service.example.com"]));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(res.headers.get("www-authenticate")).toContain(
      `resource_metadata="http://mcp-gateway.${ns}.svc:8080/.well-known/oauth-protected-resource"`,
    );
  });

  test("a token for the apiserver's default audience → 401", async () => {
    const res = await initialize(gw.url, await saToken([]));
    expect(res.status).toBe(401);
  });

  test("a tampered token → 401", async () => {
    const token = await saToken([resource]);
    const [h, p, s] = token.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    claims.sub = `system:serviceaccount:${ns}:someone-else`;
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    expect((await initialize(gw.url, forged)).status).toBe(401);
  });
});

describe("static tokens from a folder", () => {
  test("a token added while running is accepted without a restart; removed, it is refused", again, async () => {
    const dir = mkdtempSync(join(tmpdir(), "gw-tokens-"));
    const gw = await startGateway({ tokensDir: dir, tokensCheckMs: 100 });
    try {
      expect((await initialize(gw.url, "late-token-123")).status).toBe(401); // an empty Secret is not open
      writeFileSync(join(dir, "late-client"), "late-token-123\n");
      await eventually(async () => (await initialize(gw.url, "late-token-123")).status === 200, {
        message: "the new token accepted",
      });
      expect(gw.clients()).toContain("late-client");
      rmSync(join(dir, "late-client"));
      await eventually(async () => (await initialize(gw.url, "late-token-123")).status === 401, {
        message: "the removed token refused",
      });
    } finally {
      await gw.stop();
    }
  });
});

describe("without authentication", () => {
  test("nothing configured: 401 for everything on /mcp (fail closed)", again, async () => {
    const gw = await startGateway({});
    try {
      expect((await initialize(gw.url)).status).toBe(401);
      expect((await initialize(gw.url, "any-token")).status).toBe(401);
      const get = await fetch(gw.url, { keepalive: false, headers: { accept: "text/event-stream" } });
      await get.arrayBuffer();
      expect(get.status).toBe(401);
      expect(get.headers.get("www-authenticate")).toStartWith("Bearer resource_metadata=");
    } finally {
      await gw.stop();
    }
  });

  test("open mode, asked for: accepted as anonymous", again, async () => {
    const gw = await startGateway({ allowUnauthenticated: true });
    try {
      expect((await initialize(gw.url)).status).toBe(200);
      expect(gw.clients()).toEqual(["anonymous"]);
    } finally {
      await gw.stop();
    }
  });
});

describe("the gateway process", () => {
  async function run(args: string[], env: Record<string, string> = {}) {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const proc = Bun.spawn(
      [
        process.execPath,
        join(repoRoot, "services", "gateway", "main.ts"),
        `--namespace=${ns}`,
        "--host=127.0.0.1",
        `--port=${port}`,
        `--metrics-port=${metricsPort}`,
        ...args,
      ],
      { env: { ...process.env, KUBECONFIG: cluster.kubeconfigPath, ...env }, stdout: "pipe", stderr: "pipe" },
    );
    const base = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.ok === true, {
      message: "the gateway ready",
      timeout: 60_000,
    });
    return {
      base,
      metrics: `http://127.0.0.1:${metricsPort}`,
      stop: async () => {
        proc.kill("SIGTERM");
        await proc.exited;
        return new Response(proc.stdout).text();
      },
    };
  }

  test("no auth flags: refuses all and says so at start; /metrics only on the metrics port", async () => {
    const gw = await run([]);
    try {
      expect((await initialize(`${gw.base}/mcp`)).status).toBe(401);
      expect((await fetch(`${gw.base}/metrics`)).status).toBe(404);
      expect(await (await fetch(`${gw.metrics}/metrics`)).text()).toContain("# TYPE ");
      expect((await fetch(`${gw.metrics}/readyz`)).status).toBe(200);
      expect((await fetch(`${gw.base}/livez`)).status).toBe(200);
    } finally {
      expect(await gw.stop()).toContain("refuses every request");
    }
  }, 90_000);

  test("GATEWAY_ALLOW_UNAUTHENTICATED=true: open, with a warning at start", async () => {
    const gw = await run([], { GATEWAY_ALLOW_UNAUTHENTICATED: "true" });
    try {
      expect((await initialize(`${gw.base}/mcp`)).status).toBe(200);
    } finally {
      expect(await gw.stop()).toContain("--allow-unauthenticated");
    }
  }, 90_000);
});
