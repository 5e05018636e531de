/**
 * Label values from arbitrary strings (client ids, session ids, tool names).
 * A label value is at most 63 characters of [A-Za-z0-9_.-], beginning and
 * ending with a letter or digit, or empty. A string that already is one is
 * kept as it is; any other gets its invalid characters replaced, its ends
 * trimmed, and a short hash of the whole original appended, so two different
 * strings never share a value (labels select tasks by owner).
 */
import { createHash } from "node:crypto";

const maxLength = 63;
const valid = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isLabelValue(s: string): boolean {
  return s.length <= maxLength && valid.test(s);
}

export function labelValue(raw: string): string {
  if (isLabelValue(raw)) return raw;
  const hash = createHash("sha256").update(raw).digest("hex").slice(0, 10);
  const head = raw
    .replace(/[^A-Za-z0-9_.-]/g, "_")
    .slice(0, maxLength - hash.length - 1)
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/[^A-Za-z0-9]+$/, "");
  return head ? `${head}-${hash}` : hash;
}
