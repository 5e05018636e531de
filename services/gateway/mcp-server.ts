/**
 * The MCP side of the gateway: an SDK Server per session whose tools are
 * the domain's agent tools, and whose tools/call creates a Task and returns
 * its result. Arguments are validated against the tool's schema before any
 * Task exists; a tool that failed returns isError, a broken gateway or
 * apiserver is a JSON-RPC error.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { validate } from "../../lib/agent/validation.ts";
import type { Task } from "../../lib/api/resources.ts";
import type { Logger } from "../../lib/log.ts";
import type { Federation } from "./federation.ts";
import { KubeTaskStore, toMcpTask } from "./mcp-tasks.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { sessionLabelValue, type TaskCalls } from "./task-calls.ts";
import type { GatewayTool } from "./tool-registry.ts";

export const serverInfo = { name: "mcp-conductor-gateway", version: "0.1.0" };
export const gatewayInstructions =
  "Tools of the agents in this domain (each call runs as a durable Task on an agent) and of the domain's MCP servers.";

export interface ToolSource {
  tools(): GatewayTool[];
  get(name: string): GatewayTool | undefined;
}

/** Progress of a call, out of 4: created, Pending, Assigned, Running, finished. */
const progressByPhase: Record<string, number> = { Created: 0, Pending: 1, Assigned: 2, Running: 3, Finished: 4 };

const isContentBlock = (b: unknown) =>
  !!b && typeof b === "object" && typeof (b as { type?: unknown }).type === "string";

/**
 * The MCP result for a Completed Task. A tool may return MCP content itself
 * ({ content: [...], structuredContent? }: images, audio, resources); any
 * other result becomes JSON text plus structuredContent. A bare value is
 * stored as { value } and returned as itself.
 */
export function resultContent(t: Task): CallToolResult {
  const result = t.status?.result ?? {};
  if (Array.isArray(result.content) && result.content.every(isContentBlock)) {
    return {
      content: result.content as CallToolResult["content"],
      ...(result.structuredContent && typeof result.structuredContent === "object"
        ? { structuredContent: result.structuredContent as Record<string, unknown> }
        : {}),
    };
  }
  const keys = Object.keys(result);
  const value = keys.length === 1 && keys[0] === "value" ? result.value : result;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return {
    content: [{ type: "text", text }],
    ...(value !== null && typeof value === "object" && !Array.isArray(value)
      ? { structuredContent: value as Record<string, unknown> }
      : {}),
  };
}

export function createMcpServer(opts: {
  tools: ToolSource;
  calls: TaskCalls;
  log: Logger;
  /** The client this server answers to; its tasks are labelled with it. */
  client: string;
  metrics?: GatewayMetrics;
  /** The federated MCPServers: their resources, prompts and completions, and calls to their tools. */
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
    taskStore: new KubeTaskStore(opts.calls, opts.client, resultContent),
  });

  server.setRequestHandler(SetLevelRequestSchema, async () => ({}));

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: opts.tools.tools().map((t) => ({
      name: t.name,
      ...(t.title ? { title: t.title } : {}),
      description: t.description,
      inputSchema: t.inputSchema as { type: "object" },
      // A federated tool runs on its server, not as a Task, so it cannot be an MCP task here.
      execution: { taskSupport: t.taskSupport ?? ("optional" as const) },
      ...(t.federated?.annotations ? { annotations: t.federated.annotations } : {}),
      ...(t.outputSchema ? { outputSchema: t.outputSchema as { type: "object" } } : {}),
    })),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const name = req.params.name;
    const tool = opts.tools.get(name);
    const count = (outcome: string) => opts.metrics?.toolCalls.inc({ tool: tool ? name : "(unknown)", outcome });
    if (!tool) {
      count("invalid_params");
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    }
    const args = req.params.arguments ?? {};
    if (tool.federated) {
      if (!federation) throw new McpError(ErrorCode.InternalError, "federation is not enabled");
      if (req.params.task) {
        count("invalid_params");
        throw new McpError(
          ErrorCode.InvalidParams,
          `Tool ${name} runs on an MCP server and cannot be called as a task`,
        );
      }
      const progressToken = req.params._meta?.progressToken;
      const endTimer = opts.metrics?.toolCallDuration.startTimer({ tool: name });
      try {
        const result = await federation.callTool(tool.federated, args, {
          signal: extra.signal,
          onprogress:
            progressToken === undefined
              ? undefined
              : (p) =>
                  void extra
                    .sendNotification({ method: "notifications/progress", params: { progressToken, ...p } })
                    .catch(() => {}),
        });
        count(result.isError ? "tool_error" : "completed");
        return result;
      } catch (err) {
        count(err instanceof McpError && err.code === ErrorCode.InvalidParams ? "invalid_params" : "internal_error");
        throw err;
      } finally {
        endTimer?.();
      }
    }
    const invalid = validate(tool.inputSchema, args, "arguments");
    if (invalid) {
      count("invalid_params");
      throw new McpError(ErrorCode.InvalidParams, `Invalid arguments for tool ${name}: ${invalid}`);
    }
    if (req.params.task && tool.taskSupport === "forbidden") {
      count("invalid_params");
      throw new McpError(ErrorCode.InvalidParams, `Tool ${name} cannot be called as a task`);
    }
    if (!req.params.task && tool.taskSupport === "required") {
      count("invalid_params");
      throw new McpError(ErrorCode.InvalidParams, `Tool ${name} must be called as a task`);
    }
    const endTimer = opts.metrics?.toolCallDuration.startTimer({ tool: name });

    const log = opts.log.child({
      mcpSession: extra.sessionId && sessionLabelValue(extra.sessionId),
      requestId: String(extra.requestId),
      tool: name,
    });
    let task: Task;
    try {
      task = await opts.calls.create(tool, args, {
        session: extra.sessionId,
        requestId: String(extra.requestId),
        client: opts.client,
        ttlSeconds: req.params.task?.ttl != null ? Math.ceil(req.params.task.ttl / 1000) : undefined,
      });
    } catch (err) {
      count("internal_error");
      log.error({ err: (err as Error).message }, "Could not create the Task");
      throw new McpError(ErrorCode.InternalError, "the gateway could not create a task for this call");
    }
    const tlog = log.child({ task: task.metadata.name });
    tlog.info("Created Task for tool call");
    if (req.params.task) {
      // A task-augmented call answers at once; tasks/get and tasks/result follow the Task.
      count("task_created");
      endTimer?.();
      return { task: toMcpTask(task) };
    }

    const progressToken = req.params._meta?.progressToken;
    let lastPhase = "";
    // Resolves once written, so the last step can go out before the result (a
    // client drops progress that arrives after its response).
    const report = async (step: string): Promise<void> => {
      if (progressToken === undefined || step === lastPhase || !(step in progressByPhase)) return;
      lastPhase = step;
      await extra
        .sendNotification({
          method: "notifications/progress",
          params: {
            progressToken,
            progress: progressByPhase[step] as number,
            total: 4,
            message: `task ${step.toLowerCase()}`,
          },
        })
        .catch(() => {});
    };
    const onChange = (t: Task) => {
      const phase = t.status?.phase ?? "";
      // Finished is reported once the result is in hand, below.
      if (phase !== "Completed" && phase !== "Failed") void report(phase);
    };
    void report("Created");
    const onAbort = () => {
      tlog.info("Client cancelled the call; deleting its Task");
      void opts.calls.cancel(task);
    };
    extra.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const outcome = await opts.calls.wait(task, onChange);
      if (outcome.kind === "deleted") {
        count(extra.signal.aborted ? "cancelled" : "internal_error");
        throw new McpError(ErrorCode.InternalError, "the task for this call was deleted before it finished");
      }
      if (outcome.kind === "failed") {
        const e = outcome.task.status?.error;
        count("tool_error");
        await report("Finished");
        tlog.info({ reason: e?.reason }, "Tool call failed");
        return {
          isError: true,
          content: [{ type: "text", text: e ? `${e.reason}: ${e.message}` : "the task failed" }],
        };
      }
      count("completed");
      await report("Finished");
      tlog.info("Tool call completed");
      return resultContent(outcome.task);
    } finally {
      endTimer?.();
      extra.signal.removeEventListener("abort", onAbort);
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
        .catch((err: Error) =>
          opts.log.warn({ uri: req.params.uri, err: err.message }, "Could not subscribe upstream"),
        );
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
  server.setRequestHandler(GetPromptRequestSchema, async (req) =>
    needFederation().getPrompt(req.params.name, req.params.arguments),
  );
  server.setRequestHandler(CompleteRequestSchema, async (req) => needFederation().complete(req.params));

  return server;
}
