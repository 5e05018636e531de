import { describe, expect, test } from "bun:test";
import type { Task } from "../../lib/api/resources.ts";
import { resultContent } from "./mcp-server.ts";

const completed = (result: Record<string, unknown>): Task => ({
  metadata: { name: "t" },
  spec: { requiredCapabilities: ["x"] },
  status: { phase: "Completed", result },
});

describe("resultContent", () => {
  test.each([
    {
      name: "an object becomes JSON text and structured content",
      result: { rows: [1], count: 1 },
      want: { content: [{ type: "text", text: '{"rows":[1],"count":1}' }], structuredContent: { rows: [1], count: 1 } },
    },
    {
      name: "a bare string stays a string",
      result: { value: "hello" },
      want: { content: [{ type: "text", text: "hello" }] },
    },
    {
      name: "a bare array is JSON text",
      result: { value: [1, 2] },
      want: { content: [{ type: "text", text: "[1,2]" }] },
    },
    {
      name: "MCP content passes through",
      result: { content: [{ type: "image", data: "iVBORw0KGgo=", mimeType: "image/png" }] },
      want: { content: [{ type: "image", data: "iVBORw0KGgo=", mimeType: "image/png" }] },
    },
    {
      name: "MCP content keeps its structured content",
      result: { content: [{ type: "text", text: "2 rows" }], structuredContent: { n: 2 } },
      want: { content: [{ type: "text", text: "2 rows" }], structuredContent: { n: 2 } },
    },
    {
      name: "a field named content that is not MCP content is just data",
      result: { content: "plain" },
      want: { content: [{ type: "text", text: '{"content":"plain"}' }], structuredContent: { content: "plain" } },
    },
  ])("$name", ({ result, want }) => {
    expect(resultContent(completed(result))).toEqual(want as never);
  });
});
