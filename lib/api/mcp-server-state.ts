/**
 * What the gateway and the controller both read off an MCPServer.
 */
import type { MCPServer } from "./types.gen.ts";

/** A server the gateway should federate: Ready, with an endpoint. */
export const isServing = (s: MCPServer): boolean => s.status?.phase === "Ready" && !!s.status.url;

/** The prefix of the server's tools and prompts in the gateway: "<name>__" unless spec.toolPrefix says otherwise. */
export const toolPrefixOf = (s: MCPServer): string => s.spec.toolPrefix ?? `${s.metadata.name}__`;
