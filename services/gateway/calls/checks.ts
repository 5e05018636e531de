/**
 * The checks a call passes before anything exists for it: its arguments
 * against the tool's input schema, and its form (a task or an answer in the
 * response) against the tool's taskSupport.
 */
import { validate } from "../../../lib/agent/validation.ts";
import type { GatewayTool } from "../tool-registry.ts";
import { CallError, errorCodes } from "./errors.ts";

export const tasksExtension = "io.modelcontextprotocol/tasks";

/** The arguments as an object, checked against the tool's input schema. */
export function validateArguments(tool: GatewayTool, args: unknown): Record<string, unknown> {
  const value = args ?? {};
  if (typeof value !== "object" || Array.isArray(value))
    throw new CallError(errorCodes.invalidParams, "arguments must be an object");
  const invalid = validate(tool.inputSchema, value, "arguments");
  if (invalid) throw new CallError(errorCodes.invalidParams, `Invalid arguments for tool ${tool.name}: ${invalid}`);
  return value as Record<string, unknown>;
}

/**
 * How the client asked: "task" (2025: a task-augmented call), "either" (2026:
 * the client declared the tasks extension, so the tool's taskSupport decides)
 * or "sync" (an answer in the response).
 */
export type CallForm = "task" | "either" | "sync";

/** Whether the call runs as a task, or why it may not run at all. */
export function decideForm(tool: GatewayTool, form: CallForm, era: "2025" | "2026"): "task" | "sync" {
  const support = tool.taskSupport ?? "optional";
  if (form === "either") return support === "forbidden" ? "sync" : "task";
  if (form === "task" && support === "forbidden")
    throw new CallError(
      errorCodes.invalidParams,
      tool.federated
        ? `Tool ${tool.name} runs on an MCP server and cannot be called as a task`
        : `Tool ${tool.name} cannot be called as a task`,
    );
  if (form === "sync" && support === "required") {
    if (era === "2026")
      throw new CallError(
        errorCodes.missingClientCapability,
        `tool ${tool.name} runs only as a task: declare the ${tasksExtension} extension`,
        { requiredCapabilities: { extensions: { [tasksExtension]: {} } } },
      );
    throw new CallError(errorCodes.invalidParams, `Tool ${tool.name} must be called as a task`);
  }
  return form;
}
