/**
 * A tool's own progress (ctx.progress) and messages to the client (ctx.log),
 * written to its Task at most every `intervalMs`: a chatty tool that reports
 * a thousand times a second costs two status writes a second, not a
 * thousand. The first note is written at once; later ones within the interval
 * are coalesced (the latest progress, the messages in order, at most
 * `maxMessages` a write, the oldest dropped beyond) and written when the
 * interval ends. Notes are for people: a write that fails is logged and
 * dropped, never the tool's failure; once the task finishes, nothing more is
 * written (its final status says more).
 */
import { type Clock, systemClock } from "../clock.ts";
export interface ToolProgress {
  done: number;
  total?: number;
  message?: string;
}

/** The longest message kept (the CRD's limit). */
export const maxProgressMessage = 1024;

/** The report as it is stored; throws a TypeError for numbers that cannot be progress. */
export function normalizeProgress(done: number, total?: number, message?: string): ToolProgress {
  if (!Number.isFinite(done) || done < 0) throw new TypeError(`progress must be a finite number ≥ 0, got ${done}`);
  if (total !== undefined && (!Number.isFinite(total) || total < 0))
    throw new TypeError(`progress total must be a finite number ≥ 0, got ${total}`);
  return {
    done,
    ...(total !== undefined ? { total } : {}),
    ...(message !== undefined ? { message: String(message).slice(0, maxProgressMessage) } : {}),
  };
}

/** The levels of MCP's notifications/message (RFC 5424), least severe first. */
export const loggingLevels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"] as const;
export type LoggingLevel = (typeof loggingLevels)[number];

/** Whether a message of `level` is at least as severe as `min`. */
export const atLeast = (level: LoggingLevel, min: LoggingLevel): boolean =>
  loggingLevels.indexOf(level) >= loggingLevels.indexOf(min);

export interface ToolMessage {
  /** From 1, in the order the tool logged them. */
  seq: number;
  level: LoggingLevel;
  logger?: string;
  data?: unknown;
}

/** The most a message's data may take as JSON; larger data is cut and sent as text. */
export const maxMessageDataBytes = 4096;

/** A message as it is stored; throws a TypeError for a level MCP does not know. */
export function normalizeMessage(seq: number, level: string, data: unknown, logger?: string): ToolMessage {
  if (!(loggingLevels as readonly string[]).includes(level))
    throw new TypeError(`log level must be one of ${loggingLevels.join(", ")}, got ${JSON.stringify(level)}`);
  const json = JSON.stringify(data ?? null);
  const fits = Buffer.byteLength(json) <= maxMessageDataBytes;
  return {
    seq,
    level: level as LoggingLevel,
    ...(logger !== undefined ? { logger: String(logger).slice(0, 256) } : {}),
    data: fits ? (data ?? null) : `${json.slice(0, maxMessageDataBytes - 20)}… (cut)`,
  };
}

/** What one write carries: the latest progress and the messages since the last write. */
export interface StatusNotes {
  progress?: ToolProgress;
  messages?: ToolMessage[];
}

export interface ProgressWriterOptions {
  write: (notes: StatusNotes) => Promise<void>;
  onError?: (err: unknown) => void;
  intervalMs?: number;
  clock?: Clock;
  maxMessages?: number;
}

export class ProgressWriter {
  private latest: ToolProgress | undefined;
  private messages: ToolMessage[] = [];
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private writing = false;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  /** Writes sent, for tests and figures. */
  writes = 0;

  constructor(private readonly opts: ProgressWriterOptions) {}

  private get interval(): number {
    return this.opts.intervalMs ?? 500;
  }

  private get clock(): Clock {
    return this.opts.clock ?? systemClock;
  }

  private now(): number {
    return this.clock.now();
  }

  report(p: ToolProgress): void {
    if (this.stopped) return;
    this.latest = p;
    this.pump();
  }

  /** A message for the client; at most `maxMessages` (default 20) go in one write, the newest. */
  message(m: ToolMessage): void {
    if (this.stopped) return;
    this.messages.push(m);
    const max = this.opts.maxMessages ?? 20;
    if (this.messages.length > max) this.messages.splice(0, this.messages.length - max);
    this.pump();
  }

  /**
   * The task finished or left the agent: nothing more is written. Returns
   * what was reported but not yet written (the last interval's), for the
   * final status write to carry, so a tool's last words reach its client.
   */
  stop(): StatusNotes {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const pending: StatusNotes = {
      ...(this.latest ? { progress: this.latest } : {}),
      ...(this.messages.length ? { messages: this.messages } : {}),
    };
    this.latest = undefined;
    this.messages = [];
    return pending;
  }

  private pump(): void {
    if (this.stopped || this.writing || this.cancelTimer || (!this.latest && this.messages.length === 0)) return;
    const wait = this.lastWriteAt + this.interval - this.now();
    if (wait > 0) {
      this.cancelTimer = this.clock.schedule(() => {
        this.cancelTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    const notes: StatusNotes = {
      ...(this.latest ? { progress: this.latest } : {}),
      ...(this.messages.length ? { messages: this.messages } : {}),
    };
    this.latest = undefined;
    this.messages = [];
    this.writing = true;
    this.lastWriteAt = this.now();
    this.writes++;
    this.opts
      .write(notes)
      .catch((err) => this.opts.onError?.(err))
      .finally(() => {
        this.writing = false;
        this.pump();
      });
  }
}
