/**
 * Which tool a call names, and whether this caller may call it: an agent's
 * tool or a federated MCPServer's, from the gateway's registry, then the
 * authorize hook (every caller may call every tool unless one is given).
 */
import type { Subject } from "../auth/subject.ts";
import type { GatewayTool } from "../tool-registry.ts";
import { CallError, errorCodes } from "./errors.ts";

export interface ToolSource {
  tools(): GatewayTool[];
  get(name: string): GatewayTool | undefined;
}

/** Who makes a call: the authenticated client, and the 2025 session it came through, if any. */
export interface Caller {
  client: string;
  session?: string;
  /** The user and groups RBAC knows the caller by (auth/subject.ts); the client, in no group, when unset. */
  subject?: Subject;
}

/** The caller as RBAC and its Tasks know it. */
export const subjectOfCaller = (caller: Caller): Subject => caller.subject ?? { user: caller.client, groups: [] };

/**
 * Whether a caller may call (and see) the tool of this name, and follow the
 * tasks of its calls; may consult the apiserver, and throws when it cannot
 * say (the call is then an internal error, never let through).
 */
export type Authorize = (caller: Caller, tool: string) => boolean | Promise<boolean>;

export const allowAll: Authorize = () => true;

/** The refusal of a tool to a caller, naming both. */
export const forbiddenTool = (caller: Caller, tool: string) =>
  new CallError(
    errorCodes.forbidden,
    `Forbidden: ${subjectOfCaller(caller).user} may not call tool ${tool} (verb call on tools.mcp.io/${tool})`,
    { tool },
    403,
  );

/** The tool a call names, if it exists and the caller may call it. */
export async function resolveTool(
  tools: ToolSource,
  name: string,
  caller: Caller,
  authorize: Authorize = allowAll,
): Promise<GatewayTool> {
  const tool = tools.get(name);
  if (!tool) throw new CallError(errorCodes.invalidParams, `Unknown tool: ${name}`);
  if (!(await authorize(caller, tool.name))) throw forbiddenTool(caller, name);
  return tool;
}

/** The tools a caller may call, as tools/list shows them (both eras). */
export async function listTools(
  tools: ToolSource,
  caller: Caller,
  authorize: Authorize = allowAll,
): Promise<Record<string, unknown>[]> {
  const all = tools.tools();
  const allowed =
    authorize === allowAll ? all.map(() => true) : await Promise.all(all.map((t) => authorize(caller, t.name)));
  return all
    .filter((_, i) => allowed[i])
    .map((t) => ({
      name: t.name,
      ...(t.title ? { title: t.title } : {}),
      description: t.description,
      inputSchema: t.inputSchema,
      ...(t.outputSchema ? { outputSchema: t.outputSchema } : {}),
      ...(t.federated?.annotations ? { annotations: t.federated.annotations } : {}),
      // A federated tool runs on its server, not as a Task: its taskSupport is forbidden.
      execution: { taskSupport: t.taskSupport ?? "optional" },
    }));
}
