import { describe, expect, test } from "bun:test";
import { argumentsDigest } from "../../lib/audit/record.ts";
import { federatedAuditRecord } from "./audit.ts";
import { groupsHash } from "./auth/subject.ts";

const call = {
  tool: "docs__search",
  mcpServer: "docs",
  upstreamTool: "search",
  caller: { client: "claude", subject: { user: "alice@example.com", groups: ["dev"] } },
  arguments: { q: "lease", limit: 3 },
  startedAt: new Date("2026-12-05T10:00:00.000Z"),
  finishedAt: new Date("2026-12-05T10:00:00.420Z"),
};

describe("the audit record of a federated call", () => {
  test("names the caller, the server and its tool, the digest and the time it took", () => {
    expect(
      federatedAuditRecord(
        { ...call, outcome: "completed", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
        "mcp-docs",
      ),
    ).toEqual({
      audit: "tool-call",
      domain: "mcp-docs",
      namespace: "mcp-docs",
      mcpServer: "docs",
      upstreamTool: "search",
      tool: "docs__search",
      caller: { user: "alice@example.com", client: "claude", groupsDigest: groupsHash(["dev"]) },
      argumentsDigest: argumentsDigest({ limit: 3, q: "lease" }),
      outcome: "completed",
      createdAt: "2026-12-05T10:00:00.000Z",
      finishedAt: "2026-12-05T10:00:00.420Z",
      durationMs: 420,
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    });
  });

  test("a failure keeps its reason; a success or a cancelled call has none", () => {
    expect(
      federatedAuditRecord({ ...call, outcome: "failed", reason: "MCP server docs is unavailable" }, "n"),
    ).toMatchObject({
      outcome: "failed",
      reason: "MCP server docs is unavailable",
    });
    expect(federatedAuditRecord({ ...call, outcome: "cancelled", reason: "x" }, "n").reason).toBeUndefined();
  });

  test("a caller without a token's subject is recorded by its client", () => {
    const r = federatedAuditRecord({ ...call, caller: { client: "anonymous" }, outcome: "tool_error" }, "n");
    expect(r.caller).toEqual({ user: "anonymous", client: "anonymous", groupsDigest: groupsHash([]) });
    expect(r.traceId).toBeUndefined();
  });
});
