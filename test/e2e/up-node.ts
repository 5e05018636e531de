// `npm run up -- --node`, as a user runs it: it builds or reuses the images,
// brings up a node, installs a domain with the README's commands and prints
// the gateway's address and a token; a call through it is answered by pods;
// Ctrl-C removes everything it set up. Runs after the shared node is gone
// (one node per machine).
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { repoRoot } from "../../lib/control-plane/binaries.ts";
import { nodeHostTraces } from "../../lib/control-plane/node.ts";
import type { E2e } from "./suite.ts";

/** `up --node` from start to Ctrl-C. */
export function registerUpNode(e2e: E2e): void {
  describe("up --node", () => {
    test("runs the conductor as pods, answers a call, and leaves nothing behind on Ctrl-C", async () => {
      const started = performance.now();
      const up = Bun.spawn([process.execPath, join(repoRoot, "services", "up", "main.ts"), "--node"], {
        stdout: "pipe",
        stderr: "pipe",
      });
      let out = "";
      const reader = (async () => {
        for await (const chunk of up.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(chunk);
      })();
      try {
        const deadline = Date.now() + 600_000;
        while (!out.includes("Press Ctrl-C") && up.exitCode === null && Date.now() < deadline) await Bun.sleep(200);
        expect(out).toContain("Press Ctrl-C");
        e2e.figures.upNodeReadySeconds = (performance.now() - started) / 1000;
        const url = /MCP gateway\s+(http:\/\/\S+\/mcp)/.exec(out)?.[1];
        const token = /Token\s+([0-9a-f]+)/.exec(out)?.[1];
        expect(url).toBeDefined();
        expect(token).toBeDefined();
        const client = new Client({ name: "e2e-up", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(url as string), {
            requestInit: { headers: { Authorization: `Bearer ${token}` } },
          }),
        );
        try {
          const res = await client.callTool({ name: "csv_to_json", arguments: { csv: "a\n1" } });
          expect(res.isError).toBeFalsy();
          expect(JSON.stringify(res.content)).toContain('\\"a\\":\\"1\\"');
        } finally {
          await client.close();
        }
        e2e.figures.upNodeFirstCallSeconds = (performance.now() - started) / 1000;
      } finally {
        up.kill("SIGINT");
        await up.exited;
        await reader;
      }
      expect(out).toContain("Stopped.");
      expect(nodeHostTraces()).toEqual([]);
    }, 700_000);
  });
}
