/**
 * MCP 2026-07-28 on the gateway's /mcp endpoint: stateless, one JSON-RPC
 * request per HTTP POST, every request carrying its protocol version and
 * client capabilities in `_meta`, `server/discover` instead of `initialize`,
 * `subscriptions/listen` instead of the GET stream, and the tasks extension
 * (`io.modelcontextprotocol/tasks`, SEP-2663) served from Task objects.
 *
 * Nothing here keeps state between requests: a tool call is a Task object,
 * its MCP task is that object (taskId = its unguessable name), and any
 * gateway replica answers any request. The 2025 revisions keep their
 * sessions on the same endpoint (gateway.ts picks the era per request).
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { validate } from "../../lib/agent/validation.ts";
import type { Task } from "../../lib/api/resources.ts";
import { isFinallyFailed } from "../../lib/api/task-state.ts";
import { isConflict, isNotFound } from "../../lib/kube/errors.ts";
import type { Logger } from "../../lib/log.ts";
import type { Federation } from "./federation.ts";
import { resultContent, serverInfo } from "./mcp-server.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { clientLabelValue, labels, type TaskCalls } from "./task-calls.ts";
import type { GatewayTool } from "./tool-registry.ts";

export const modernVersion = "2026-07-28";
/** Every revision /mcp answers: this one statelessly, the others through initialize and sessions. */
export const supportedVersions = [modernVersion, "2025-11-25", "2025-06-18", "2025-03-26"];
export const tasksExtension = "io.modelcontextprotocol/tasks";

const metaKeys = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  subscriptionId: "io.modelcontextprotocol/subscriptionId",
} as const;

export const errorCodes = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  headerMismatch: -32020,
  missingClientCapability: -32021,
  unsupportedVersion: -32022,
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

const pollIntervalMs = 500;
const defaultTaskTtlMs = 3_600_000;

type Json = Record<string, unknown>;
type RequestId = string | number;

/** A JSON-RPC error with the HTTP status it travels with. */
export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly status = 400,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface ModernDeps {
  tools: { tools(): GatewayTool[]; get(name: string): GatewayTool | undefined };
  calls: TaskCalls;
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

const errorBody = (id: RequestId | null, e: ProtocolError) => ({
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

/** Why a synchronous call's Task was ended: its tool asked for input nobody could give. */
const inputWithoutTaskReason = "InputRequiredWithoutTask";

/** Task error reasons that mean the call itself failed, as opposed to a tool reporting an error. */
export const protocolFailureReasons = new Set([
  "DeadlineExceeded",
  "AgentLost",
  "AgentShutdown",
  "ToolFailed",
  "Timeout",
  "ResultTooLarge",
  "UnknownTool",
  "InternalError",
  inputWithoutTaskReason,
]);

/** The status of an MCP task, from its Task object (SEP-2663: a tool's own error is still completed). */
export function taskStatusOf(t: Task): "working" | "input_required" | "completed" | "failed" | "cancelled" {
  if (t.status?.phase === "Completed") return "completed";
  if (!isFinallyFailed(t)) return pendingInput(t) ? "input_required" : "working";
  const reason = t.status?.error?.reason;
  if (reason === "Cancelled") return "cancelled";
  // The call could not be carried out (the conductor gave up, or the tool crashed rather than answered).
  if (reason && protocolFailureReasons.has(reason)) return "failed";
  // The tool ran and reported an error: a completed task with an isError result.
  return "completed";
}

/** The input requests of a running task not answered yet, if any. */
export function pendingInput(t: Task): Record<string, unknown> | undefined {
  if (t.status?.phase !== "Running") return undefined;
  const requests = (t.status.inputRequests ?? {}) as Record<string, unknown>;
  return Object.keys(requests).length > 0 ? requests : undefined;
}

/** The flat task envelope of SEP-2663, for a CreateTaskResult and tasks/get. */
export function taskEnvelope(t: Task): Json {
  const s = t.status ?? {};
  const created = t.metadata.creationTimestamp ?? new Date().toISOString();
  const status = taskStatusOf(t);
  return {
    taskId: t.metadata.name ?? "",
    status,
    createdAt: created,
    lastUpdatedAt: s.completionTime ?? s.startTime ?? s.assignedTime ?? created,
    ttlMs: t.spec.ttlSecondsAfterFinished !== undefined ? t.spec.ttlSecondsAfterFinished * 1000 : defaultTaskTtlMs,
    pollIntervalMs,
    ...(status === "working"
      ? { statusMessage: `${s.phase ?? "Pending"}${s.assignedAgent ? ` on ${s.assignedAgent}` : ""}` }
      : {}),
  };
}

/** tasks/get's detailed task: the envelope, with the result or error once finished. */
export function detailedTask(t: Task): Json {
  const env = taskEnvelope(t);
  if (env.status === "completed") {
    const result: CallToolResult =
      t.status?.phase === "Completed"
        ? resultContent(t)
        : {
            isError: true,
            content: [
              { type: "text", text: `${t.status?.error?.reason ?? "Failed"}: ${t.status?.error?.message ?? ""}` },
            ],
          };
    return { ...env, result: { ...result, resultType: "complete" } };
  }
  if (env.status === "input_required") return { ...env, inputRequests: pendingInput(t) };
  if (env.status === "failed")
    return {
      ...env,
      error: {
        code: errorCodes.internal,
        message: `${t.status?.error?.reason}: ${t.status?.error?.message ?? ""}`,
        data: { reason: t.status?.error?.reason },
      },
    };
  return env;
}

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
      extensions: { [tasksExtension]: {} },
    };
  }

  /** Handles one 2026-07-28 request; `body` is already parsed. */
  async handle(req: Request, body: unknown, client: string): Promise<Response> {
    if (Array.isArray(body))
      return respond(400, errorBody(null, new ProtocolError(errorCodes.invalidRequest, "batches are not supported")));
    const msg = body as Json;
    if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0" || typeof msg.method !== "string")
      return respond(400, errorBody(null, new ProtocolError(errorCodes.invalidRequest, "not a JSON-RPC 2.0 request")));
    if (!("id" in msg)) return new Response(null, { status: 202 }); // a notification: nothing to answer
    const id = msg.id as RequestId;
    const method = msg.method;
    const log = this.deps.log.child({ requestId: String(id), method, client });
    try {
      const params = (msg.params ?? {}) as Json;
      if (removedMethods.has(method) || !(method in this.methods))
        throw new ProtocolError(errorCodes.methodNotFound, `Method not found: ${method}`, 404);
      const caps = this.checkMeta(req.headers, method, params);
      this.deps.metrics?.rpcRequests.inc({ method: method.slice(0, 64) });
      const handler = this.methods[method as keyof typeof this.methods];
      const out = await handler.call(this, { id, params, caps, client, req, log });
      if (out instanceof Response) return out;
      return respond(200, { jsonrpc: "2.0", id, result: this.withMeta(out) });
    } catch (err) {
      const e =
        err instanceof ProtocolError
          ? err
          : err instanceof McpError
            ? new ProtocolError(err.code, err.message, err.code === errorCodes.invalidParams ? 400 : 500, err.data)
            : new ProtocolError(errorCodes.internal, (err as Error).message || "internal error", 500);
      if (e.status >= 500) log.error({ err: e.message }, "Request failed");
      return respond(e.status, errorBody(id, e));
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

    "tools/list": async () => ({
      tools: this.deps.tools.tools().map((t) => ({
        name: t.name,
        ...(t.title ? { title: t.title } : {}),
        description: t.description,
        inputSchema: t.inputSchema,
        ...(t.outputSchema ? { outputSchema: t.outputSchema } : {}),
        ...(t.federated?.annotations ? { annotations: t.federated.annotations } : {}),
        execution: { taskSupport: t.taskSupport ?? "optional" },
      })),
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
    "prompts/get": async ({ params }: Ctx) =>
      this.deps.federation.getPrompt(String(params.name ?? ""), params.arguments as Record<string, string> | undefined),
    "completion/complete": async ({ params }: Ctx) =>
      this.deps.federation.complete(params as unknown as Parameters<Federation["complete"]>[0]),

    "subscriptions/listen": async (ctx: Ctx) => this.listen(ctx),

    "tasks/get": async (ctx: Ctx) => detailedTask(await this.ownedTask(ctx)),
    "tasks/update": async (ctx: Ctx) => {
      const responses = ctx.params.inputResponses;
      if (!responses || typeof responses !== "object" || Array.isArray(responses))
        throw new ProtocolError(
          errorCodes.invalidParams,
          "inputResponses must be an object keyed by the input requests",
        );
      let t = await this.ownedTask(ctx);
      // The agent writes the same status: on a conflict read again and redo it.
      for (let attempt = 0; ; attempt++) {
        const pending = pendingInput(t);
        if (!pending)
          throw new ProtocolError(
            errorCodes.invalidParams,
            `task ${t.metadata.name} is ${taskStatusOf(t)}, not input_required: it takes no update`,
          );
        // Answers to what was asked; anything else is ignored, as the extension allows.
        const answers = Object.fromEntries(Object.entries(responses as Json).filter(([k]) => k in pending));
        const left = Object.fromEntries(Object.entries(pending).filter(([k]) => !(k in answers)));
        try {
          await this.deps.calls.writeInput(t, left, answers);
          ctx.log.info({ task: t.metadata.name, answered: Object.keys(answers) }, "Input delivered to the task");
          return {};
        } catch (err) {
          if (!isConflict(err) || attempt >= 5) throw err;
          t = await this.deps.calls.get(t.metadata.name ?? "");
        }
      }
    },
    "tasks/cancel": async (ctx: Ctx) => {
      const t = await this.ownedTask(ctx);
      if (taskStatusOf(t) === "working") {
        await this.deps.calls.cancelTask(t, "cancelled by the client (tasks/cancel)");
        ctx.log.info({ task: t.metadata.name }, "Task cancelled by the client");
      }
      return {};
    },
  };

  /** A Task this client may see: the tasks extension declared, the id known and its own. */
  private async ownedTask({ params, caps, client }: Ctx): Promise<Task> {
    if (!hasTasksExtension(caps))
      throw new ProtocolError(
        errorCodes.missingClientCapability,
        `this method needs the ${tasksExtension} extension in the client's capabilities`,
        400,
        { requiredCapabilities: { extensions: { [tasksExtension]: {} } } },
      );
    const taskId = params.taskId;
    const unknown = () => new ProtocolError(errorCodes.invalidParams, `Unknown taskId: ${String(taskId)}`);
    if (typeof taskId !== "string" || !/^call-[0-9a-f]{24}$/.test(taskId)) throw unknown();
    let t: Task;
    try {
      t = await this.deps.calls.get(taskId);
    } catch (err) {
      if (isNotFound(err)) throw unknown();
      throw err;
    }
    // Another client's task is as unknown to this one as a made-up id.
    if (t.metadata.labels?.[labels.client] !== clientLabelValue(client)) throw unknown();
    return t;
  }

  private async callTool({ id, params, caps, client, log }: Ctx): Promise<Json | Response> {
    const name = String(params.name ?? "");
    const tool = this.deps.tools.get(name);
    const count = (outcome: string) => this.deps.metrics?.toolCalls.inc({ tool: tool ? name : "(unknown)", outcome });
    if (!tool) {
      count("invalid_params");
      throw new ProtocolError(errorCodes.invalidParams, `Unknown tool: ${name}`);
    }
    const args = (params.arguments ?? {}) as Record<string, unknown>;
    if (typeof args !== "object" || Array.isArray(args))
      throw new ProtocolError(errorCodes.invalidParams, "arguments must be an object");
    const progressToken = (params._meta as Json | undefined)?.progressToken as string | number | undefined;
    if (tool.federated) {
      const result = await this.deps.federation.callTool(tool.federated, args, {});
      count(result.isError ? "tool_error" : "completed");
      return result as unknown as Json;
    }
    const invalid = validate(tool.inputSchema, args, "arguments");
    if (invalid) {
      count("invalid_params");
      throw new ProtocolError(errorCodes.invalidParams, `Invalid arguments for tool ${name}: ${invalid}`);
    }
    const task = await this.deps.calls.create(tool, args, { requestId: String(id), client });
    const tlog = log.child({ task: task.metadata.name, tool: name });
    tlog.info("Created Task for tool call");
    const asTask = hasTasksExtension(caps) && (tool.taskSupport ?? "optional") !== "forbidden";
    if (!asTask && tool.taskSupport === "required")
      throw new ProtocolError(
        errorCodes.missingClientCapability,
        `tool ${name} runs only as a task: declare the ${tasksExtension} extension`,
        400,
        { requiredCapabilities: { extensions: { [tasksExtension]: {} } } },
      );
    if (asTask) {
      // The Task object exists, so tasks/get for this id already succeeds.
      count("task_created");
      return { ...taskEnvelope(task), resultType: "task" };
    }
    if (progressToken === undefined)
      return this.finish(await this.deps.calls.wait(task, (t) => this.refuseInput(t, name)), tlog, count);
    // With a progress token the answer is a stream: progress as the Task moves, then the result.
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        const send = (m: unknown) =>
          controller.enqueue(encoder.encode(`event: message\ndata: ${JSON.stringify(m)}\n\n`));
        const steps: Record<string, number> = { Pending: 1, Assigned: 2, Running: 3 };
        let last = 0;
        const progress = (n: number, message: string) => {
          if (n <= last) return;
          last = n;
          send({
            jsonrpc: "2.0",
            method: "notifications/progress",
            params: { progressToken, progress: n, total: 4, message },
          });
        };
        progress(0.5, "task created");
        try {
          const outcome = await this.deps.calls.wait(task, (t) => {
            this.refuseInput(t, name);
            const n = steps[t.status?.phase ?? ""];
            if (n) progress(n, `task ${t.status?.phase?.toLowerCase()}`);
          });
          const result = this.finish(outcome, tlog, count);
          progress(4, "task finished");
          send({ jsonrpc: "2.0", id, result: this.withMeta(result) });
        } catch (err) {
          const e = err instanceof ProtocolError ? err : new ProtocolError(errorCodes.internal, (err as Error).message);
          send(errorBody(id, e));
        }
        controller.close();
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }

  /**
   * A call answered in the response has nobody to ask: a tool that wants
   * input from the client ends the call (and its Task) with a clear error.
   */
  private refuseInput(t: Task, tool: string): void {
    if (!pendingInput(t)) return;
    void this.deps.calls
      .cancelTask(t, `tool ${tool} asked for input, which needs a call made as a task`, inputWithoutTaskReason)
      .catch(() => {});
  }

  private finish(outcome: Awaited<ReturnType<TaskCalls["wait"]>>, log: Logger, count: (o: string) => void): Json {
    if (outcome.kind === "deleted") {
      count("internal_error");
      throw new ProtocolError(errorCodes.internal, "the task for this call was deleted before it finished", 500);
    }
    const e = outcome.kind === "failed" ? outcome.task.status?.error : undefined;
    if (e?.reason === inputWithoutTaskReason) {
      count("invalid_params");
      throw new ProtocolError(
        errorCodes.missingClientCapability,
        `${e.message}: declare the ${tasksExtension} extension`,
        400,
        { requiredCapabilities: { extensions: { [tasksExtension]: {} } } },
      );
    }
    if (outcome.kind === "failed") {
      count("tool_error");
      log.info({ reason: outcome.task.status?.error?.reason }, "Tool call failed");
      const e = outcome.task.status?.error;
      return { isError: true, content: [{ type: "text", text: e ? `${e.reason}: ${e.message}` : "the task failed" }] };
    }
    count("completed");
    return resultContent(outcome.task) as unknown as Json;
  }

  /**
   * subscriptions/listen: an SSE stream that first acknowledges what it will
   * carry (what was asked, less what this server never sends), then carries
   * those notifications, each tagged with the subscription's id, until the
   * client goes away.
   */
  private listen({ id, params, req }: Ctx): Response {
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
        for (const uri of resourceSubs) void this.deps.federation.subscribe(uri).catch(() => {});
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
          } catch {}
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
  client: string;
  req: Request;
  log: Logger;
}
