/**
 * The 2025 side of the gateway: an SDK Server per session, a thin adapter
 * over the call core (calls/): tools/list and tools/call go to the core,
 * which checks a call before any Task exists, runs it (a Task, or a federated
 * server's tool) and maps every outcome; the SDK's experimental tasks are the
 * core's task view (mcp-tasks.ts). The client's notifications/cancelled
 * aborts the call's signal, which cancels it.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListRootsResultSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  type Tool,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { atLeast, type LoggingLevel } from "../../lib/agent/progress.ts";
import { type Logger, logIgnored } from "../../lib/log.ts";
import { requestTraceparent } from "../../lib/trace-context.ts";
import type { CallCore } from "./calls/core.ts";
import { CallError } from "./calls/errors.ts";
import { inputAnswerTimeMs, unanswerable } from "./calls/input.ts";
import type { TaskView } from "./calls/task-view.ts";
import type { Caller } from "./calls/tools.ts";
import type { Federation } from "./federation.ts";
import { KubeTaskStore, toMcpError, toMcpTask } from "./mcp-tasks.ts";
import { gettingPrompt } from "./prompt-input.ts";
import { requestCaller } from "./request-caller.ts";
import { gatewayInstructions, serverInfo } from "./server-info.ts";
import { SessionInput } from "./session-input.ts";

/** What each request a tool may send the client answers with, as the SDK checks it. */
const inputResultSchemas: Record<string, unknown> = {
  "elicitation/create": ElicitResultSchema,
  "sampling/createMessage": CreateMessageResultSchema,
  "roots/list": ListRootsResultSchema,
};

export { resultContent } from "./calls/outcome.ts";
export type { ToolSource } from "./calls/tools.ts";

export function createMcpServer(opts: {
  /** Tool calls, both eras' one core. */
  core: CallCore;
  /** MCP tasks from Task objects. */
  view: TaskView;
  log: Logger;
  /** The client this server answers to; its tasks are labelled with it. */
  client: string;
  /** The federated MCPServers: their resources, prompts and completions. */
  federation?: Federation;
  /**
   * Records this session's resource subscriptions, so updates reach it, and
   * subscribes upstream; without it the server subscribes upstream itself.
   */
  subscriptions?: {
    add(uri: string, sessionId?: string): Promise<void>;
    remove(uri: string, sessionId?: string): Promise<void>;
  };
}): Server {
  const federation = opts.federation;
  // The session's client, with the user and groups of the request being served (request-caller.ts).
  const callerFor = (session?: string): Caller => ({
    ...requestCaller(),
    client: opts.client,
    ...(session ? { session } : {}),
  });
  const server = new Server(serverInfo, {
    capabilities: {
      tools: { listChanged: true },
      // Resources, prompts and completions come from federated MCPServers.
      resources: { listChanged: true, subscribe: true },
      prompts: { listChanged: true },
      completions: {},
      // Accepted so clients may set a level; the gateway itself sends no log messages yet.
      logging: {},
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
    },
    instructions: gatewayInstructions,
    taskStore: new KubeTaskStore(opts.view, () => callerFor()),
  });

  // The level the client asked for with logging/setLevel, on this replica (a session rebuilt on
  // another replica starts again from every level, as before the client asked).
  let minLevel: LoggingLevel | undefined;
  server.setRequestHandler(SetLevelRequestSchema, async (req) => {
    minLevel = req.params.level;
    return {};
  });

  server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => ({
    tools: (await opts.core.list(callerFor(extra.sessionId))) as Tool[],
  }));

  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const progressToken = req.params._meta?.progressToken;
    // A waited-for call's input requests are asked of the client here (a task's go through tasks/*).
    const input = req.params.task
      ? undefined
      : new SessionInput({
          capabilities: () => server.getClientCapabilities(),
          // A person may take a while over a form: until the question's answer-by time, not the
          // SDK's 60 s; the call's end stops it.
          ask: (method, params, timeoutMs) =>
            extra.sendRequest({ method, params } as never, inputResultSchemas[method] as never, {
              timeout: timeoutMs,
              signal: extra.signal,
            }),
          answer: (t, answers, attempt) => opts.view.answer(t, answers, { attempt }),
          fail: (t, message, reason) => opts.view.fail(t, message, reason),
          log: opts.log,
        });
    try {
      const out = await opts.core.call({
        name: req.params.name,
        arguments: req.params.arguments,
        caller: callerFor(extra.sessionId),
        requestId: String(extra.requestId),
        traceparent: requestTraceparent(req.params._meta, extra.requestInfo?.headers.traceparent),
        form: req.params.task ? "task" : "sync",
        era: "2025",
        taskTtlMs: req.params.task?.ttl ?? undefined,
        signal: extra.signal,
        onTask: input ? (t) => input.onTask(t) : undefined,
        clientCapabilities: server.getClientCapabilities() as Record<string, unknown> | undefined,
        onMessage: (m) => {
          if (minLevel && !atLeast(m.level, minLevel)) return;
          void extra
            .sendNotification({
              method: "notifications/message",
              params: { level: m.level, ...(m.logger ? { logger: m.logger } : {}), data: m.data },
            })
            .catch(logIgnored(opts.log, "A message to the client"));
        },
        onProgress:
          progressToken === undefined
            ? undefined
            : (p) => extra.sendNotification({ method: "notifications/progress", params: { progressToken, ...p } }),
        log: opts.log,
      });
      // A task-augmented call answers at once; tasks/get and tasks/result follow the Task.
      if (out.kind === "task") return { task: toMcpTask(out.task) };
      if (out.kind === "input") throw new Error("a 2025 call was answered with questions");
      return out.result;
    } catch (err) {
      throw err instanceof CallError ? toMcpError(err) : err;
    }
  });

  const needFederation = () => {
    if (!federation) throw new McpError(ErrorCode.MethodNotFound, "this gateway federates no MCP servers");
    return federation;
  };
  server.setRequestHandler(ListResourcesRequestSchema, async () => ({
    resources: federation?.resources() ?? [],
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: federation?.resourceTemplates() ?? [],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (req) => needFederation().readResource(req.params.uri));
  server.setRequestHandler(SubscribeRequestSchema, async (req, extra) => {
    const upstream = needFederation();
    if (opts.subscriptions) await opts.subscriptions.add(req.params.uri, extra.sessionId);
    else
      await upstream
        .subscribe(req.params.uri)
        .catch((err: Error) => opts.log.warn({ uri: req.params.uri, err }, "Could not subscribe upstream"));
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (req, extra) => {
    const upstream = needFederation();
    if (opts.subscriptions) await opts.subscriptions.remove(req.params.uri, extra.sessionId);
    else await upstream.unsubscribe(req.params.uri);
    return {};
  });
  server.setRequestHandler(ListPromptsRequestSchema, async () => ({
    prompts: (federation?.prompts() ?? []).map((p) => ({ ...p.prompt, name: p.name })),
  }));
  // A prompt's questions while it is got (prompt-input.ts) go to this session's client over the request's stream.
  server.setRequestHandler(GetPromptRequestSchema, async (req, extra) => {
    const relay = (method: string, params: Record<string, unknown>) => {
      const why = unanswerable({ key: method, method, params }, server.getClientCapabilities());
      if (why) throw new McpError(ErrorCode.InvalidRequest, why.message.replace("the tool", "the prompt"));
      return extra.sendRequest({ method, params } as never, inputResultSchemas[method] as never, {
        timeout: inputAnswerTimeMs,
        signal: extra.signal,
      });
    };
    const out = await gettingPrompt({ relay }, (signal) =>
      needFederation().getPrompt(req.params.name, req.params.arguments, {
        signal: AbortSignal.any([signal, extra.signal]),
      }),
    );
    if (out.kind !== "result") throw new McpError(ErrorCode.InternalError, "the prompt's questions were not relayed");
    return out.result;
  });
  server.setRequestHandler(CompleteRequestSchema, async (req) => needFederation().complete(req.params));

  return server;
}
