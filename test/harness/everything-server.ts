/**
 * The MCP reference server (@modelcontextprotocol/server-everything) over
 * Streamable HTTP on a loopback port, as a real process.
 */
import { join } from "node:path";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { freePort } from "../../lib/control-plane/local.ts";
import { eventually } from "./eventually.ts";

export interface EverythingServer {
  url: URL;
  port: number;
  stop(): Promise<void>;
}

export const everythingEntry = join(
  repoRoot,
  "node_modules",
  "@modelcontextprotocol",
  "server-everything",
  "dist",
  "index.js",
);

export async function startEverythingServer(port?: number): Promise<EverythingServer> {
  port ??= await freePort();
  const proc = Bun.spawn([process.execPath, everythingEntry, "streamableHttp"], {
    env: { ...process.env, PORT: String(port) },
    stdout: "ignore",
    stderr: "ignore",
  });
  const url = new URL(`http://127.0.0.1:${port}/mcp`);
  await eventually(
    async () => {
      const res = await fetch(url, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
      return res.status > 0;
    },
    { message: "the everything server listening", timeout: 20_000 },
  );
  return {
    url,
    port,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
