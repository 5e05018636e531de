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
   * names. The Task reads input_required meanwhile; the answers come through
   * the gateway (tasks/update) and the Task object. Rejects when the task is
   * cancelled.
   */
  requestInput(requests: Record<string, InputRequest>): Promise<Record<string, unknown>>;
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
