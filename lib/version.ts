/**
 * The conductor's version: package.json's, the one place it is written. MCP
 * clients and servers of the conductor name it in their implementation info,
 * and the image the controller gives stdio MCPServers carries it as its tag.
 */
import pkg from "../package.json" with { type: "json" };

export const version: string = pkg.version;

/** The conductor's image as the kustomize base names it (its tag is the version). */
export const conductorImage = `ghcr.io/mcp-conductor/mcp-conductor:${version}`;
