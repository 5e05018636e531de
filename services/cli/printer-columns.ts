/**
 * The columns kubectl shows for our resources, read from the CRDs'
 * additionalPrinterColumns, so `conductor agents` and `kubectl get agents`
 * stay in step when a column changes in deploy/crds.
 */
import { readCrds } from "../../lib/api/install.ts";
import type { KubeObject } from "../../lib/kube/resource-client.ts";
import { age } from "./output.ts";

export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description?: string;
  /** 0 is shown by default; higher only with `-o wide`. */
  priority?: number;
}

interface CrdShape {
  spec: { names: { kind: string }; versions: { name: string; additionalPrinterColumns?: PrinterColumn[] }[] };
}

/** The printer columns of one kind's served version, in CRD order. */
export function printerColumns(kind: string): PrinterColumn[] {
  for (const crd of readCrds() as unknown as CrdShape[]) {
    if (crd.spec.names.kind === kind) return crd.spec.versions[0]?.additionalPrinterColumns ?? [];
  }
  throw new Error(`no CRD for kind ${kind} in deploy/crds`);
}

/** A path step that picks the first list item whose field equals a value: `conditions[?(@.type=="Ready")]`. */
const filterStep = /^([^[\]]+)\[\?\(@\.([A-Za-z0-9_]+)==["']([^"']*)["']\)\]$/;

/**
 * Follows the JSONPath forms our CRDs' columns use: `.a.b.c`, and a step
 * with a filter on a list (`.status.conditions[?(@.type=="Ready")].reason`),
 * which, as kubectl, takes the item that matches.
 */
export function valueAt(obj: unknown, jsonPath: string): unknown {
  let v: unknown = obj;
  for (const step of jsonPath.replace(/^\./, "").split(/\.(?![^[]*\])/)) {
    if (v === null || typeof v !== "object") return undefined;
    const filter = filterStep.exec(step);
    if (!filter) {
      v = (v as Record<string, unknown>)[step];
      continue;
    }
    const [, key, field, value] = filter as unknown as [string, string, string, string];
    const list = (v as Record<string, unknown>)[key];
    v = Array.isArray(list)
      ? list.find(
          (item) => item && typeof item === "object" && String((item as Record<string, unknown>)[field]) === value,
        )
      : undefined;
  }
  return v;
}

/** A cell as kubectl renders it: ages for dates, JSON for lists and objects, nothing when unset. */
export function formatCell(col: PrinterColumn, value: unknown, now = Date.now()): string {
  if (value === undefined || value === null) return "";
  if (col.type === "date" && typeof value === "string") return age(value, now);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export interface ResourceTable {
  headers: string[];
  row(obj: KubeObject, now?: number): string[];
}

/** The header and a row function for a kind, with `wide` columns and a NAMESPACE column when asked. */
export function resourceTable(kind: string, opts: { wide?: boolean; withNamespace?: boolean } = {}): ResourceTable {
  const cols = printerColumns(kind).filter((c) => opts.wide || !c.priority);
  const headers = [...(opts.withNamespace ? ["NAMESPACE"] : []), "NAME", ...cols.map((c) => c.name.toUpperCase())];
  return {
    headers,
    row(obj, now = Date.now()) {
      return [
        ...(opts.withNamespace ? [obj.metadata.namespace ?? ""] : []),
        obj.metadata.name ?? "",
        ...cols.map((c) => formatCell(c, valueAt(obj, c.jsonPath), now)),
      ];
    },
  };
}
