/**
 * Validates tool input against its JSON Schema with Ajv, reporting the first
 * problem with the field named the way a person reads it: payload.rows[0].name.
 */
import type Ajv from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";
import type Ajv2020 from "ajv/dist/2020.js";
import type { JsonSchema } from "./tool.ts";

// strict: false — tool schemas come from agent authors and may carry
// annotations (examples, titles, vendor keywords) Ajv does not know.
const options = { allErrors: false, strict: false, validateFormats: false };
// Each loaded and made on its first schema: Ajv's modules cost an idle
// process about 7 MiB (bench/memory.ts), and a gateway or agent at rest
// validates nothing. require, not import(): validate stays synchronous.
let ajv: Ajv | undefined;
let ajv2020: Ajv2020 | undefined;
// Schemas that declare JSON Schema 2020-12 (as MCP's SEP-1613 allows) get the 2020 dialect.
function dialectOf(schema: JsonSchema): Ajv {
  if (String(schema.$schema ?? "").includes("2020-12")) {
    ajv2020 ??= new (require("ajv/dist/2020.js") as { default: typeof Ajv2020 }).default(options);
    return ajv2020;
  }
  ajv ??= new (require("ajv") as { default: typeof Ajv }).default(options);
  return ajv;
}
const cache = new WeakMap<JsonSchema, ValidateFunction>();

/** "/rows/0/name" → "rows[0].name" */
export function pointerToPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

function describe(err: ErrorObject, root: string): string {
  let path = pointerToPath(err.instancePath);
  if (err.keyword === "required")
    path = path ? `${path}.${err.params.missingProperty}` : String(err.params.missingProperty);
  if (err.keyword === "additionalProperties") {
    path = path ? `${path}.${err.params.additionalProperty}` : String(err.params.additionalProperty);
    return `${root}.${path}: is not allowed`;
  }
  const where = path ? `${root}.${path}` : root;
  if (err.keyword === "required") return `${where}: is required`;
  if (err.keyword === "enum")
    return `${where}: must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
  return `${where}: ${err.message}`;
}

/** Returns undefined when the value fits, else a message naming the field. */
export function validate(schema: JsonSchema, value: unknown, root = "payload"): string | undefined {
  let fn = cache.get(schema);
  if (!fn) {
    fn = dialectOf(schema).compile(schema);
    cache.set(schema, fn);
  }
  if (fn(value)) return undefined;
  const first = fn.errors?.[0];
  return first ? describe(first, root) : `${root}: is invalid`;
}
