// The stdio bridge as a stdio MCPServer's pod runs it: compiled to one file
// (as the image carries it), in front of the MCP reference server over stdio,
// used by the official SDK client over Streamable HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { eventually } from "../harness/eventually.ts";
import { everythingEntry } from "../harness/everything-server.ts";

let dir: string;
let bridge: ReturnType<typeof Bun.spawn>;
let url: URL;

/** The server processes this bridge started (its own children, whatever else runs on the machine). */
const children = () =>
  Bun.spawnSync(["pgrep", "-P", String(bridge.pid), "-f", "stdio"])
    .stdout.toString()
    .trim()
    .split("\n")
    .filter(Boolean);

async function connect(): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: "bridge-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(url);
  await client.connect(transport);
  return { client, transport };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bridge-"));
  const bin = join(dir, "mcp-stdio-bridge");
  const build = Bun.spawnSync(
    [process.execPath, "build", "--compile", join(repoRoot, "services/stdio-bridge/main.ts"), "--outfile", bin],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (build.exitCode !== 0) throw new Error(`bun build --compile failed: ${build.stderr.toString()}`);
  const port = await freePort();
  bridge = Bun.spawn(
    [bin, "--port", String(port), "--max-sessions", "3", "--", process.execPath, everythingEntry, "stdio"],
    { stdout: "ignore", stderr: "ignore", env: { ...process.env, LOG_LEVEL: "warn" } },
  );
  url = new URL(`http://127.0.0.1:${port}/mcp`);
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { message: "the bridge up" });
}, 60_000);

afterAll(async () => {
  bridge?.kill("SIGTERM");
  await bridge?.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe("stdio bridge", () => {
  test("an SDK client lists and calls the stdio server's tools over HTTP", async () => {
    const { client, transport } = await connect();
    expect(client.getServerVersion()?.name).toBe("mcp-servers/everything");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("echo");
    const res = await client.callTool({ name: "echo", arguments: { message: "through the bridge" } });
    expect(JSON.stringify(res.content)).toContain("through the bridge");
    const sum = await client.callTool({ name: "get-sum", arguments: { a: 2, b: 40 } });
    expect(JSON.stringify(sum.content)).toContain("42");
    await transport.terminateSession();
    await client.close();
  }, 30_000);

  test("progress from the stdio server reaches the request that asked for it", async () => {
    const { client, transport } = await connect();
    const seen: number[] = [];
    const { tools } = await client.listTools();
    const longOp = tools.find((t) => t.name.includes("long-running"));
    expect(longOp).toBeDefined();
    await client.callTool({ name: longOp?.name ?? "", arguments: { duration: 1, steps: 3 } }, undefined, {
      onprogress: (p) => seen.push(p.progress),
      timeout: 20_000,
    });
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    await transport.terminateSession();
    await client.close();
  }, 30_000);

  test("each session is a process of its own, ended by DELETE", async () => {
    // the earlier tests' sessions were ended; their processes go
    await eventually(() => children().length === 0, { message: "no server processes left from earlier tests" });
    const before = 0;
    const a = await connect();
    const b = await connect();
    expect(a.transport.sessionId).not.toBe(b.transport.sessionId);
    await eventually(() => children().length === before + 2, { message: "two server processes" });
    await a.transport.terminateSession();
    await a.client.close();
    await eventually(() => children().length === before + 1, { message: "one process left after DELETE" });
    await b.transport.terminateSession();
    await b.client.close();
    await eventually(() => children().length === before, { message: "none left" });
  }, 30_000);

  test("bad requests get clear errors and start no process", async () => {
    await eventually(() => children().length === 0, { message: "no server processes left from earlier tests" });
    const before = 0;
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
      });
    const notJson = await post("{nope");
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error.code).toBe(-32700);
    const noInit = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    expect(noInit.status).toBe(400);
    const unknown = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), {
      "mcp-session-id": "no-such-session",
    });
    expect(unknown.status).toBe(404);
    expect(children().length).toBe(before);
  });

  test("sessions beyond the limit get 503, not another process", async () => {
    const open = await Promise.all([connect(), connect(), connect()]);
    const extra = new Client({ name: "one-too-many", version: "1" });
    const err = await extra.connect(new StreamableHTTPClientTransport(url)).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(String(err)).toContain("Too many sessions");
    for (const s of open) {
      await s.transport.terminateSession();
      await s.client.close();
    }
  }, 30_000);
});
