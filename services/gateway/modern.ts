/**
 * MCP 2026-07-28 on the gateway's /mcp endpoint: stateless, one JSON-RPC
 * request per HTTP POST, every request carrying its protocol version and
 * client capabilities in `_meta`, `server/discover` instead of `initialize`,
 * `subscriptions/listen` instead of the GET stream, and the tasks extension
 * (`io.modelcontextprotocol/tasks`, SEP-2663) served from Task objects.
 *
 * Nothing here keeps state between requests: a tool call is a Task object,
 * its MCP task is that object (taskId = its unguessable name), and any
 * gateway replica answers any request. A synchronous call whose tool asks
 * the client something is answered input_required (SEP-2322) with the
 * questions and a sealed requestState naming its Task; the client's retry
 * writes its answers on the Task and waits on, on whichever replica it
 * reaches. The 2025 revisions keep their sessions on the same endpoint
 * (gateway.ts picks the era per request).
 */
import { atLeast, type LoggingLevel, loggingLevels } from "../../lib/agent/progress.ts";
import type { Task } from "../../lib/api/resources.ts";
import { type Logger, logIgnored } from "../../lib/log.ts";
import { requestTraceparent } from "../../lib/trace-context.ts";
import { tasksExtension } from "./calls/checks.ts";
import type { CallCore, CallOutcome, CallRequest } from "./calls/core.ts";
import { CallError, errorCodes, toCallError } from "./calls/errors.ts";
import { AttemptMovedOn, answersOf, attemptOf, NotAsking, writeAnswers } from "./calls/input.ts";
import type { CallStore } from "./calls/store.ts";
import { detailedTask, type TaskView, taskEnvelope } from "./calls/task-view.ts";
import type { Caller } from "./calls/tools.ts";
import type { Federation } from "./federation.ts";
import { isMcpError } from "./mcp-error.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { gettingPrompt } from "./prompt-input.ts";
import type { RequestStates } from "./request-state.ts";
import { serverInfo } from "./server-info.ts";

export { errorCodes, tasksExtension };

export const modernVersion = "2026-07-28";
/** Every revision /mcp answers: this one statelessly, the others through initialize and sessions. */
export const supportedVersions = [modernVersion, "2025-11-25", "2025-06-18", "2025-03-26"];

const metaKeys = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  subscriptionId: "io.modelcontextprotocol/subscriptionId",
  /** The least severe notifications/message the client wants for this request; none without it. */
  logLevel: "io.modelcontextprotocol/logLevel",
} as const;

/** Methods of the 2025 revisions that 2026-07-28 removed. */
const removedMethods = new Set([
  "initialize",
  "ping",
  "logging/setLevel",
  "resources/subscribe",
  "resources/unsubscribe",
  "tasks/result",
  "tasks/list",
]);

/** How long clients may cache lists: agents and servers come and go on the scale of seconds. */
export const cacheHints = {
  tools: { ttlMs: 5_000, cacheScope: "public" },
  resources: { ttlMs: 5_000, cacheScope: "public" },
  prompts: { ttlMs: 30_000, cacheScope: "public" },
} as const;

type Json = Record<string, unknown>;
type RequestId = string | number;

/** A JSON-RPC error with the HTTP status it travels with. */
export class ProtocolError extends CallError {
  constructor(code: number, message: string, status = 400, data?: unknown) {
    super(code, message, data, status);
  }
}

export interface ModernDeps {
  /** Tool calls, both eras' one core. */
  core: CallCore;
  /** MCP tasks from Task objects. */
  view: TaskView;
  calls: CallStore;
  /** Seals and opens the requestState of calls answered input_required. */
  requestStates: RequestStates;
  federation: Federation;
  log: Logger;
  metrics?: GatewayMetrics;
  /** Registers a listen stream for list changes; returns how to unregister it. */
  onListChanged(fn: (kind: "tools" | "resources" | "prompts") => void): () => void;
  onResourceUpdated(fn: (uri: string) => void): () => void;
  instructions: string;
}

/** Whether a request belongs to the 2026-07-28 era rather than to a 2025 session. */
export function isModernRequest(headers: Headers, body: unknown): boolean {
  const header = headers.get("mcp-protocol-version");
  if (header && header >= "2026") return true;
  if (headers.get("mcp-session-id")) return false;
  const m = (Array.isArray(body) ? undefined : body) as Json | undefined;
  if (!m || typeof m !== "object") return false;
  if (m.method === "server/discover" || m.method === "subscriptions/listen") return true;
  const meta = (m.params as Json | undefined)?._meta as Json | undefined;
  return !!meta && typeof meta === "object" && metaKeys.protocolVersion in meta;
}

const respond = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

const errorBody = (id: RequestId | null, e: CallError) => ({
  jsonrpc: "2.0",
  id,
  error: { code: e.code, message: e.message, ...(e.data !== undefined ? { data: e.data } : {}) },
});

/** The value Mcp-Name must carry for a method, if it has one. */
function nameOf(method: string, params: Json): string | undefined {
  if (method === "tools/call" || method === "prompts/get") return params.name as string | undefined;
  if (method === "resources/read") return params.uri as string | undefined;
  if (method.startsWith("tasks/")) return params.taskId as string | undefined;
  return undefined;
}

const hasTasksExtension = (caps: Json): boolean =>
  !!caps.extensions && typeof caps.extensions === "object" && tasksExtension in (caps.extensions as Json);

export class ModernHandler {
  constructor(private readonly deps: ModernDeps) {}

  private withMeta(result: Json): Json {
    return {
      ...result,
      resultType: (result.resultType as string | undefined) ?? "complete",
      _meta: { ...((result._meta as Json | undefined) ?? {}), [metaKeys.serverInfo]: serverInfo },
    };
  }

  capabilities(): Json {
    return {
      tools: { listChanged: true },
      resources: { listChanged: true, subscribe: true },
      prompts: { listChanged: true },
      completions: {},
      // deprecated in 2026-07-28, still answered: a tool's ctx.log, for a request whose _meta asks
      logging: {},
      extensions: { [tasksExtension]: {} },
    };
  }

  /** Handles one 2026-07-28 request; `body` is already parsed. */
  async handle(req: Request, body: unknown, caller: Caller): Promise<Response> {
    if (Array.isArray(body))
      return respond(400, errorBody(null, new ProtocolError(errorCodes.invalidRequest, "batches are not supported")));
    const msg = body as Json;
    if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0" || typeof msg.method !== "string")
      return respond(400, errorBody(null, new ProtocolError(errorCodes.invalidRequest, "not a JSON-RPC 2.0 request")));
    if (!("id" in msg)) return new Response(null, { status: 202 }); // a notification: nothing to answer
    const id = msg.id as RequestId;
    const method = msg.method;
    const log = this.deps.log.child({ requestId: String(id), method, client: caller.client });
    try {
      const params = (msg.params ?? {}) as Json;
      if (removedMethods.has(method) || !(method in this.methods))
        throw new ProtocolError(errorCodes.methodNotFound, `Method not found: ${method}`, 404);
      const caps = this.checkMeta(req.headers, method, params);
      this.deps.metrics?.rpcRequests.inc({ method: method.slice(0, 64) });
      const handler = this.methods[method as keyof typeof this.methods];
      const out = await handler.call(this, { id, params, caps, caller, req, log });
      if (out instanceof Response) return out;
      return respond(200, { jsonrpc: "2.0", id, result: this.withMeta(out) });
    } catch (err) {
      // An internal error reaches the client as -32603 and a correlation id; the rest is logged.
      return respond(...this.failure(id, err, log));
    }
  }

  /** _meta and the HTTP headers that must agree with it; returns the client's capabilities. */
  private checkMeta(headers: Headers, method: string, params: Json): Json {
    const meta = params._meta as Json | undefined;
    if (!meta || typeof meta !== "object")
      throw new ProtocolError(errorCodes.invalidParams, "params._meta is required");
    const version = meta[metaKeys.protocolVersion];
    if (typeof version !== "string")
      throw new ProtocolError(errorCodes.invalidParams, `params._meta["${metaKeys.protocolVersion}"] is required`);
    const caps = meta[metaKeys.clientCapabilities];
    if (!caps || typeof caps !== "object")
      throw new ProtocolError(errorCodes.invalidParams, `params._meta["${metaKeys.clientCapabilities}"] is required`);
    const header = headers.get("mcp-protocol-version");
    if (header !== version)
      throw new ProtocolError(
        errorCodes.headerMismatch,
        `MCP-Protocol-Version header ${header ?? "(missing)"} does not match _meta protocol version ${version}`,
      );
    if (version !== modernVersion)
      throw new ProtocolError(
        errorCodes.unsupportedVersion,
        `Unsupported protocol version ${version} without initialize`,
        400,
        { requested: version, supported: supportedVersions },
      );
    const methodHeader = headers.get("mcp-method");
    if (methodHeader !== method)
      throw new ProtocolError(
        errorCodes.headerMismatch,
        `Mcp-Method header ${methodHeader ?? "(missing)"} does not match method ${method}`,
      );
    const expected = nameOf(method, params);
    const nameHeader = headers.get("mcp-name");
    if (expected !== undefined && nameHeader?.trim() !== expected)
      throw new ProtocolError(
        errorCodes.headerMismatch,
        `Mcp-Name header ${nameHeader ?? "(missing)"} does not match ${expected}`,
      );
    return caps as Json;
  }

  private readonly methods = {
    "server/discover": async () => ({
      // what a client may cache: the answer changes only with a new gateway version
      ttlMs: 60_000,
      cacheScope: "public",
      supportedVersions,
      capabilities: this.capabilities(),
      serverInfo,
      instructions: this.deps.instructions,
    }),

    "tools/list": async ({ caller }: Ctx) => ({
      tools: await this.deps.core.list(caller),
      ...cacheHints.tools,
    }),

    "tools/call": async (ctx: Ctx) => this.callTool(ctx),

    "resources/list": async () => ({ resources: this.deps.federation.resources(), ...cacheHints.resources }),
    "resources/templates/list": async () => ({
      resourceTemplates: this.deps.federation.resourceTemplates(),
      ...cacheHints.resources,
    }),
    "resources/read": async ({ params }: Ctx) => ({
      ...(await this.deps.federation.readResource(String(params.uri ?? ""))),
      ...cacheHints.resources,
    }),
    "prompts/list": async () => ({
      prompts: this.deps.federation.prompts().map((p) => ({ ...p.prompt, name: p.name })),
      ...cacheHints.prompts,
    }),
    "prompts/get": async (ctx: Ctx) => this.getPrompt(ctx),
    "completion/complete": async ({ params }: Ctx) =>
      this.deps.federation.complete(params as unknown as Parameters<Federation["complete"]>[0]),

    "subscriptions/listen": async (ctx: Ctx) => this.listen(ctx),

    "tasks/get": async (ctx: Ctx) => detailedTask(await this.ownedTask(ctx)),
    "tasks/update": async (ctx: Ctx) => {
      const t = await this.ownedTask(ctx);
      const answered = await this.deps.view.answer(t, ctx.params.inputResponses);
      ctx.log.info({ task: t.metadata.name, answered }, "Input delivered to the task");
      return {};
    },
    "tasks/cancel": async (ctx: Ctx) => {
      const t = await this.ownedTask(ctx);
      const status = this.deps.view.status(t);
      if (status === "working" || status === "input_required") {
        await this.deps.view.cancel(t, "cancelled by the client (tasks/cancel)");
        ctx.log.info({ task: t.metadata.name }, "Task cancelled by the client");
      }
      return {};
    },
  };

  /** A Task this client may see: the tasks extension declared, the id known and its own. */
  private async ownedTask({ params, caps, caller }: Ctx): Promise<Task> {
    if (!hasTasksExtension(caps))
      throw new ProtocolError(
        errorCodes.missingClientCapability,
        `this method needs the ${tasksExtension} extension in the client's capabilities`,
        400,
        { requiredCapabilities: { extensions: { [tasksExtension]: {} } } },
      );
    return this.deps.view.owned(params.taskId, caller, { fresh: true });
  }

  /** The status and JSON-RPC error body of a failed request; internal errors are logged under a correlation id. */
  private failure(id: RequestId, err: unknown, log: Logger): [number, unknown] {
    const e = toCallError(err, log, "Request failed");
    // An MCP server's own error passes with the status it always had: 400 for invalid params, else 500.
    const status =
      isMcpError(err) && e.code !== errorCodes.internal ? (e.code === errorCodes.invalidParams ? 400 : 500) : e.status;
    return [status, errorBody(id, e)];
  }

  /**
   * prompts/get from the prompt's MCPServer. A prompt that asks the client
   * something while it is got is answered input_required with that question
   * (prompt-input.ts) and a requestState sealing the answers given so far;
   * the retry, on any replica, gets the prompt again with them and the new
   * ones (inputResponses), until the server has all it asks for.
   */
  private async getPrompt({ params, caps, caller }: Ctx): Promise<Json> {
    const name = String(params.name ?? "");
    const earlier =
      "requestState" in params ? await this.deps.requestStates.openPrompt(params.requestState, name, caller) : {};
    const given = "inputResponses" in params ? answersOf(params.inputResponses) : {};
    const out = await gettingPrompt({ answers: { ...earlier, ...given }, capabilities: caps }, (signal) =>
      this.deps.federation.getPrompt(name, params.arguments as Record<string, string> | undefined, { signal }),
    );
    if (out.kind === "result") return out.result as unknown as Json;
    return {
      resultType: "input_required",
      inputRequests: out.asked,
      requestState: this.deps.requestStates.sealPrompt(name, out.used, caller),
    } as Json;
  }

  /**
   * tools/call through the call core. With the tasks extension a tool that
   * may run as a task answers at once with its task; otherwise the answer is
   * the result, or, when the tool asks the client something, input_required
   * with the questions and a requestState (SEP-2322). A retry with that
   * requestState writes its inputResponses on the call's Task and waits on;
   * inputResponses without one (the call made afresh) answer the tool's
   * questions of the same keys. The answer comes in a JSON body, or, with a
   * progress token or a log level, in an SSE stream that carries progress
   * and messages first (a call refused by its checks is answered before any
   * stream starts). The client going away (the request aborted, the stream
   * cancelled) cancels the call.
   */
  private async callTool({ id, params, caps, caller, req, log }: Ctx): Promise<Json | Response> {
    const name = String(params.name ?? "");
    const progressToken = (params._meta as Json | undefined)?.progressToken as string | number | undefined;
    // Messages only for a request that asks for them, at its level or above (the stateless era has no setLevel).
    const asked = (params._meta as Json | undefined)?.[metaKeys.logLevel];
    const logLevel = (loggingLevels as readonly unknown[]).includes(asked) ? (asked as LoggingLevel) : undefined;
    const responses = "inputResponses" in params ? answersOf(params.inputResponses) : undefined;
    const resumed =
      "requestState" in params ? await this.resumed(params.requestState, name, responses, caller, log) : undefined;
    const gone = new AbortController();
    const abort = () => gone.abort();
    if (req.signal.aborted) abort();
    else req.signal.addEventListener("abort", abort, { once: true });
    const call: CallRequest = {
      name,
      arguments: params.arguments,
      caller,
      requestId: String(id),
      traceparent: requestTraceparent(params._meta, req.headers.get("traceparent")),
      form: hasTasksExtension(caps) ? "either" : "sync",
      era: "2026",
      signal: gone.signal,
      clientCapabilities: caps,
      input: resumed ? { answered: resumed.answered } : { given: responses },
      log,
    };
    const run = () => (resumed ? this.deps.core.resume(call, resumed.task) : this.deps.core.call(call));
    const answer = (out: CallOutcome): Json => {
      if (out.kind === "task") return { ...taskEnvelope(out.task), resultType: "task" };
      if (out.kind === "input")
        return {
          resultType: "input_required",
          inputRequests: out.requests,
          requestState: this.deps.requestStates.seal(
            {
              task: out.task.metadata.name ?? "",
              attempt: out.attempt,
              keys: Object.keys(out.requests),
              answerBy: out.answerBy,
            },
            name,
            caller,
          ),
        };
      return out.result as unknown as Json;
    };
    if (progressToken === undefined && logLevel === undefined) {
      try {
        return answer(await run());
      } finally {
        req.signal.removeEventListener("abort", abort);
      }
    }
    // Progress before the answer turns the answer into a stream.
    const encoder = new TextEncoder();
    const frame = (m: unknown) => encoder.encode(`event: message\ndata: ${JSON.stringify(m)}\n\n`);
    const early: Uint8Array[] = [];
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
    let progressed: () => void = () => {};
    const firstProgress = new Promise<"progress">((resolve) => {
      progressed = () => resolve("progress");
    });
    const send = (m: unknown) => {
      if (!controller) {
        early.push(frame(m));
        return;
      }
      try {
        controller.enqueue(frame(m));
      } catch (err) {
        // the client closed the stream: nothing more reaches it
        logIgnored(log, "Writing to the response stream")(err);
      }
    };
    if (progressToken !== undefined)
      call.onProgress = (p) => {
        send({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken, ...p } });
        progressed();
      };
    if (logLevel !== undefined)
      call.onMessage = (m) => {
        if (!atLeast(m.level, logLevel)) return;
        const params = { level: m.level, ...(m.logger ? { logger: m.logger } : {}), data: m.data };
        send({ jsonrpc: "2.0", method: "notifications/message", params });
        progressed();
      };
    const settled = run().then(
      (out) => ({ out }),
      (err: unknown) => ({ err }),
    );
    const first = await Promise.race([settled, firstProgress]);
    if (first !== "progress") {
      req.signal.removeEventListener("abort", abort);
      if ("err" in first) throw first.err;
      return answer(first.out);
    }
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        for (const chunk of early.splice(0)) c.enqueue(chunk);
        void settled.then((r) => {
          req.signal.removeEventListener("abort", abort);
          if ("out" in r) send({ jsonrpc: "2.0", id, result: this.withMeta(answer(r.out)) });
          else send(this.failure(id, r.err, log)[1]);
          try {
            c.close();
          } catch (err) {
            logIgnored(log, "Closing the response stream")(err);
          }
        });
      },
      cancel: abort,
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }

  /**
   * The Task a retried call continues: its requestState opened (this
   * caller's, for this tool, not expired), the Task found (the caller's, and
   * still a tool it may call) and the answers written on it while it asks,
   * in the attempt whose questions they answer. A Task retried since takes
   * none of them (its new attempt asks its own questions, under other keys):
   * the call waits on, to those questions (a new input_required) or to its
   * result. An answer to a question of the requestState that was answered
   * already (another retry's answer came first) is -32602 "already
   * answered".
   */
  private async resumed(
    state: unknown,
    tool: string,
    responses: Record<string, unknown> | undefined,
    caller: Caller,
    log: Logger,
  ) {
    const claims = await this.deps.requestStates.open(state, tool, caller);
    let task = await this.deps.view.find(claims.task, caller, { fresh: true });
    if (!task)
      throw new ProtocolError(
        errorCodes.invalidParams,
        "The call this requestState continues is gone (its Task was deleted or has expired); call the tool again",
      );
    let answered: string[] = [];
    if (responses) {
      try {
        ({ task, answered } = await writeAnswers(this.deps.calls, task, responses, log, {
          attempt: claims.attempt,
          asked: claims.keys,
        }));
        log.info({ task: task.metadata.name, answered }, "Input delivered to the task");
      } catch (err) {
        if (err instanceof AttemptMovedOn) {
          task = err.task;
          log.info(
            { task: task.metadata.name, answeredAttempt: claims.attempt, attempt: attemptOf(task) },
            "Answers for an attempt that is over not delivered; the call waits for the new attempt",
          );
        } else if (!(err instanceof NotAsking)) throw err;
        // not asking (finished, or between questions): nothing to write, the wait tells what comes next
      }
    }
    return { task, answered };
  }

  /**
   * subscriptions/listen: an SSE stream that first acknowledges what it will
   * carry (what was asked, less what this server never sends), then carries
   * those notifications, each tagged with the subscription's id, until the
   * client goes away.
   */
  private listen({ id, params, req, log }: Ctx): Response {
    const asked = (params.notifications ?? {}) as Json;
    // The subscription is named by the listen request's own id, so a client can match the ack to it.
    const subscriptionId = id;
    const granted: Json = {};
    if (asked.toolsListChanged === true) granted.toolsListChanged = true;
    if (asked.promptsListChanged === true) granted.promptsListChanged = true;
    if (asked.resourcesListChanged === true) granted.resourcesListChanged = true;
    const resourceSubs = Array.isArray(asked.resourceSubscriptions)
      ? (asked.resourceSubscriptions as unknown[]).filter((u): u is string => typeof u === "string")
      : [];
    if (resourceSubs.length) granted.resourceSubscriptions = resourceSubs;
    const meta = { [metaKeys.subscriptionId]: subscriptionId };
    const encoder = new TextEncoder();
    let cleanup = () => {};
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const write = (text: string) => {
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            cleanup();
          }
        };
        const send = (m: unknown) => write(`event: message\ndata: ${JSON.stringify(m)}\n\n`);
        send({
          jsonrpc: "2.0",
          method: "notifications/subscriptions/acknowledged",
          params: { notifications: granted, _meta: meta },
        });
        const methodFor = {
          tools: "toolsListChanged",
          resources: "resourcesListChanged",
          prompts: "promptsListChanged",
        };
        const offList = this.deps.onListChanged((kind) => {
          if (granted[methodFor[kind]] === true)
            send({ jsonrpc: "2.0", method: `notifications/${kind}/list_changed`, params: { _meta: meta } });
        });
        const offUpdated = this.deps.onResourceUpdated((uri) => {
          if (resourceSubs.includes(uri))
            send({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri, _meta: meta } });
        });
        for (const uri of resourceSubs)
          void this.deps.federation.subscribe(uri).catch(logIgnored(this.deps.log, "Subscribing upstream", { uri }));
        // SSE comments keep proxies from closing a quiet stream.
        const keepAlive = setInterval(() => write(": keep-alive\n\n"), 15_000);
        cleanup = () => {
          clearInterval(keepAlive);
          offList();
          offUpdated();
        };
        req.signal.addEventListener("abort", () => {
          cleanup();
          try {
            controller.close();
          } catch (err) {
            logIgnored(log, "Closing the subscription stream")(err);
          }
        });
      },
      cancel: () => cleanup(),
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }
}

interface Ctx {
  id: RequestId;
  params: Json;
  caps: Json;
  caller: Caller;
  req: Request;
  log: Logger;
}
