/**
 * An MCP handshake with a server, the way a client makes one: initialize
 * over Streamable HTTP, then close the session. Reachable means exactly this
 * succeeded; an open port that does not speak MCP is not reachable.
 */
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type Logger, logIgnored, silentLogger } from "../../lib/log.ts";
import { version } from "../../lib/version.ts";
import type { ProbeResult } from "./mcp-server-workload.ts";

export type Prober = (
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  /** Where what fails after the handshake (ending the session, closing) is said, as debug lines. */
  log?: Logger,
) => Promise<ProbeResult>;

export const probeMcpServer: Prober = async (url, headers, timeoutMs, log = silentLogger) => {
  // Loaded on the first probe: the SDK costs a process about 14 MiB, which a
  // domain without MCPServers should not pay (bench/memory.ts).
  const [{ Client }, { StreamableHTTPClientTransport }] = await Promise.all([
    import("@modelcontextprotocol/sdk/client/index.js"),
    import("@modelcontextprotocol/sdk/client/streamableHttp.js"),
  ]);
  const client = new Client({ name: "mcp-conductor-controller", version });
  let transport: StreamableHTTPClientTransport;
  try {
    transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  } catch (err) {
    return { ok: false, url, message: `invalid URL: ${(err as Error).message}` };
  }
  try {
    await client.connect(transport, { timeout: timeoutMs });
    const info = client.getServerVersion();
    const message = `${info?.name ?? "unnamed"} ${info?.version ?? ""}`.trim();
    // The probe's answer is the handshake; a server that cannot end the session is no less reachable.
    await transport.terminateSession().catch(logIgnored(log, "Ending a probe's MCP session", { url }));
    return { ok: true, url, message };
  } catch (err) {
    return { ok: false, url, message: (err as Error).message || String(err) };
  } finally {
    // Closing a probe's connection: nothing depends on it.
    await client.close().catch(logIgnored(log, "Closing a probe's MCP connection", { url }));
  }
};
