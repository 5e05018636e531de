// Resumable streams of 2025 sessions (SEP-1699): the official 1.x client's
// connection to the gateway is cut mid-call by a TCP proxy between them; the
// client reconnects with Last-Event-ID after the gateway's retry interval and
// gets what it missed, the result included, while the call's Task ran on.
// Where the events are not held (another replica), the call is answered
// from its Task. Then what cannot be resumed, each after the same request
// allowed: an event id that names no request is refused with 400 and the
// session goes on;
// a session that negotiated 2025-03-26 gets no priming event (older clients
// may fail on an event without data), one that negotiated 2025-11-25 does,
// whatever version a later header names.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { defineTool } from "../../lib/agent/tool.ts";
import { streamRetryMs } from "../../services/gateway/stream-events.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";
import { type GatewayStack, startGatewayStack } from "../harness/gateway-stack.ts";

let cluster: TestCluster;
let stack: GatewayStack;
let proxy: CuttingProxy;

/** Called, the tool reports progress and waits until the test lets it finish. */
let started = 0;
let release: () => void = () => {};
const waitForRelease = defineTool({
  name: "wait_for_release",
  description: "Reports half done, then waits for the test.",
  capability: "resume",
  inputSchema: { type: "object", properties: {} },
  handler: async (_args: Record<string, unknown>, ctx) => {
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    started++;
    ctx.progress(1, 2, "half way");
    await released;
    return { released: true };
  },
});
const quick = defineTool({
  name: "quick",
  description: "Answers at once.",
  capability: "resume",
  inputSchema: { type: "object", properties: {} },
  handler: () => ({ ok: true }),
});

/**
 * A TCP proxy in front of the gateway that can cut every connection it
 * carries, and notes the head of each HTTP request it sees.
 */
interface CuttingProxy {
  url: URL;
  heads: { line: string; lastEventId?: string }[];
  cut(): void;
  stop(): void;
}

function cuttingProxy(target: URL): CuttingProxy {
  type Pair = { upstream?: import("bun").Socket<undefined>; pending: Uint8Array[] };
  const pairs = new Map<import("bun").Socket<Pair>, Pair>();
  const heads: CuttingProxy["heads"] = [];
  const listener = Bun.listen<Pair>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const pair: Pair = { pending: [] };
        client.data = pair;
        pairs.set(client, pair);
        void Bun.connect({
          hostname: target.hostname,
          port: Number(target.port),
          socket: {
            data: (_s, chunk) => {
              client.write(chunk);
            },
            close: () => {
              client.end();
            },
            error: () => {
              client.end();
            },
          },
        }).then((upstream) => {
          pair.upstream = upstream;
          for (const chunk of pair.pending) upstream.write(chunk);
          pair.pending = [];
        });
      },
      data(client, chunk) {
        const text = Buffer.from(chunk).toString("latin1");
        const line = /^(GET|POST|DELETE) \S+ HTTP\/1\.1/.exec(text)?.[0];
        if (line) heads.push({ line, lastEventId: /\r\nlast-event-id: *([^\r]*)/i.exec(text)?.[1] });
        if (client.data.upstream) client.data.upstream.write(chunk);
        else client.data.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data.upstream?.end();
        pairs.delete(client);
      },
    },
  });
  return {
    url: new URL(`http://127.0.0.1:${listener.port}${target.pathname}`),
    heads,
    cut() {
      for (const [client, pair] of pairs) {
        pair.upstream?.terminate();
        client.terminate();
      }
      pairs.clear();
    },
    stop: () => listener.stop(true),
  };
}

beforeAll(async () => {
  cluster = await testCluster();
  const ns = await cluster.newNamespace("stream-resume");
  stack = await startGatewayStack(cluster, ns, [waitForRelease, quick]);
  proxy = cuttingProxy(stack.url);
}, 120_000);

afterAll(async () => {
  proxy?.stop();
  await stack?.stop();
});

describe("a call's stream that breaks", () => {
  test("is resumed with Last-Event-ID: the client gets the result the gateway sent while it was away", async () => {
    const c = new Client({ name: "resume-test", version: "1.0.0" });
    await c.connect(new StreamableHTTPClientTransport(proxy.url));
    try {
      const progress: number[] = [];
      const before = started;
      const call = c.callTool({ name: "wait_for_release", arguments: {} }, undefined, {
        onprogress: (p) => progress.push(p.progress),
        timeout: 30_000,
      });
      await eventually(() => started > before && progress.length > 0, { timeout: 20_000 });
      const resumesBefore = proxy.heads.filter((h) => h.lastEventId).length;
      proxy.cut();
      // the result is sent while no connection carries the stream: the gateway keeps it
      release();
      const res = await call;
      expect(res.structuredContent).toEqual({ released: true });
      const resumes = proxy.heads.filter((h) => h.lastEventId);
      expect(resumes.length).toBeGreaterThan(resumesBefore);
      expect(resumes.at(-1)?.line).toStartWith("GET ");
      // the session goes on
      expect((await c.callTool({ name: "quick", arguments: {} })).structuredContent).toEqual({ ok: true });
    } finally {
      await c.close();
    }
  }, 60_000);
});

/** A raw 2025 session: initialize at `version`, then the session id. */
async function rawSession(version: string): Promise<string> {
  const res = await fetch(stack.url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: "raw", version: "1.0.0" } },
    }),
  });
  expect(res.status).toBe(200);
  await res.text();
  const id = res.headers.get("mcp-session-id") as string;
  const note = await fetch(stack.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-session-id": id,
      "mcp-protocol-version": version,
    },
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  expect(note.status).toBe(202);
  return id;
}

/** The SSE events of a tools/call of `quick` on the session, sent with this protocol header. */
async function callEvents(session: string, header: string): Promise<{ id?: string; retry?: string; data: string }[]> {
  const res = await fetch(stack.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-session-id": session,
      "mcp-protocol-version": header,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "quick", arguments: {} } }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  return (await res.text())
    .split("\n\n")
    .filter((e) => e.trim())
    .map((e) => ({
      id: /^id: ?(.*)$/m.exec(e)?.[1],
      retry: /^retry: ?(\d+)$/m.exec(e)?.[1],
      data: [...e.matchAll(/^data: ?(.*)$/gm)].map((m) => m[1]).join("\n"),
    }));
}

describe("a resume where the events are not held (another replica, or forgotten)", () => {
  test("the call is answered from its Task: the result, though the notifications before it are lost", async () => {
    const session = await rawSession("2025-11-25");
    const before = started;
    const post = new AbortController();
    const res = await fetch(stack.url, {
      method: "POST",
      signal: post.signal,
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": session,
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: "call-9",
        method: "tools/call",
        params: { name: "wait_for_release", arguments: {} },
      }),
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const priming = /^id: ?(.*)$/m.exec(first)?.[1] as string;
    expect(priming).toBeString();
    await eventually(() => started > before, { timeout: 20_000 });
    post.abort(); // the stream breaks
    // the same id as another replica's store would have given it: this one does not hold it
    const foreign = `elsewhere.${priming.split(".").slice(1).join(".")}`;
    const resume = (lastEventId: string) =>
      fetch(stack.url, {
        headers: {
          accept: "text/event-stream",
          "mcp-session-id": session,
          "mcp-protocol-version": "2025-11-25",
          "last-event-id": lastEventId,
        },
      });
    const resumed = await resume(foreign);
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get("content-type")).toBe("text/event-stream");
    release();
    const text = await resumed.text();
    const answer = JSON.parse(/^data: (.*)$/m.exec(text)?.[1] as string);
    expect(answer).toMatchObject({ jsonrpc: "2.0", id: "call-9", result: { structuredContent: { released: true } } });
    expect(text).not.toContain("notifications/progress");
    // a request that made no Task (tools/list) is told to send it again, not left waiting
    const listed = await resume(`elsewhere.1.${Buffer.from(JSON.stringify([42])).toString("base64url")}`);
    expect(JSON.parse(/^data: (.*)$/m.exec(await listed.text())?.[1] as string)).toMatchObject({
      id: 42,
      error: { code: -32000, message: expect.stringContaining("send it again") },
    });
  }, 60_000);
});

describe("what is not resumed", () => {
  test("an event id this replica does not hold: 400 saying so, and the session goes on", async () => {
    const session = await rawSession("2025-11-25");
    const events = await callEvents(session, "2025-11-25");
    const held = events[0]?.id as string;
    const resume = (lastEventId: string) =>
      fetch(stack.url, {
        headers: {
          accept: "text/event-stream",
          "mcp-session-id": session,
          "mcp-protocol-version": "2025-11-25",
          "last-event-id": lastEventId,
        },
      });
    // allowed: an id the gateway sent is resumed (the stream is finished: nothing more to send)
    const ok = await resume(held);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toContain("text/event-stream");
    await ok.body?.cancel();
    // refused: one it never sent (another replica's, or made up)
    const refused = await resume("someone-else.7");
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: -32000, message: "Invalid event ID format" } });
    expect((await callEvents(session, "2025-11-25")).some((e) => e.data.includes('"ok":true'))).toBe(true);
  }, 30_000);

  test("priming: a 2025-11-25 session's call stream opens with an id, no data and the retry field; a 2025-03-26 session's does not", async () => {
    const modern = await rawSession("2025-11-25");
    const first = (await callEvents(modern, "2025-11-25"))[0];
    expect(first?.id).toBeString();
    expect(first?.data).toBe("");
    expect(first?.retry).toBe(String(streamRetryMs));
    // the session negotiated 2025-11-25: a later, older header does not take the priming away
    expect((await callEvents(modern, "2025-03-26"))[0]?.data).toBe("");
    // a session of 2025-03-26: its first event is the answer itself
    const older = await rawSession("2025-03-26");
    const events = await callEvents(older, "2025-03-26");
    expect(events[0]?.data).toContain('"result"');
    expect(events.every((e) => e.data !== "")).toBe(true);
  }, 30_000);
});
