/**
 * Output as kubectl prints it: aligned tables with upper-case headers and
 * three spaces between columns (kubectl's tabwriter padding), ages
 * in kubectl's short form, and documents as JSON (two-space indent) or YAML.
 */
import { stringify } from "yaml";

/** Aligns rows under their headers; the last column is not padded. */
export function formatTable(headers: string[], rows: string[][], minWidths: number[] = []): string[] {
  const widths = columnWidths([headers, ...rows], minWidths);
  return [headers, ...rows].map((r) => formatRow(r, widths));
}

export function columnWidths(rows: string[][], minWidths: number[] = []): number[] {
  const widths = [...minWidths];
  for (const r of rows) {
    r.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return widths;
}

/** The padding of kubectl's tabwriter. */
const padding = 3;

export function formatRow(row: string[], widths: number[]): string {
  return row
    .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + padding)))
    .join("")
    .trimEnd();
}

/** kubectl's HumanDuration (k8s.io/apimachinery/pkg/util/duration), for AGE columns. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

/** The age of a timestamp, or "" when there is none. */
export function age(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return "";
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? "" : humanDuration(now - t);
}

/** One document in the chosen format, ending with a newline. */
export function formatDocument(doc: unknown, format: "json" | "yaml"): string {
  return format === "json" ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc);
}
