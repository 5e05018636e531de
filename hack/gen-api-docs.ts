import { join } from "node:path";
import { readCrds } from "../lib/api/install.ts";
import { writeOrCheck } from "./generated-file.ts";

const root = join(import.meta.dir, "..");
const outPath = join(root, "docs", "reference", "api.md");

interface Schema {
  type?: string;
  format?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  anyOf?: Schema[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: { rule: string; message?: string; fieldPath?: string }[];
}

interface Crd {
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; shortNames?: string[]; categories?: string[] };
    versions: {
      name: string;
      selectableFields?: { jsonPath: string }[];
      additionalPrinterColumns?: { name: string; jsonPath: string; priority?: number; description?: string }[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

interface Row {
  path: string;
  type: string;
  required: boolean;
  default: string;
  validation: string[];
  description: string;
}

const code = (s: string) => `\`${s}\``;
/** A table cell: no line breaks, no unescaped pipes. */
const cell = (s: string) => s.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");

function typeOf(s: Schema): string {
  if (s["x-kubernetes-int-or-string"]) return "integer or string";
  if (s.type === "array") return `[]${s.items ? typeOf(s.items) : "any"}`;
  if (s.type === "object") {
    if (s.additionalProperties && typeof s.additionalProperties === "object") {
      return `map[string]${typeOf(s.additionalProperties)}`;
    }
    if (s["x-kubernetes-preserve-unknown-fields"]) return "object (free-form)";
    return "object";
  }
  return s.format ? `${s.type} (${s.format})` : (s.type ?? "any");
}

function validationOf(s: Schema): string[] {
  const v: string[] = [];
  if (s.enum) v.push(`one of ${s.enum.map((e) => code(String(e))).join(", ")}`);
  const range = (lo: number | undefined, hi: number | undefined, what: string) => {
    if (lo !== undefined && hi !== undefined) v.push(`${what}${lo} to ${hi}`);
    else if (lo !== undefined) v.push(`${what}at least ${lo}`);
    else if (hi !== undefined) v.push(`${what}at most ${hi}`);
  };
  range(s.minimum, s.maximum, "");
  range(s.minLength, s.maxLength, "length ");
  range(s.minItems, s.maxItems, "items ");
  if (s.maxProperties !== undefined) v.push(`at most ${s.maxProperties} entries`);
  if (s.pattern) v.push(`pattern ${code(s.pattern)}`);
  const listType = s["x-kubernetes-list-type"];
  if (listType === "set") v.push("unique items");
  if (listType === "map") v.push(`unique by ${(s["x-kubernetes-list-map-keys"] ?? []).map(code).join(", ")}`);
  for (const rule of s["x-kubernetes-validations"] ?? []) {
    v.push(`${rule.message ?? "rule"} (CEL ${code(rule.rule)})`);
  }
  return v;
}

/** Every field under `s`, depth first in schema order; lists add `[]`, maps `{}` to the path. */
function walk(s: Schema, path: string, required: boolean, rows: Row[]): void {
  rows.push({
    path,
    type: typeOf(s),
    required,
    default: s.default === undefined ? "" : code(JSON.stringify(s.default)),
    validation: validationOf(s),
    description: s.description ?? "",
  });
  // Conditions are metav1.Condition everywhere; one row says so.
  if (path.endsWith(".conditions") && s.items) {
    const row = rows[rows.length - 1] as Row;
    row.type = "[]Condition";
    row.description ||=
      "Standard Kubernetes conditions (`type`, `status`, `reason`, `message`, `lastTransitionTime`, `observedGeneration`), one per type.";
    return;
  }
  children(s, path, rows);
}

function children(s: Schema, path: string, rows: Row[]): void {
  for (const [name, child] of Object.entries(s.properties ?? {})) {
    walk(child, path ? `${path}.${name}` : name, (s.required ?? []).includes(name), rows);
  }
  if (s.items) children(s.items, `${path}[]`, rows);
  if (s.additionalProperties && typeof s.additionalProperties === "object") {
    children(s.additionalProperties, `${path}{}`, rows);
  }
}

function kindSection(crd: Crd): string {
  const { group, scope, names } = crd.spec;
  const version = crd.spec.versions[0];
  if (!version) throw new Error(`CRD ${names.kind} has no version`);
  const schema = version.schema.openAPIV3Schema;
  const out: string[] = [`## ${names.kind}`, ""];
  if (schema.description) out.push(schema.description, "");
  out.push(
    `- API version: ${code(`${group}/${version.name}`)}, ${scope.toLowerCase()}`,
    `- Names: ${code(names.plural)}${(names.shortNames ?? []).map((n) => `, ${code(n)}`).join("")}; categories ${(names.categories ?? []).map(code).join(", ")}`,
  );
  if (version.selectableFields?.length) {
    out.push(
      `- Field selectors: ${version.selectableFields.map((f) => code(f.jsonPath.replace(/^\./, ""))).join(", ")}`,
    );
  }
  if (version.additionalPrinterColumns?.length) {
    const cols = version.additionalPrinterColumns.map((c) => `${c.name}${c.priority ? " (wide)" : ""}`);
    out.push(`- Columns of \`kubectl get\`: NAME, ${cols.join(", ")}`);
  }
  for (const rule of schema["x-kubernetes-validations"] ?? []) out.push(`- Rule: ${rule.message ?? rule.rule}`);
  out.push("");

  for (const part of ["spec", "status"] as const) {
    const s = schema.properties?.[part];
    if (!s) continue;
    const rows: Row[] = [];
    children(s, part, rows);
    out.push(`### ${part}`, "");
    if (s.description) out.push(s.description, "");
    const objectRules = validationOf({ "x-kubernetes-validations": s["x-kubernetes-validations"] });
    for (const r of objectRules) out.push(`- ${r}`);
    if (objectRules.length) out.push("");
    out.push(
      "| Field | Type | Required | Default | Validation | Description |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const r of rows) {
      out.push(
        `| ${code(r.path)} | ${cell(r.type)} | ${r.required ? "yes" : ""} | ${cell(r.default)} | ${cell(r.validation.join("; "))} | ${cell(r.description)} |`,
      );
    }
    out.push("");
  }
  return out.join("\n");
}

function generate(): string {
  const crds = readCrds() as unknown as Crd[];
  const kinds = crds.map((c) => c.spec.names.kind);
  return `${[
    "<!-- Generated by hack/gen-api-docs.ts from deploy/crds; DO NOT EDIT. -->",
    "",
    "# API reference: mcp.io/v1",
    "",
    `The custom resources of MCP Conductor: ${kinds.map((k) => `[${k}](#${k.toLowerCase()})`).join(", ")}. The apiserver enforces everything below (OpenAPI schema and CEL rules), naming the field when it rejects an object. A path ending in \`[]\` is an item of a list, in \`{}\` a value of a map.`,
    "",
    ...crds.map(kindSection),
  ]
    .join("\n")
    .trimEnd()}\n`;
}

writeOrCheck(outPath, generate(), { root, regenerate: "bun hack/gen-api-docs.ts" });
