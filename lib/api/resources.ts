/**
 * The mcp.io/v1 resources and typed clients for them.
 */
import type { KubeConnection } from "../kube/connection.ts";
import { ResourceClient, type ResourceType } from "../kube/resource-client.ts";
import type { Agent, MCPServer, Plan, Task } from "./types.gen.ts";

export * from "./types.gen.ts";

export const group = "mcp.io";
export const version = "v1";
export const apiVersion = `${group}/${version}`;

export const agentType: ResourceType = { group, version, plural: "agents", kind: "Agent", namespaced: true };
export const taskType: ResourceType = { group, version, plural: "tasks", kind: "Task", namespaced: true };
export const mcpServerType: ResourceType = {
  group,
  version,
  plural: "mcpservers",
  kind: "MCPServer",
  namespaced: true,
};
export const planType: ResourceType = { group, version, plural: "plans", kind: "Plan", namespaced: true };

/** Typed clients for the four kinds, sharing one connection. */
export interface McpClients {
  agents: ResourceClient<Agent>;
  tasks: ResourceClient<Task>;
  mcpServers: ResourceClient<MCPServer>;
  plans: ResourceClient<Plan>;
}

export function mcpClients(conn: KubeConnection): McpClients {
  return {
    agents: new ResourceClient<Agent>(conn, agentType),
    tasks: new ResourceClient<Task>(conn, taskType),
    mcpServers: new ResourceClient<MCPServer>(conn, mcpServerType),
    plans: new ResourceClient<Plan>(conn, planType),
  };
}
