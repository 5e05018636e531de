/** What the gateway says of itself to clients of both eras: its name and version, and its instructions. */
import { version } from "../../lib/version.ts";

export const serverInfo = { name: "mcp-conductor-gateway", version };

export const gatewayInstructions =
  "Tools of the agents in this domain (each call runs as a durable Task on an agent) and of the domain's MCP servers.";
