/**
 * Fuzzing the gateway over HTTP: generated inputs (random bytes, malformed
 * and deeply nested JSON, wrong JSON-RPC shapes, huge strings, wrong types
 * for every argument of every tool from its inputSchema, bad headers and
 * methods) against a gateway process, from a seeded PRNG so a failure can be
 * replayed with SEED=. Every input must get a clear answer: an HTTP 4xx or a
 * JSON-RPC error (or a plain success for the few valid ones), never a 5xx, a
 * hang or a dropped connection; the process must survive, and its memory
 * come back to steady. Used by bench/fuzz-gateway.ts and test/chaos/fuzz.test.ts.
 */
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pLimit from "p-limit";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort, LocalControlPlane } from "../../lib/control-plane/local.ts";
import { tools as dataTools } from "../../services/agents/data-processor/tools.ts";
import { setUpDomain } from "../control-plane.ts";
import { benchLog, type InProcessConductor, startInProcessConductor } from "../harness.ts";
import { Prng } from "./prng.ts";
import { httpOk, ManagedProcess, procStatusBytes } from "./processes.ts";

export interface FuzzOptions {
  inputs: number;
  seed: number;
  concurrency: number;
  /** Per input; longer counts as a hang. */
  timeoutMs: number;
  say?: (msg: string) => void;
}

export interface FuzzReport {
  seed: number;
  inputs: number;
  byGenerator: Record<string, number>;
  answers: {
    http4xx: number;
    jsonRpcError: number;
    /** JSON-RPC -32603: a clear error, but the server's own fault. */
    internalError: number;
    /** Valid inputs answered normally (a notification's 202, a valid call). */
    accepted: number;
    /** GETs that opened a session's SSE stream: held open by design, headers not sent before the first event. */
    heldStream: number;
  };
  failures: { http5xx: number; hangs: number; dropped: number; unclear2xx: number };
  /** Failures (5xx, hangs, dropped, unclear) by generator. */
  failuresByGenerator: Record<string, number>;
  /** The first few failures, each with the seed and index that replay it. */
  examples: { index: number; generator: string; what: string }[];
  /** The first few inputs answered with JSON-RPC -32603. */
  internalExamples: { index: number; generator: string; what: string }[];
  gatewayAlive: boolean;
  rssMiB: { steadyBefore: number; peak: number; after10s: number; after30s: number };
  durationSeconds: number;
  ok: boolean;
}

interface FuzzInput {
  generator: string;
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** Needs a live session: filled in by the runner. */
  session?: boolean;
  /** Sent twice at once (the same JSON-RPC id in flight twice on one session); both must be answered. */
  twice?: boolean;
}

type ToolInfo = { name: string; inputSchema: { properties?: Record<string, { type?: string }>; required?: string[] } };

const jsonHeaders = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const protocol = "2025-06-18";

/** A value of a JSON type other than `type`. */
function wrongValue(rng: Prng, type: string | undefined): unknown {
  const all: [string, () => unknown][] = [
    ["string", () => rng.pick(["", "x", "🙂".repeat(rng.int(1, 50)), "\u0000", "1e309"])],
    ["integer", () => rng.pick([0, -1, 2 ** 53 + 1, -(2 ** 31)])],
    ["number", () => rng.pick([1.5, -0.0001, 1e308])],
    ["boolean", () => rng.pick([true, false])],
    ["array", () => rng.pick([[], [1, "a", null], [[[]]]])],
    [
      "object",
      () =>
        rng.pick<unknown>([
          {},
          { a: 1 },
          JSON.parse('{"__proto__":{"polluted":true}}'),
          { constructor: { prototype: {} } },
        ]),
    ],
    ["null", () => null],
  ];
  const others = all.filter(([t]) => t !== type && !(type === "number" && t === "integer"));
  return rng.pick(others)[1]();
}

function nested(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? `${"[".repeat(depth)}${"]".repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

function generate(rng: Prng, tools: ToolInfo[]): FuzzInput {
  const rpc = (method: string, params: unknown, id: unknown = rng.int(1, 1e6)) =>
    JSON.stringify({ jsonrpc: "2.0", id, method, params });
  const generator = rng.weighted({
    randomBytes: 10,
    malformedJson: 12,
    deepJson: 6,
    wrongShape: 16,
    hugeString: 4,
    wrongArgTypes: 30,
    badHeaders: 12,
    badMethod: 5,
    batch: 5,
    duplicateId: 1,
  });
  switch (generator) {
    case "randomBytes":
      return {
        generator,
        method: "POST",
        headers: jsonHeaders,
        body: rng.bytes(rng.int(0, 4096)),
        session: rng.next() < 0.5,
      };
    case "malformedJson": {
      const valid = rpc("tools/call", { name: rng.pick(tools).name, arguments: {} });
      const cut = valid.slice(0, rng.int(0, valid.length - 1));
      const mutated = rng.pick([
        cut,
        valid.replace(/"/g, rng.pick(["'", "", "\\"])),
        `${valid},`,
        valid.replace("{", "{{"),
        `\uFEFF${valid}`,
        "NaN",
        "undefined",
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":1e999999}}}`,
      ]);
      return { generator, method: "POST", headers: jsonHeaders, body: mutated, session: rng.next() < 0.7 };
    }
    case "deepJson": {
      const depth = rng.pick([100, 1000, 10_000, 100_000]);
      const inner = nested(depth, rng.pick(["array", "object"] as const));
      const body =
        rng.next() < 0.5
          ? inner
          : `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${rng.pick(tools).name}","arguments":{"x":${inner}}}}`;
      return { generator, method: "POST", headers: jsonHeaders, body, session: true };
    }
    case "wrongShape": {
      const shapes: unknown[] = [
        { id: 1, method: "tools/list" },
        { jsonrpc: "1.0", id: 1, method: "tools/list" },
        { jsonrpc: "2.0", id: { a: 1 }, method: "tools/list" },
        { jsonrpc: "2.0", id: [1], method: "tools/list" },
        { jsonrpc: "2.0", id: 1.5, method: "tools/list" },
        { jsonrpc: "2.0", id: 1, method: 42 },
        { jsonrpc: "2.0", id: 1, method: "tools/call", params: [] },
        { jsonrpc: "2.0", id: 1, method: "tools/call", params: "x" },
        { jsonrpc: "2.0", id: 1, method: "tools/call" },
        { jsonrpc: "2.0", id: 1, method: "tools/call", params: { arguments: {} } },
        { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: 7 } },
        { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "no-such-tool", arguments: {} } },
        { jsonrpc: "2.0", id: 1, method: "no/such/method", params: {} },
        { jsonrpc: "2.0", id: 1, method: "tasks/get", params: { taskId: "call-000000000000000000000000" } },
        { jsonrpc: "2.0", id: 1, method: "tasks/get", params: { taskId: "../../etc/passwd" } },
        { jsonrpc: "2.0", id: 1, method: "tasks/cancel", params: { taskId: 5 } },
        { jsonrpc: "2.0", id: 1, method: "tasks/list", params: { cursor: "-1" } },
        { jsonrpc: "2.0", id: 1, method: "tasks/result", params: {} },
        { jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri: "file:///etc/passwd" } },
        { jsonrpc: "2.0", id: 1, method: "prompts/get", params: { name: "x" } },
        { jsonrpc: "2.0", id: 1, method: "completion/complete", params: {} },
        { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: 5 } },
        { jsonrpc: "2.0", id: 1, method: "initialize" },
        { jsonrpc: "2.0", id: 1, result: {} },
        { jsonrpc: "2.0", id: 1, error: { code: 1, message: "x" } },
        { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "nope" } },
        { jsonrpc: "2.0", id: null, method: "tools/list" },
        null,
        42,
        "string",
        true,
        {},
      ];
      // A fresh id unless the shape is about the id: a reused id is its own generator (duplicateId).
      const shape = rng.pick(shapes);
      if (shape && typeof shape === "object" && (shape as { id?: unknown }).id === 1)
        (shape as { id?: unknown }).id = rng.int(2, 1e9);
      return {
        generator,
        method: "POST",
        headers: jsonHeaders,
        body: JSON.stringify(shape),
        session: rng.next() < 0.8,
      };
    }
    case "hugeString": {
      const size = rng.pick([200_000, 900_000, 1_100_000, 5_000_000]);
      const tool = rng.pick(tools);
      const key = Object.keys(tool.inputSchema.properties ?? { x: {} })[0] ?? "x";
      return {
        generator,
        method: "POST",
        headers: jsonHeaders,
        body: rpc("tools/call", {
          name: rng.next() < 0.2 ? "x".repeat(size) : tool.name,
          arguments: { [key]: "x".repeat(size) },
        }),
        session: true,
      };
    }
    case "wrongArgTypes": {
      const tool = rng.pick(tools);
      const props = tool.inputSchema.properties ?? {};
      const names = Object.keys(props);
      const args: Record<string, unknown> = {};
      // Every argument of the wrong type, or one wrong among none, or arguments not an object.
      const how = rng.pick(["all", "one", "notObject", "missingRequired", "unknownOnly"] as const);
      if (how === "all") for (const n of names) args[n] = wrongValue(rng, props[n]?.type);
      if (how === "one" && names.length) {
        const n = rng.pick(names);
        args[n] = wrongValue(rng, props[n]?.type);
      }
      if (how === "unknownOnly") args[`x${rng.int(0, 99)}`] = wrongValue(rng, undefined);
      const params = {
        name: tool.name,
        arguments: how === "notObject" ? wrongValue(rng, "object") : args,
        ...(rng.next() < 0.2 ? { task: rng.pick([{ ttl: -1 }, { ttl: "x" }, {}, null]) } : {}),
      };
      return { generator, method: "POST", headers: jsonHeaders, body: rpc("tools/call", params), session: true };
    }
    case "badHeaders": {
      const body = rpc("tools/list", {});
      const variants: [Record<string, string>, boolean][] = [
        [{ "content-type": "text/plain", accept: jsonHeaders.accept }, true],
        [{ "content-type": "application/json" }, true],
        [{ "content-type": "application/json", accept: "text/html" }, true],
        [{ ...jsonHeaders, "mcp-session-id": "not-a-session" }, false],
        [{ ...jsonHeaders, "mcp-session-id": "x".repeat(4000) }, false],
        [{ ...jsonHeaders, "mcp-protocol-version": "1999-01-01" }, true],
        [{ ...jsonHeaders, "mcp-protocol-version": "2026-07-28" }, false],
        [{ ...jsonHeaders, "mcp-protocol-version": "\u00ff\u00fe" }, true],
        [{ ...jsonHeaders, origin: "http://evil.example.com" }, true],
        [{ ...jsonHeaders, origin: "null" }, true],
        [{ ...jsonHeaders, authorization: "Bearer \u00ff" }, true],
        [{ ...jsonHeaders, authorization: `Bearer ${"a".repeat(8000)}` }, true],
        [{ ...jsonHeaders, "content-length": "5" }, true],
        [{ ...jsonHeaders, "content-encoding": "gzip" }, true],
        [{ ...jsonHeaders, "last-event-id": "garbage" }, true],
      ];
      const [headers, session] = rng.pick(variants);
      return { generator, method: "POST", headers, body, session };
    }
    case "badMethod": {
      const method = rng.pick(["GET", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]);
      const withSession = rng.next() < 0.5;
      return {
        generator,
        method,
        headers: { accept: rng.pick(["text/event-stream", "application/json", "*/*"]) },
        body: method === "PUT" || method === "PATCH" ? rpc("tools/list", {}) : undefined,
        session: withSession && method !== "DELETE",
      };
    }
    case "duplicateId":
      return {
        generator,
        method: "POST",
        headers: jsonHeaders,
        body: rpc("tasks/get", { taskId: `call-${"0".repeat(24)}` }, 7),
        session: true,
        twice: true,
      };
    default: {
      // batch: arrays of messages, empty or mixed
      const items = Array.from({ length: rng.int(0, 20) }, () =>
        rng.pick([{ jsonrpc: "2.0", id: rng.int(1, 99), method: "tools/list" }, 1, null, "x", []]),
      );
      return { generator: "batch", method: "POST", headers: jsonHeaders, body: JSON.stringify(items), session: true };
    }
  }
}

type Verdict =
  | "http4xx"
  | "jsonRpcError"
  | "internalError"
  | "accepted"
  | "heldStream"
  | "http5xx"
  | "hang"
  | "dropped"
  | "unclear2xx";

async function judge(res: Response): Promise<Verdict> {
  if (res.status >= 500) return "http5xx";
  const text = await res.text();
  if (res.status >= 400) return "http4xx";
  if (res.status === 202 || res.status === 204 || text === "") return "accepted";
  // JSON, or SSE whose data lines hold JSON-RPC messages.
  const payloads = (res.headers.get("content-type") ?? "").includes("text/event-stream")
    ? text
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trim())
        .filter(Boolean)
    : [text];
  let sawError = false;
  let sawResult = false;
  for (const p of payloads) {
    try {
      const msgs = [JSON.parse(p)].flat() as { error?: { code?: number }; result?: unknown }[];
      for (const m of msgs) {
        if (m?.error) {
          if (m.error.code === -32603) return "internalError";
          sawError = true;
        } else if (m && "result" in m) sawResult = true;
      }
    } catch {
      return "unclear2xx";
    }
  }
  if (sawError) return "jsonRpcError";
  return sawResult ? "accepted" : "unclear2xx";
}

export async function runFuzz(given: Partial<FuzzOptions> = {}): Promise<FuzzReport> {
  const o: FuzzOptions = { inputs: 10_000, seed: 1, concurrency: 8, timeoutMs: 15_000, ...given };
  const say = o.say ?? benchLog;
  const t0 = Date.now();
  say(`fuzz: seed ${o.seed} (replay with SEED=${o.seed}), ${o.inputs} inputs`);
  const ns = "fuzz";
  const cp = await LocalControlPlane.start();
  const logDir = join(tmpdir(), `mcp-conductor-fuzz-${Date.now()}`);
  mkdirSync(logDir, { recursive: true });
  let gateway: ManagedProcess | undefined;
  let conductor: InProcessConductor | undefined;
  try {
    const { kubeconfig, conn } = await setUpDomain(cp, ns);
    // The rest of the conductor in this process; the gateway, under test, in its own.
    conductor = await startInProcessConductor({
      conn,
      namespace: ns,
      agents: { names: ["fuzz-agent"], tools: dataTools, maxConcurrentTasks: 20 },
    });
    const port = await freePort();
    gateway = new ManagedProcess(
      {
        name: "gateway",
        role: "gateway",
        cmd: [
          process.execPath,
          join(repoRoot, "services/gateway/main.ts"),
          `--namespace=${ns}`,
          `--port=${port}`,
          "--host=127.0.0.1",
          "--rate-per-second=1000000",
          "--burst=1000000",
          // no tokens: open mode, on loopback; metrics on any free port
          "--allow-unauthenticated",
          "--metrics-port=0",
        ],
        env: { KUBECONFIG: kubeconfig, LOG_LEVEL: "fatal" },
        ready: () => httpOk(`http://127.0.0.1:${port}/readyz`),
      },
      logDir,
      say,
    );
    await gateway.start();
    const url = `http://127.0.0.1:${port}/mcp`;

    // A session for the inputs that need one (initialize, then initialized).
    const openSession = async (): Promise<string> => {
      for (;;) {
        const res = await fetch(url, {
          method: "POST",
          headers: jsonHeaders,
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: 0,
            method: "initialize",
            params: { protocolVersion: protocol, capabilities: {}, clientInfo: { name: "fuzz", version: "1" } },
          }),
        });
        await res.text();
        const sid = res.headers.get("mcp-session-id");
        if (sid) {
          await fetch(url, {
            method: "POST",
            headers: { ...jsonHeaders, "mcp-session-id": sid, "mcp-protocol-version": protocol },
            body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
          }).then((r) => r.text());
          return sid;
        }
        await Bun.sleep(200);
      }
    };
    let sessions = await Promise.all(Array.from({ length: 4 }, openSession));
    // The tools and their schemas, as a client sees them.
    let tools: ToolInfo[] = [];
    while (tools.length < dataTools.length) {
      const res = await fetch(url, {
        method: "POST",
        headers: { ...jsonHeaders, "mcp-session-id": sessions[0] as string, "mcp-protocol-version": protocol },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
      });
      const text = await res.text();
      const data = text.includes("data:") ? (text.split("data:")[1] ?? "").trim() : text;
      tools = ((JSON.parse(data) as { result?: { tools?: ToolInfo[] } }).result?.tools ?? []).filter((t) =>
        dataTools.some((d) => d.name === t.name),
      );
      if (tools.length < dataTools.length) await Bun.sleep(200);
    }

    // Steady memory first: a few hundred ordinary requests.
    const pid = gateway.pid as number;
    for (let i = 0; i < 300; i++) {
      await fetch(url, {
        method: "POST",
        headers: {
          ...jsonHeaders,
          "mcp-session-id": sessions[i % sessions.length] as string,
          "mcp-protocol-version": protocol,
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: i, method: "tools/list", params: {} }),
      }).then((r) => r.text());
    }
    await Bun.sleep(2000);
    const steadyBefore = procStatusBytes(pid, "VmRSS") ?? 0;
    let peak = steadyBefore;

    const rng = new Prng(o.seed);
    const inputs = Array.from({ length: o.inputs }, () => generate(rng, tools));
    const byGenerator: Record<string, number> = {};
    for (const i of inputs) byGenerator[i.generator] = (byGenerator[i.generator] ?? 0) + 1;
    const counts: Record<Verdict, number> = {
      http4xx: 0,
      jsonRpcError: 0,
      internalError: 0,
      accepted: 0,
      heldStream: 0,
      http5xx: 0,
      hang: 0,
      dropped: 0,
      unclear2xx: 0,
    };
    const examples: FuzzReport["examples"] = [];
    const internalExamples: FuzzReport["examples"] = [];
    const failuresByGenerator: Record<string, number> = {};
    const limit = pLimit(o.concurrency);
    let done = 0;
    await Promise.all(
      inputs.map((input, index) =>
        limit(async () => {
          const sid = sessions[index % sessions.length] as string;
          const headers = input.session
            ? {
                ...input.headers,
                "mcp-session-id": sid,
                "mcp-protocol-version": input.headers["mcp-protocol-version"] ?? protocol,
              }
            : input.headers;
          let verdict: Verdict;
          let what = "";
          try {
            const send = () =>
              fetch(url, {
                method: input.method,
                headers,
                body: input.body as BodyInit | undefined,
                // A session's GET stream is held open by design: do not wait long for it.
                signal: AbortSignal.timeout(input.method === "GET" && input.session ? 3000 : o.timeoutMs),
              });
            let res: Response;
            if (input.twice) {
              // The same request id twice at once: both must be answered; the first is judged here.
              const [a, b] = await Promise.all([send(), send()]);
              const other = await judge(b);
              if (other !== "http4xx" && other !== "jsonRpcError" && other !== "accepted") throw new Error(other);
              res = a;
            } else {
              res = await send();
            }
            // A GET with a session opens the SSE stream, which stays open by design: its headers are the answer.
            if (
              input.method === "GET" &&
              res.ok &&
              (res.headers.get("content-type") ?? "").includes("text/event-stream")
            ) {
              await res.body?.cancel();
              verdict = "accepted";
            } else {
              verdict = await judge(res);
              what = `HTTP ${res.status}`;
            }
          } catch (err) {
            const e = err as Error;
            const timedOut = e.name === "TimeoutError" || e.name === "AbortError";
            // The standalone SSE stream of a session (GET) stays open by design; Bun sends its
            // headers only with the first event, so it looks like a hang from here.
            const sseGet =
              input.method === "GET" && input.session && /event-stream|\*\/\*/.test(input.headers.accept ?? "");
            verdict = timedOut ? (sseGet ? "heldStream" : "hang") : "dropped";
            what = `${e.name}: ${e.message}`;
          }
          counts[verdict]++;
          const bad = ["http5xx", "hang", "dropped", "unclear2xx"].includes(verdict);
          if (bad) failuresByGenerator[input.generator] = (failuresByGenerator[input.generator] ?? 0) + 1;
          if ((bad && examples.length < 20) || (verdict === "internalError" && internalExamples.length < 5)) {
            const body =
              typeof input.body === "string"
                ? input.body.slice(0, 120)
                : input.body
                  ? `<${input.body.length} bytes>`
                  : "";
            const example = { index, generator: input.generator, what: `${verdict} ${what} ${input.method} ${body}` };
            (bad ? examples : internalExamples).push(example);
          }
          if (++done % 1000 === 0) {
            peak = Math.max(peak, procStatusBytes(pid, "VmRSS") ?? 0);
            say(`fuzz: ${done}/${o.inputs}`);
          }
          // A DELETE might end a session: keep the pool alive.
          if (input.method === "DELETE" && input.session) sessions = [...sessions];
        }),
      ),
    );
    peak = Math.max(peak, procStatusBytes(pid, "VmHWM") ?? 0);
    const gatewayAlive = gateway.pid === pid && (await httpOk(`http://127.0.0.1:${port}/healthz`));
    // Back to steady: give the collector time, then measure again.
    await Bun.sleep(10_000);
    const after10s = procStatusBytes(pid, "VmRSS") ?? 0;
    await Bun.sleep(20_000);
    const after = procStatusBytes(pid, "VmRSS") ?? 0;
    const failures = {
      http5xx: counts.http5xx,
      hangs: counts.hang,
      dropped: counts.dropped,
      unclear2xx: counts.unclear2xx,
    };
    const m = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    const report: FuzzReport = {
      seed: o.seed,
      inputs: o.inputs,
      byGenerator,
      answers: {
        http4xx: counts.http4xx,
        jsonRpcError: counts.jsonRpcError,
        internalError: counts.internalError,
        accepted: counts.accepted,
        heldStream: counts.heldStream,
      },
      failures,
      failuresByGenerator,
      examples,
      internalExamples,
      gatewayAlive,
      rssMiB: { steadyBefore: m(steadyBefore), peak: m(peak), after10s: m(after10s), after30s: m(after) },
      durationSeconds: Math.round((Date.now() - t0) / 1000),
      ok: gatewayAlive && Object.values(failures).every((n) => n === 0),
    };
    return report;
  } finally {
    await gateway?.stop();
    // Every part is stopped even if one fails to; that failure must not hide the report.
    await conductor?.stop().catch(() => {});
    await cp.stop();
  }
}

export function formatFuzzReport(r: FuzzReport): string {
  return [
    `seed ${r.seed} (replay: SEED=${r.seed}); ${r.inputs} inputs in ${r.durationSeconds} s; by generator ${JSON.stringify(r.byGenerator)}`,
    `answers: HTTP 4xx ${r.answers.http4xx}, JSON-RPC error ${r.answers.jsonRpcError} (of which -32603 internal ${r.answers.internalError}), accepted ${r.answers.accepted}, SSE streams held open (GET with a session) ${r.answers.heldStream}`,
    `failures: 5xx ${r.failures.http5xx}, hangs ${r.failures.hangs}, dropped ${r.failures.dropped}, unclear 2xx ${r.failures.unclear2xx}; by generator ${JSON.stringify(r.failuresByGenerator)}`,
    ...r.examples.slice(0, 10).map((e) => `  #${e.index} ${e.generator}: ${e.what}`),
    ...r.internalExamples.map((e) => `  -32603: #${e.index} ${e.generator}: ${e.what}`),
    `gateway alive: ${r.gatewayAlive}; RSS MiB steady ${r.rssMiB.steadyBefore}, peak ${r.rssMiB.peak}, 10 s after ${r.rssMiB.after10s}, 30 s after ${r.rssMiB.after30s}`,
    r.ok ? "OK" : "FAILED",
  ].join("\n");
}
