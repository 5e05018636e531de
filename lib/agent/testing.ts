/**
 * Calls a tool the way the runtime does (schema validation, then the
 * handler), without a cluster: for unit tests of tools.
 */
import type { Task } from "../api/resources.ts";
import { silentLogger } from "../log.ts";
import { normalizeMessage, normalizeProgress, type ToolMessage, type ToolProgress } from "./progress.ts";
import {
  type ClientInputCapabilities,
  type InputRequest,
  inputHelpers,
  invalidInput,
  type ToolDefinition,
  ToolError,
  toolLog,
} from "./tool.ts";
import { validate } from "./validation.ts";

export async function callTool<I, O>(
  tool: ToolDefinition<I, O>,
  input: unknown,
  opts: {
    signal?: AbortSignal;
    /** Answers the tool's input requests, as a client would. */
    answer?: (requests: Record<string, InputRequest>) => Record<string, unknown>;
    /** Sees each ctx.progress report. */
    onProgress?: (p: ToolProgress) => void;
    /** Sees each message the tool sends the client (ctx.log called). */
    onMessage?: (m: ToolMessage) => void;
    /** What the calling client declared (ctx.client); by default elicitation, sampling and roots. */
    clientCapabilities?: ClientInputCapabilities;
  } = {},
): Promise<O> {
  const invalid = validate(tool.inputSchema, input);
  if (invalid) throw invalidInput(invalid);
  const task: Task = {
    metadata: { name: "unit", uid: "uid-1" },
    spec: { requiredCapabilities: [tool.capability], tool: tool.name },
  };
  let seq = 0;
  const requestInput = async (requests: Record<string, InputRequest>) => {
    if (!opts.answer) throw new Error("this test gives no answers to input requests");
    return opts.answer(requests);
  };
  return tool.handler(input as I, {
    task,
    signal: opts.signal ?? new AbortController().signal,
    attempt: 1,
    idempotencyKey: "uid-1/1",
    log: toolLog(silentLogger, (level, data, logger) => opts.onMessage?.(normalizeMessage(++seq, level, data, logger))),
    requestInput,
    ...inputHelpers(requestInput),
    client: { capabilities: opts.clientCapabilities ?? { elicitation: {}, sampling: {}, roots: {} } },
    progress: (done, total, message) => opts.onProgress?.(normalizeProgress(done, total, message)),
  });
}

/** The ToolError a call fails with (reason and retryable), or a thrown Error if it did not fail. */
export async function toolError(p: Promise<unknown>): Promise<ToolError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ToolError) return err;
    throw err;
  }
  throw new Error("expected the tool to fail");
}
