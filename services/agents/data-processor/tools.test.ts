import { describe, expect, test } from "bun:test";
import { callTool, toolError } from "../../../lib/agent/testing.ts";
import { csvToJson, jsonToCsv, query, validateDocument } from "./tools.ts";

const people = [
  { name: "Ada", team: "core", age: 36, tags: ["math"] },
  { name: "Grace", team: "core", age: 45, tags: ["navy"] },
  { name: "Linus", team: "kernel", age: 28, tags: [] },
];

describe("csv_to_json", () => {
  test("parses headers, quotes and embedded newlines", async () => {
    const csv = 'name,quote\nAda,"said ""hi"""\nGrace,"two\nlines"\n';
    expect(await callTool(csvToJson, { csv })).toEqual({
      rows: [
        { name: "Ada", quote: 'said "hi"' },
        { name: "Grace", quote: "two\nlines" },
      ],
      count: 2,
    });
  });
  test("arrays without a header, other delimiters", async () => {
    expect(await callTool(csvToJson, { csv: "a;b\nc;d", delimiter: ";", header: false })).toEqual({
      rows: [
        ["a", "b"],
        ["c", "d"],
      ],
      count: 2,
    });
  });
  test("rejects ragged rows as invalid input, naming the field", async () => {
    const err = await toolError(callTool(csvToJson, { csv: "a,b\n1,2,3\n" }));
    expect(err.reason).toBe("InvalidInput");
    expect(err.retryable).toBe(false);
    expect(err.message).toStartWith("payload.csv:");
  });
  test("rejects a missing csv and a two-character delimiter", async () => {
    expect((await toolError(callTool(csvToJson, {}))).message).toBe("payload.csv: is required");
    expect((await toolError(callTool(csvToJson, { csv: "a", delimiter: "::" }))).message).toStartWith(
      "payload.delimiter:",
    );
  });
});

describe("json_to_csv", () => {
  test("writes a header and escapes what needs it", async () => {
    const out = await callTool(jsonToCsv, {
      rows: [
        { a: 1, b: "x,y" },
        { a: 2, c: { n: 1 } },
      ],
    });
    expect(out.csv).toBe('a,b,c\n1,"x,y",\n2,,"{""n"":1}"\n');
  });
  test("round-trips through csv_to_json", async () => {
    const { csv } = await callTool(jsonToCsv, { rows: [{ x: "1", y: "two" }] });
    expect((await callTool(csvToJson, { csv })).rows).toEqual([{ x: "1", y: "two" }]);
  });
  test("rejects rows that are not objects", async () => {
    expect((await toolError(callTool(jsonToCsv, { rows: [1, 2] }))).message).toBe("payload.rows[0]: must be object");
  });
});

describe("query_records", () => {
  test.each([
    {
      name: "filter and select",
      q: { where: [{ field: "team", op: "eq", value: "core" }], select: ["name"] },
      want: [{ name: "Ada" }, { name: "Grace" }],
    },
    {
      name: "range and sort desc",
      q: {
        where: [{ field: "age", op: "gt", value: 30 }],
        sortBy: [{ field: "age", order: "desc" }],
        select: ["name"],
      },
      want: [{ name: "Grace" }, { name: "Ada" }],
    },
    {
      name: "contains on arrays",
      q: { where: [{ field: "tags", op: "contains", value: "navy" }], select: ["name"] },
      want: [{ name: "Grace" }],
    },
    {
      name: "in",
      q: {
        where: [{ field: "name", op: "in", value: ["Linus", "Ada"] }],
        select: ["name"],
        sortBy: [{ field: "name" }],
      },
      want: [{ name: "Ada" }, { name: "Linus" }],
    },
    {
      name: "group and aggregate",
      q: {
        groupBy: ["team"],
        aggregate: [
          { op: "count", as: "n" },
          { op: "avg", field: "age" },
          { op: "max", field: "age" },
        ],
        sortBy: [{ field: "team" }],
      },
      want: [
        { team: "core", n: 2, avg_age: 40.5, max_age: 45 },
        { team: "kernel", n: 1, avg_age: 28, max_age: 28 },
      ],
    },
    {
      name: "aggregate everything",
      q: { aggregate: [{ op: "sum", field: "age", as: "total" }] },
      want: [{ total: 109 }],
    },
    { name: "limit", q: { sortBy: [{ field: "age" }], limit: 1, select: ["name"] }, want: [{ name: "Linus" }] },
  ])("$name", async ({ q, want }) => {
    expect((await callTool(query, { rows: people, ...q })).rows).toEqual(want as unknown as Record<string, unknown>[]);
  });
  test("rejects an unknown operator and a sum without a field", async () => {
    expect(
      (await toolError(callTool(query, { rows: people, where: [{ field: "a", op: "like" }] }))).message,
    ).toStartWith("payload.where[0].op: must be one of");
    expect((await toolError(callTool(query, { rows: people, aggregate: [{ op: "sum" }] }))).message).toBe(
      "payload.aggregate: sum needs a field",
    );
  });
});

describe("validate_json", () => {
  const schema = {
    type: "object",
    properties: { id: { type: "integer" }, email: { type: "string" } },
    required: ["id"],
  };
  test("accepts a valid document", async () => {
    expect(await callTool(validateDocument, { document: { id: 1 }, schema })).toEqual({ valid: true, errors: [] });
  });
  test("lists every violation", async () => {
    const out = await callTool(validateDocument, { document: { email: 3 }, schema });
    expect(out.valid).toBe(false);
    expect(out.errors).toEqual([
      { path: "/", message: "must have required property 'id'" },
      { path: "/email", message: "must be string" },
    ]);
  });
  test("reports a broken schema as invalid input", async () => {
    const err = await toolError(callTool(validateDocument, { document: {}, schema: { type: "nonsense" } }));
    expect(err.reason).toBe("InvalidInput");
    expect(err.message).toStartWith("payload.schema:");
  });
});
