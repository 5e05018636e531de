/**
 * Command-line parsing shared by every command: node:util's parseArgs in
 * strict mode, with its errors turned into usage errors (exit 2), and the
 * flags every Kubernetes-facing command takes.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Flags of every command that talks to the Kubernetes API. */
export const kubeOptions = {
  kubeconfig: { type: "string" },
  namespace: { type: "string", short: "n" },
} as const satisfies Options;

export const outputOption = { output: { type: "string", short: "o" } } as const satisfies Options;
export const helpOption = { help: { type: "boolean", short: "h", default: false } } as const satisfies Options;

/** Parses one command's arguments; anything unknown or malformed is a UsageError naming the command. */
export function parse<const O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message}`);
  }
}

export type OutputFormat = "table" | "wide" | "json" | "yaml";

/** Checks `-o`: the formats this command accepts, with the table as the default. */
export function outputFormat(
  command: string,
  value: string | undefined,
  allowed: readonly OutputFormat[] = ["json", "yaml"],
): OutputFormat {
  if (value === undefined) return "table";
  if ((allowed as readonly string[]).includes(value)) return value as OutputFormat;
  throw new UsageError(
    `${command}: unknown output format "${value}" (allowed: ${allowed.filter((f) => f !== "table").join(", ")})`,
  );
}

/** A flag that must be an integer within bounds. */
export function integerFlag(command: string, flag: string, value: string | undefined, min: number, max: number) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${command}: --${flag} must be an integer from ${min} to ${max}, not "${value}"`);
  }
  return n;
}
