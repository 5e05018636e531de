import { describe, expect, test } from "bun:test";
import type { Agent } from "../api/resources.ts";
import { chooseBoundAgent } from "./call-binding.ts";

const agent = (
  name: string,
  o: { phase?: "Ready" | "NotReady" | "Unknown"; max?: number; capabilities?: string[] } = {},
): Agent => ({
  apiVersion: "mcp.io/v1",
  kind: "Agent",
  metadata: { name, namespace: "team-a" },
  spec: { capabilities: o.capabilities ?? ["data"], maxConcurrentTasks: o.max ?? 2 },
  status: { phase: o.phase ?? "Ready" },
});
const call = { name: "call-1", capability: "data", namespace: "team-a" };

describe("chooseBoundAgent", () => {
  test("binds to the least loaded Ready agent of the capability", () => {
    const agents = [agent("a"), agent("b"), agent("c", { capabilities: ["fs"] }), agent("d", { phase: "NotReady" })];
    expect(chooseBoundAgent(call, agents, new Map([["a", 1]]))).toBe("b");
    expect(chooseBoundAgent(call, agents, new Map([["b", 1]]))).toBe("a");
  });

  test("an agent's object replaced (as an informer replaces it on a change) is what the next call sees", () => {
    const a = agent("a");
    const agents = [a, agent("b")];
    expect(chooseBoundAgent(call, agents, new Map([["b", 1]]))).toBe("a");
    agents[0] = { ...a, status: { phase: "NotReady" } };
    expect(chooseBoundAgent(call, agents, new Map([["b", 1]]))).toBe("b");
  });

  test("none when every agent is full, when none is given, or none of its domain", () => {
    const agents = [agent("a"), agent("b")];
    expect(
      chooseBoundAgent(
        call,
        agents,
        new Map([
          ["a", 2],
          ["b", 2],
        ]),
      ),
    ).toBeUndefined();
    expect(chooseBoundAgent(call, [], new Map())).toBeUndefined();
    expect(chooseBoundAgent({ ...call, namespace: "team-b" }, agents, new Map())).toBeUndefined();
  });

  test("an agent whose name can be no label value is left to the controller", () => {
    const long = "a".repeat(64);
    expect(chooseBoundAgent(call, [agent(long)], new Map())).toBeUndefined();
    expect(chooseBoundAgent(call, [agent(long), agent("b")], new Map())).toBe("b");
  });

  test("an agent whose object allows no task takes none", () => {
    expect(chooseBoundAgent(call, [agent("a", { max: 0 })], new Map())).toBeUndefined();
    expect(chooseBoundAgent(call, [agent("a", { max: 0 }), agent("b")], new Map())).toBe("b");
  });
});
