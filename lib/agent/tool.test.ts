import { describe, expect, test } from "bun:test";
import type { Task } from "../api/resources.ts";
import { clientCapabilitiesAnnotation, clientOf, inputHelpers } from "./tool.ts";

const task = (annotation?: string): Task => ({
  metadata: {
    name: "t",
    ...(annotation !== undefined ? { annotations: { [clientCapabilitiesAnnotation]: annotation } } : {}),
  },
  spec: { requiredCapabilities: ["c"] },
});

describe("the calling client (ctx.client)", () => {
  test.each([
    {
      name: "as the gateway recorded it",
      given: '{"elicitation":{},"sampling":{"tools":{}}}',
      want: { elicitation: {}, sampling: { tools: {} } },
    },
    { name: "no record: declared nothing", given: undefined, want: {} },
    { name: "not JSON: declared nothing", given: "{oops", want: {} },
    {
      name: "only the three input capabilities, as objects",
      given: '{"roots":true,"tasks":{},"elicitation":[]}',
      want: {},
    },
  ])("$name", ({ given, want }) => {
    expect(clientOf(task(given))).toEqual({ capabilities: want });
  });
});

describe("ctx.elicit, ctx.sample, ctx.listRoots", () => {
  test("each asks one request of requestInput, under its key, and resolves with its answer", async () => {
    const asked: Record<string, unknown>[] = [];
    const helpers = inputHelpers(async (requests) => {
      asked.push(requests);
      const key = Object.keys(requests)[0] as string;
      return { [key]: { answered: key } };
    });
    expect(await helpers.elicit({ message: "?", requestedSchema: { type: "object" } })).toEqual({
      answered: "elicitation",
    } as never);
    expect(await helpers.sample({ messages: [], maxTokens: 5 }, "summary")).toEqual({ answered: "summary" } as never);
    expect(await helpers.listRoots()).toEqual({ answered: "roots" } as never);
    expect(asked).toEqual([
      { elicitation: { method: "elicitation/create", params: { message: "?", requestedSchema: { type: "object" } } } },
      { summary: { method: "sampling/createMessage", params: { messages: [], maxTokens: 5 } } },
      { roots: { method: "roots/list", params: {} } },
    ]);
  });
});
