/**
 * Which MCP tools a domain offers, computed from its Agents: the union of
 * the tools declared by Ready agents, by name. Two agents declaring the same
 * name with different schemas or capabilities is a conflict: the tool is
 * withheld and the conflict reported, never silently merged. A capability no
 * Ready agent declares a tool for is offered as a generic tool whose
 * arguments are the task payload.
 */
import { isDeepStrictEqual } from "node:util";
import type { Agent } from "../../lib/api/resources.ts";

export interface GatewayTool {
  name: string;
  title?: string;
  description: string;
  capability: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  /** Whether it may run as an MCP task (federated tools never do: they are not Tasks). */
  taskSupport?: "forbidden" | "optional" | "required";
  /** The Ready agents that serve it. */
  agents: string[];
  /** True for a capability offered without a declared tool. */
  generic: boolean;
  /** Set for a federated tool: the MCPServer that serves it, under its own name. */
  federated?: { server: string; upstreamName: string; annotations?: Record<string, unknown> };
}

export interface ToolConflict {
  name: string;
  agents: string[];
  message: string;
}

export const genericToolName = (capability: string) => `capability.${capability}`;

/**
 * Whether two versions of an Agent offer the same tools: the same readiness,
 * tools and capabilities. A heartbeat changes neither, so it need not rebuild
 * the registry (with a thousand agents, heartbeats are most Agent updates).
 */
export function sameOffer(a: Agent, b: Agent): boolean {
  return (
    (a.status?.phase === "Ready") === (b.status?.phase === "Ready") &&
    isDeepStrictEqual(a.spec.tools ?? [], b.spec.tools ?? []) &&
    isDeepStrictEqual(a.spec.capabilities, b.spec.capabilities)
  );
}

export function toolsFromAgents(agents: Agent[]): { tools: GatewayTool[]; conflicts: ToolConflict[] } {
  const ready = agents
    .filter((a) => a.status?.phase === "Ready")
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""));
  const byName = new Map<string, { agent: string; tool: NonNullable<Agent["spec"]["tools"]>[number] }[]>();
  const declaredCapabilities = new Set<string>();
  for (const a of ready) {
    for (const tool of a.spec.tools ?? []) {
      declaredCapabilities.add(tool.capability);
      const list = byName.get(tool.name) ?? [];
      list.push({ agent: a.metadata.name ?? "", tool });
      byName.set(tool.name, list);
    }
  }

  const tools: GatewayTool[] = [];
  const conflicts: ToolConflict[] = [];
  for (const [name, decls] of byName) {
    const first = decls[0]?.tool;
    if (!first) continue;
    const same = (t: typeof first) =>
      t.capability === first.capability &&
      isDeepStrictEqual(t.inputSchema, first.inputSchema) &&
      isDeepStrictEqual(t.outputSchema, first.outputSchema) &&
      (t.taskSupport ?? "optional") === (first.taskSupport ?? "optional");
    const differing = decls.filter((d) => !same(d.tool));
    if (differing.length) {
      conflicts.push({
        name,
        agents: decls.map((d) => d.agent),
        message: `agents ${decls.map((d) => d.agent).join(", ")} declare tool ${name} with different capabilities or schemas`,
      });
      continue;
    }
    tools.push({
      name,
      ...(first.title ? { title: first.title } : {}),
      description: first.description ?? "",
      capability: first.capability,
      inputSchema: { type: "object", ...first.inputSchema },
      ...(first.outputSchema ? { outputSchema: first.outputSchema } : {}),
      taskSupport: first.taskSupport ?? "optional",
      agents: decls.map((d) => d.agent),
      generic: false,
    });
  }

  const generic = new Map<string, string[]>();
  for (const a of ready) {
    for (const cap of a.spec.capabilities) {
      if (declaredCapabilities.has(cap)) continue;
      generic.set(cap, [...(generic.get(cap) ?? []), a.metadata.name ?? ""]);
    }
  }
  for (const [cap, names] of generic) {
    const name = genericToolName(cap);
    if (byName.has(name)) continue;
    tools.push({
      name,
      description: `Runs a task needing the "${cap}" capability; the arguments are its payload.`,
      capability: cap,
      inputSchema: { type: "object", additionalProperties: true },
      agents: names,
      generic: true,
    });
  }
  tools.sort((a, b) => a.name.localeCompare(b.name));
  return { tools, conflicts };
}

/** A federated server's tool as the gateway offers it. */
export function federatedTool(t: {
  name: string;
  server: string;
  upstreamName: string;
  tool: {
    title?: string;
    description?: string;
    inputSchema: Record<string, unknown>;
    outputSchema?: Record<string, unknown>;
    annotations?: Record<string, unknown>;
  };
}): GatewayTool {
  return {
    name: t.name,
    ...(t.tool.title ? { title: t.tool.title } : {}),
    description: t.tool.description ?? "",
    capability: "",
    inputSchema: t.tool.inputSchema,
    ...(t.tool.outputSchema ? { outputSchema: t.tool.outputSchema } : {}),
    agents: [],
    generic: false,
    taskSupport: "forbidden",
    federated: { server: t.server, upstreamName: t.upstreamName, annotations: t.tool.annotations },
  };
}

/**
 * The agents' tools and the federated servers' tools together. A name both
 * offer (possible only with an empty or clashing prefix) is withheld from
 * both and reported, as a clash between agents is.
 */
export function mergeTools(
  agentTools: GatewayTool[],
  federated: GatewayTool[],
): { tools: GatewayTool[]; conflicts: ToolConflict[] } {
  const conflicts: ToolConflict[] = [];
  const byName = new Map<string, GatewayTool[]>();
  for (const t of [...agentTools, ...federated]) byName.set(t.name, [...(byName.get(t.name) ?? []), t]);
  const tools: GatewayTool[] = [];
  for (const [name, list] of byName) {
    if (list.length === 1) {
      tools.push(list[0] as GatewayTool);
      continue;
    }
    const owners = list.map((t) => (t.federated ? `server ${t.federated.server}` : `agents ${t.agents.join(", ")}`));
    conflicts.push({ name, agents: owners, message: `tool ${name} is offered by ${owners.join(" and ")}` });
  }
  tools.sort((a, b) => a.name.localeCompare(b.name));
  return { tools, conflicts };
}
