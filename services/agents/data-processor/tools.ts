/**
 * data-processor tools: CSV ↔ JSON, a small query language over records
 * (filter, select, sort, group and aggregate), and JSON Schema validation.
 * Inputs are bounded so one task cannot exhaust the agent.
 */
import type Ajv from "ajv";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { defineTool, invalidInput } from "../../../lib/agent/tool.ts";

export const capability = "data-processing";
const maxRows = 100_000;
const maxCsvChars = 10 * 1024 * 1024;

type Row = Record<string, unknown>;

export const csvToJson = defineTool({
  name: "csv_to_json",
  title: "CSV to JSON",
  description: "Parses CSV text into rows: objects keyed by the header line, or arrays when header is false.",
  capability,
  inputSchema: {
    type: "object",
    properties: {
      csv: { type: "string", maxLength: maxCsvChars, description: "The CSV text" },
      delimiter: { type: "string", minLength: 1, maxLength: 1, default: "," },
      header: { type: "boolean", default: true, description: "Whether the first line names the columns" },
    },
    required: ["csv"],
    additionalProperties: false,
  },
  handler: ({ csv, delimiter = ",", header = true }: { csv: string; delimiter?: string; header?: boolean }) => {
    let rows: unknown[];
    try {
      rows = parse(csv, { columns: header, delimiter, skip_empty_lines: true, trim: true, relax_column_count: false });
    } catch (err) {
      throw invalidInput(`payload.csv: ${(err as Error).message}`);
    }
    if (rows.length > maxRows) throw invalidInput(`payload.csv: more than ${maxRows} rows`);
    return { rows, count: rows.length };
  },
});

export const jsonToCsv = defineTool({
  name: "json_to_csv",
  title: "JSON to CSV",
  description: "Writes rows (objects) as CSV with a header line; columns default to the keys of all rows.",
  capability,
  inputSchema: {
    type: "object",
    properties: {
      rows: { type: "array", maxItems: maxRows, items: { type: "object" } },
      columns: { type: "array", items: { type: "string" }, maxItems: 1000 },
      delimiter: { type: "string", minLength: 1, maxLength: 1, default: "," },
    },
    required: ["rows"],
    additionalProperties: false,
  },
  handler: ({ rows, columns, delimiter = "," }: { rows: Row[]; columns?: string[]; delimiter?: string }) => {
    const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const cell = (v: unknown) =>
      v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    const csv = stringify(
      rows.map((r) => cols.map((c) => cell(r[c]))),
      { header: true, columns: cols, delimiter },
    );
    return { csv, count: rows.length };
  },
});

type Op = "eq" | "ne" | "gt" | "gte" | "lt" | "lte" | "contains" | "in";
interface Condition {
  field: string;
  op: Op;
  value?: unknown;
}
interface Aggregate {
  op: "count" | "sum" | "avg" | "min" | "max";
  field?: string;
  as?: string;
}
interface QueryInput {
  rows: Row[];
  where?: Condition[];
  select?: string[];
  sortBy?: { field: string; order?: "asc" | "desc" }[];
  groupBy?: string[];
  aggregate?: Aggregate[];
  limit?: number;
}

/** Reads a dotted path ("address.city") from a row. */
export function fieldOf(row: Row, path: string): unknown {
  let v: unknown = row;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Row)[part];
  }
  return v;
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

function matches(row: Row, c: Condition): boolean {
  const v = fieldOf(row, c.field);
  switch (c.op) {
    case "eq":
      return v === c.value;
    case "ne":
      return v !== c.value;
    case "gt":
      return compare(v, c.value) > 0;
    case "gte":
      return compare(v, c.value) >= 0;
    case "lt":
      return compare(v, c.value) < 0;
    case "lte":
      return compare(v, c.value) <= 0;
    case "contains":
      return Array.isArray(v) ? v.includes(c.value) : typeof v === "string" && v.includes(String(c.value));
    case "in":
      return Array.isArray(c.value) && c.value.includes(v);
  }
}

function aggregateRows(rows: Row[], aggs: Aggregate[]): Row {
  const out: Row = {};
  for (const a of aggs) {
    const name = a.as ?? (a.field ? `${a.op}_${a.field}` : a.op);
    if (a.op === "count") {
      out[name] = a.field ? rows.filter((r) => fieldOf(r, a.field as string) !== undefined).length : rows.length;
      continue;
    }
    if (!a.field) throw invalidInput(`payload.aggregate: ${a.op} needs a field`);
    const nums = rows.map((r) => fieldOf(r, a.field as string)).filter((v): v is number => typeof v === "number");
    if (a.op === "sum") out[name] = nums.reduce((x, y) => x + y, 0);
    else if (a.op === "avg") out[name] = nums.length ? nums.reduce((x, y) => x + y, 0) / nums.length : null;
    else if (a.op === "min") out[name] = nums.length ? Math.min(...nums) : null;
    else out[name] = nums.length ? Math.max(...nums) : null;
  }
  return out;
}

/** The query itself, pure: filter → group/aggregate → sort → select → limit. */
export function runQuery(q: QueryInput): Row[] {
  let rows = q.rows.filter((r) => (q.where ?? []).every((c) => matches(r, c)));
  if (q.groupBy?.length || q.aggregate?.length) {
    const groups = new Map<string, Row[]>();
    for (const r of rows) {
      const key = JSON.stringify((q.groupBy ?? []).map((g) => fieldOf(r, g)));
      const list = groups.get(key) ?? [];
      list.push(r);
      groups.set(key, list);
    }
    rows = [...groups.entries()].map(([key, members]) => {
      const keys = JSON.parse(key) as unknown[];
      const row: Row = {};
      (q.groupBy ?? []).forEach((g, i) => {
        row[g] = keys[i];
      });
      return { ...row, ...aggregateRows(members, q.aggregate ?? [{ op: "count" }]) };
    });
  }
  for (const s of [...(q.sortBy ?? [])].reverse()) {
    const dir = s.order === "desc" ? -1 : 1;
    rows = [...rows].sort((a, b) => dir * compare(fieldOf(a, s.field), fieldOf(b, s.field)));
  }
  if (q.select) {
    const fields = q.select;
    rows = rows.map((r) => Object.fromEntries(fields.map((f) => [f, fieldOf(r, f)])));
  }
  return q.limit !== undefined ? rows.slice(0, q.limit) : rows;
}

export const query = defineTool({
  name: "query_records",
  title: "Query records",
  description: "Filters, groups, aggregates (count, sum, avg, min, max), sorts and projects an array of records.",
  capability,
  inputSchema: {
    type: "object",
    properties: {
      rows: { type: "array", maxItems: maxRows, items: { type: "object" } },
      where: {
        type: "array",
        items: {
          type: "object",
          properties: {
            field: { type: "string", minLength: 1 },
            op: { enum: ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in"] },
            value: {},
          },
          required: ["field", "op"],
          additionalProperties: false,
        },
      },
      select: { type: "array", items: { type: "string", minLength: 1 } },
      sortBy: {
        type: "array",
        items: {
          type: "object",
          properties: { field: { type: "string", minLength: 1 }, order: { enum: ["asc", "desc"] } },
          required: ["field"],
          additionalProperties: false,
        },
      },
      groupBy: { type: "array", items: { type: "string", minLength: 1 } },
      aggregate: {
        type: "array",
        items: {
          type: "object",
          properties: {
            op: { enum: ["count", "sum", "avg", "min", "max"] },
            field: { type: "string", minLength: 1 },
            as: { type: "string", minLength: 1 },
          },
          required: ["op"],
          additionalProperties: false,
        },
      },
      limit: { type: "integer", minimum: 0 },
    },
    required: ["rows"],
    additionalProperties: false,
  },
  handler: (q: QueryInput) => {
    const rows = runQuery(q);
    return { rows, count: rows.length };
  },
});

export const validateDocument = defineTool({
  name: "validate_json",
  title: "Validate JSON",
  description: "Checks a JSON document against a JSON Schema and lists every violation with its path.",
  capability,
  inputSchema: {
    type: "object",
    properties: { document: {}, schema: { type: "object" } },
    required: ["document", "schema"],
    additionalProperties: false,
  },
  handler: ({ document, schema }: { document: unknown; schema: Record<string, unknown> }) => {
    // loaded on the first call, not at start (lib/agent/validation.ts says why)
    const ajv = new (require("ajv") as { default: typeof Ajv }).default({ allErrors: true, strict: false });
    let check: ReturnType<typeof ajv.compile>;
    try {
      check = ajv.compile(schema);
    } catch (err) {
      throw invalidInput(`payload.schema: ${(err as Error).message}`);
    }
    const valid = check(document) as boolean;
    const errors = (check.errors ?? [])
      .slice(0, 100)
      .map((e) => ({ path: e.instancePath || "/", message: e.message ?? "invalid" }));
    return { valid, errors };
  },
});

export const tools = [csvToJson, jsonToCsv, query, validateDocument];
