/**
 * How an agent declares a tool: one typed handler per tool, with the JSON
 * Schema MCP clients will see and the runtime validates input against.
 */
import type { Task } from "../api/resources.ts";
import type { Logger } from "../log.ts";
import type { LoggingLevel } from "./progress.ts";

export type JsonSchema = Record<string, unknown>;

/** pino for the agent's own logs, callable to send a message to the client. */
export type ToolLog = Logger & ((level: LoggingLevel, data: unknown, logger?: string) => void);

/** A logger that is also a function sending each call to `send`. */
export function toolLog(local: Logger, send: (level: LoggingLevel, data: unknown, logger?: string) => void): ToolLog {
  const fn = (level: LoggingLevel, data: unknown, logger?: string) => send(level, data, logger);
  return new Proxy(fn, {
    get: (_target, prop) => {
      const v = Reflect.get(local, prop, local);
      return typeof v === "function" ? v.bind(local) : v;
    },
  }) as ToolLog;
}

export interface ToolContext {
  /** The Task being executed. */
  task: Task;
  /** Aborted when the task is cancelled, reassigned, deleted, past its deadline or out of time. */
  signal: AbortSignal;
  /**
   * Stable for one attempt of one task (task UID and attempt number): a tool
   * with side effects can use it to do them at most once per attempt, since
   * after a crash a task may run again.
   */
  idempotencyKey: string;
  attempt: number;
  /**
   * The agent's structured logger (`ctx.log.info(...)`), and, called as a
   * function, a message to the MCP client: `ctx.log("warning", data,
   * logger?)` reaches the caller as notifications/message at that level
   * (RFC 5424: debug … emergency), when the client asked for it. Written to
   * the Task with the progress, at most every half second.
   */
  log: ToolLog;
  /**
   * Asks the MCP client for input while the tool runs (elicitation, sampling,
   * roots: each request as `{ method, params }`, keyed by a name of the
   * tool's choosing) and resolves with the client's answers by the same
   * names. The Task reads input_required meanwhile; the client sees the
   * requests under those names (a name already asked in this attempt gets a
   * suffix: `confirm-2`; from the second attempt on the attempt is added,
   * `confirm@2`, so an answer meant for an earlier attempt matches nothing)
   * and answers through the gateway (tasks/update, or the retry of a 2026
   * call that was answered input_required), which writes the answers on the
   * Task. Rejects when the task is cancelled, and with InputTimeout when no
   * answer came by the request's answerBy.
   */
  requestInput(requests: Record<string, InputRequest>): Promise<Record<string, unknown>>;
  /** Asks the user through the client (elicitation/create); one request of requestInput, under `key`. */
  elicit(params: ElicitParams, key?: string): Promise<ElicitAnswer>;
  /** Asks the client's model (sampling/createMessage); one request of requestInput, under `key`. */
  sample(params: SampleParams, key?: string): Promise<SampleAnswer>;
  /** Asks the client for its roots (roots/list); one request of requestInput, under `key`. */
  listRoots(key?: string): Promise<{ roots: { uri: string; name?: string }[] }>;
  /**
   * The MCP client that made the call, as the gateway recorded it on the
   * Task: which of elicitation, sampling and roots it declared. A tool asks
   * only what the client can answer (a request it cannot is refused to the
   * client with -32021, or fails a 2025 call with InputNotSupported).
   */
  client: { capabilities: ClientInputCapabilities };
  /**
   * Says how far the tool is: `done` of `total` (when known), with a short
   * message. Reaches the caller as notifications/progress (and a task's
   * status message); written to the Task at most every half second, so call
   * it as often as is natural. Throws a TypeError for a negative or
   * non-finite number.
   */
  progress(done: number, total?: number, message?: string): void;
}

/** One thing a tool asks of the client: an MCP request such as elicitation/create. */
export interface InputRequest {
  method: "elicitation/create" | "sampling/createMessage" | "roots/list";
  params?: Record<string, unknown>;
}

/** An elicitation: a message and the JSON Schema of the form (flat, primitive properties). */
export interface ElicitParams {
  message: string;
  requestedSchema: JsonSchema;
  mode?: "form";
  [k: string]: unknown;
}
/** The user's answer to an elicitation. */
export interface ElicitAnswer {
  action: "accept" | "decline" | "cancel";
  content?: Record<string, unknown>;
}
/** A sampling request (sampling/createMessage's params). */
export interface SampleParams {
  messages: { role: "user" | "assistant"; content: unknown }[];
  maxTokens: number;
  [k: string]: unknown;
}
/** The client's model's answer. */
export interface SampleAnswer {
  role: "user" | "assistant";
  content: unknown;
  model?: string;
  stopReason?: string;
  [k: string]: unknown;
}

/** The client capabilities a tool's input depends on; an absent key is a capability not declared. */
export interface ClientInputCapabilities {
  elicitation?: Record<string, unknown>;
  sampling?: Record<string, unknown>;
  roots?: Record<string, unknown>;
}

/** The Task annotation where the gateway records the caller's ClientInputCapabilities (JSON). */
export const clientCapabilitiesAnnotation = "mcp.io/client-capabilities";

/** The calling client as a Task records it; no record (a Task made without the gateway) is a client that declared nothing. */
export function clientOf(task: Task): ToolContext["client"] {
  const raw = task.metadata.annotations?.[clientCapabilitiesAnnotation];
  let parsed: unknown;
  try {
    parsed = raw ? JSON.parse(raw) : {};
  } catch {
    parsed = {};
  }
  const capabilities: ClientInputCapabilities = {};
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
    for (const k of ["elicitation", "sampling", "roots"] as const) {
      const v = (parsed as Record<string, unknown>)[k];
      if (v && typeof v === "object" && !Array.isArray(v)) capabilities[k] = v as Record<string, unknown>;
    }
  return { capabilities };
}

/** ctx.elicit, ctx.sample and ctx.listRoots, each one request of `requestInput`. */
export function inputHelpers(
  requestInput: ToolContext["requestInput"],
): Pick<ToolContext, "elicit" | "sample" | "listRoots"> {
  const one = async (key: string, request: InputRequest) => (await requestInput({ [key]: request }))[key];
  return {
    elicit: async (params, key = "elicitation") =>
      (await one(key, { method: "elicitation/create", params })) as ElicitAnswer,
    sample: async (params, key = "sampling") =>
      (await one(key, { method: "sampling/createMessage", params })) as SampleAnswer,
    listRoots: async (key = "roots") =>
      (await one(key, { method: "roots/list", params: {} })) as { roots: { uri: string; name?: string }[] },
  };
}

export interface ToolDefinition<Input = Record<string, unknown>, Output = unknown> {
  name: string;
  title?: string;
  description: string;
  /** The capability a Task for this tool requires. */
  capability: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  /** Whether MCP clients may (optional, the default) or must (required) call it as a task, or never (forbidden). */
  taskSupport?: "forbidden" | "optional" | "required";
  /** Overrides the runtime's per-task timeout for this tool. */
  timeoutMs?: number;
  handler: (input: Input, ctx: ToolContext) => Promise<Output> | Output;
}

/** A tool of any input and output type, as lists of tools hold them. */
// biome-ignore lint/suspicious/noExplicitAny: each tool has its own input and output types
export type AnyTool = ToolDefinition<any, any>;

/** Declares a tool; the type parameters type the handler's input and output. */
export function defineTool<Input = Record<string, unknown>, Output = unknown>(
  def: ToolDefinition<Input, Output>,
): ToolDefinition<Input, Output> {
  if (def.inputSchema.type !== undefined && def.inputSchema.type !== "object") {
    throw new Error(`tool ${def.name}: inputSchema.type must be "object"`);
  }
  return def;
}

/**
 * A failure the tool itself reports. `reason` is a CamelCase word for
 * machines, `message` a sentence for people; `retryable` says whether another
 * attempt could succeed (bad input never does).
 */
export class ToolError extends Error {
  override readonly name = "ToolError";
  readonly retryable: boolean;
  constructor(
    readonly reason: string,
    message: string,
    opts: { retryable?: boolean } = {},
  ) {
    super(message);
    this.retryable = opts.retryable ?? false;
  }
}

/** Input that does not fit the tool: never retryable. */
export const invalidInput = (message: string) => new ToolError("InvalidInput", message);
