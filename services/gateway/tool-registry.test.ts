import { describe, expect, test } from "bun:test";
import type { Agent } from "../../lib/api/resources.ts";
import { sameOffer, toolsFromAgents } from "./tool-registry.ts";

type Tool = NonNullable<Agent["spec"]["tools"]>[number];
const tool = (
  name: string,
  capability = "data",
  schema: Record<string, unknown> = { properties: { x: { type: "string" } } },
): Tool => ({
  name,
  description: `${name} does things`,
  capability,
  inputSchema: { type: "object", ...schema },
});
const agent = (
  name: string,
  capabilities: string[],
  tools: Tool[] = [],
  phase: "Ready" | "NotReady" = "Ready",
): Agent => ({
  metadata: { name },
  spec: { capabilities, tools },
  status: { phase },
});

describe("toolsFromAgents", () => {
  test("unions the tools of Ready agents by name", () => {
    const { tools, conflicts } = toolsFromAgents([
      agent("a", ["data"], [tool("csv"), tool("query")]),
      agent("b", ["data"], [tool("csv")]),
      agent("sick", ["data"], [tool("only-on-sick")], "NotReady"),
    ]);
    expect(conflicts).toEqual([]);
    expect(tools.map((t) => [t.name, t.agents])).toEqual([
      ["csv", ["a", "b"]],
      ["query", ["a"]],
    ]);
  });

  test("reports the same name with different schemas as a conflict and withholds it", () => {
    const { tools, conflicts } = toolsFromAgents([
      agent("a", ["data"], [tool("csv"), tool("ok")]),
      agent("b", ["data"], [tool("csv", "data", { properties: { y: { type: "number" } } })]),
    ]);
    expect(tools.map((t) => t.name)).toEqual(["ok"]);
    expect(conflicts).toEqual([
      {
        name: "csv",
        agents: ["a", "b"],
        message: "agents a, b declare tool csv with different capabilities or schemas",
      },
    ]);
  });

  test("offers a capability without declared tools as a generic tool", () => {
    const { tools } = toolsFromAgents([agent("a", ["data", "ocr"], [tool("csv", "data")]), agent("b", ["ocr"])]);
    const generic = tools.find((t) => t.name === "capability.ocr");
    expect(generic).toMatchObject({
      capability: "ocr",
      generic: true,
      agents: ["a", "b"],
      inputSchema: { type: "object" },
    });
    expect(tools.find((t) => t.name === "capability.data")).toBeUndefined();
  });

  test("offers nothing when no agent is Ready", () => {
    expect(toolsFromAgents([agent("a", ["data"], [tool("csv")], "NotReady")]).tools).toEqual([]);
  });
});

describe("sameOffer", () => {
  const agent = (phase: string, tools: unknown[] = [], capabilities = ["c"], heartbeat = "t1"): Agent =>
    ({
      metadata: { name: "a" },
      spec: { capabilities, tools },
      status: { phase, lastHeartbeatTime: heartbeat },
    }) as unknown as Agent;
  const t = { name: "x", capability: "c", inputSchema: { type: "object" } };
  test("a heartbeat offers the same", () => {
    expect(sameOffer(agent("Ready", [t], ["c"], "t1"), agent("Ready", [t], ["c"], "t2"))).toBe(true);
  });
  test.each([
    ["readiness", agent("Ready", [t]), agent("NotReady", [t])],
    ["tools", agent("Ready", [t]), agent("Ready", [{ ...t, description: "new" }])],
    ["capabilities", agent("Ready", [t], ["c"]), agent("Ready", [t], ["c", "d"])],
  ])("a change of %s is another offer", (_, a, b) => {
    expect(sameOffer(a, b)).toBe(false);
  });
});
