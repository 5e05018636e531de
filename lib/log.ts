/**
 * Structured JSON logging. Every service logs through one root logger and
 * hands children to its parts, each child carrying the keys its lines need
 * (controller, task, agent, reconcileID, mcpSession, requestId).
 */
import pino, { type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  /** The service name, on every line. */
  service: string;
  level?: string;
  /** A file descriptor to write to: 1 (stdout, the default) or 2 (stderr, when stdout carries a protocol). */
  fd?: 1 | 2;
}

export function createLogger({ service, level, fd = 1 }: LoggerOptions): Logger {
  return pino(
    {
      name: service,
      level: level ?? process.env.LOG_LEVEL ?? "info",
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Synchronous writes: with pino's asynchronous destination under Bun, a
    // process that exits right after a line (a fatal start-up error, the end
    // of a shutdown) lost it about one time in three when stdout is a pipe, as
    // it is in a container, even after flush(); sync lost none in the same runs.
    pino.destination({ dest: fd, sync: true }),
  );
}

/**
 * The audit stream of a service: JSON lines marked "log":"audit", on stdout
 * (or stderr, when stdout carries a protocol) beside its other lines (a log
 * shipper picks them by that key) or in a file of their own; none for "off".
 * Not subject to the log level: a record is never filtered out.
 */
export function createAuditLogger(service: string, where: string): Logger | undefined {
  if (where === "off") return undefined;
  return pino(
    {
      level: "info",
      base: { service, log: "audit" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination(
      where === "stdout" || where === "stderr"
        ? { dest: where === "stdout" ? 1 : 2, sync: true }
        : { dest: where, sync: true, mkdir: true },
    ),
  );
}

/** A logger that writes nothing, for tests and library defaults. */
export const silentLogger: Logger = pino({ level: "silent" });

/**
 * A rejection handler for best-effort work whose failure changes nothing
 * (closing a connection that is going away, a notification to a client that
 * left): the error is kept as a debug line instead of being swallowed.
 */
export function logIgnored(log: Logger, what: string, context: Record<string, unknown> = {}) {
  return (err: unknown): void => log.debug({ ...context, err }, `${what} failed (ignored)`);
}
