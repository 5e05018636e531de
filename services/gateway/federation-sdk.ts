/**
 * The SDK's MCP client and the schemas federation registers handlers with:
 * loaded by federation.ts when it connects to its first MCPServer, so a
 * gateway that fronts none never loads them (mcp-error.ts says why).
 */
export { Client } from "@modelcontextprotocol/sdk/client/index.js";
export { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

export const schemas = {
  CreateMessageRequest: CreateMessageRequestSchema,
  ElicitRequest: ElicitRequestSchema,
  PromptListChangedNotification: PromptListChangedNotificationSchema,
  ResourceListChangedNotification: ResourceListChangedNotificationSchema,
  ResourceUpdatedNotification: ResourceUpdatedNotificationSchema,
  ToolListChangedNotification: ToolListChangedNotificationSchema,
};
