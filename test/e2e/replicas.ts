// Two gateway replicas behind the Service, as shipped: 2025-era sessions
// (Mcp-Session-Id) whose requests kube-proxy spreads over both replicas. No
// request may meet "Session not found", no call may be lost, and both
// replicas must have served: any replica serves any session.
import { beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ensureDomain, type NodeCluster, runningPods } from "../harness/node.ts";
import type { E2e } from "./suite.ts";

const ns = "mcp-data-processing";
let figures: E2e["figures"];
let cluster: NodeCluster;
let gateway: { url: URL; token: string };

/** A counter's total over its series, from one gateway pod's /metrics. */
async function counter(podIP: string, name: string, labelMatch = ""): Promise<number> {
  const text = await (await fetch(`http://${podIP}:9102/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || line.startsWith(`${name}_`) || !line.includes(labelMatch)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
  }
  return sum;
}

/**
 * A call, sent again after a second while the gateway refuses it with 429
 * (at most 5 times), as a client honouring Retry-After would: the 20 sessions
 * share one token, so one caller's rate limit (GATEWAY_RATE_PER_SECOND per
 * replica), which a fast enough gateway reaches. A refusal is not a lost call;
 * this test is about sessions reaching either replica.
 */
async function callRetryingRateLimit(client: Client, params: Parameters<Client["callTool"]>[0]) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.callTool(params);
    } catch (err) {
      if (attempt >= 5 || !(err as Error).message.includes("Too many requests")) throw err;
      rateLimited++;
      await Bun.sleep(1000);
    }
  }
}
let rateLimited = 0;

/** Two replicas of the gateway behind its Service; 20 sessions, 500 calls. */
export function registerReplicas(e2e: E2e): void {
  describe("two gateway replicas behind the Service", () => {
    beforeAll(async () => {
      cluster = e2e.cluster;
      figures = e2e.figures;
      gateway = await ensureDomain(cluster, "data-processing");
    }, 600_000);

    test("20 concurrent 2025 sessions, 500 calls: both replicas serve, no 404, no call lost", async () => {
      const pods = (await runningPods(cluster, ns, "mcp-gateway")).filter((p) => p.ip);
      expect(pods).toHaveLength(2);
      const ips = pods.map((p) => p.ip as string);
      const callsBefore = await Promise.all(ips.map((ip) => counter(ip, "mcp_gateway_tool_calls_total")));
      const rehydratedBefore = await Promise.all(
        ips.map((ip) => counter(ip, "mcp_gateway_session_rehydrations_total", 'outcome="rehydrated"')),
      );

      const sessions = 20;
      const perSession = 25;
      const failures: string[] = [];
      let answered = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: sessions }, async (_, s) => {
          const client = new Client({ name: `e2e-replicas-${s}`, version: "1.0.0" });
          await client.connect(
            new StreamableHTTPClientTransport(gateway.url, {
              requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
            }),
          );
          try {
            for (let i = 0; i < perSession; i++) {
              const id = `s${s}-c${i}`;
              try {
                const res = await callRetryingRateLimit(client, {
                  name: "csv_to_json",
                  arguments: { csv: `id\n${id}` },
                });
                const text = (res.content as { text?: string }[]).map((c) => c.text ?? "").join("");
                if (res.isError || !text.includes(`"${id}"`)) failures.push(`${id}: ${text.slice(0, 120)}`);
                else answered++;
              } catch (err) {
                failures.push(`${id}: ${(err as Error).message.slice(0, 160)}`);
              }
            }
          } finally {
            await client.close();
          }
        }),
      );
      figures.replicasRateLimitedRetries = rateLimited;
      figures.replicasCallsPerSecond = Math.round((sessions * perSession) / ((performance.now() - started) / 1000));
      const callsAfter = await Promise.all(ips.map((ip) => counter(ip, "mcp_gateway_tool_calls_total")));
      const rehydratedAfter = await Promise.all(
        ips.map((ip) => counter(ip, "mcp_gateway_session_rehydrations_total", 'outcome="rehydrated"')),
      );
      const served = callsAfter.map((n, i) => n - (callsBefore[i] ?? 0));
      figures.replicasServed = served.join("/");
      figures.replicasRehydrated = rehydratedAfter.map((n, i) => n - (rehydratedBefore[i] ?? 0)).join("/");

      expect(failures.slice(0, 5)).toEqual([]);
      expect(answered).toBe(sessions * perSession);
      // Both replicas answered calls, and sessions crossed between them.
      for (const n of served) expect(n).toBeGreaterThan(0);
      expect(served.reduce((a, b) => a + b, 0)).toBe(sessions * perSession);
      expect(rehydratedAfter.reduce((a, b) => a + b, 0)).toBeGreaterThan(rehydratedBefore.reduce((a, b) => a + b, 0));
    }, 300_000);
  });
}
