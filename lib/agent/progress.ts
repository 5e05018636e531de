/**
 * A tool's own progress (ctx.progress), written to its Task at most every
 * `intervalMs`: a chatty tool that reports a thousand times a second costs two
 * status writes a second, not a thousand. The first report is written at once;
 * later ones within the interval are coalesced, and the latest is written when
 * the interval ends. Progress is for people: a write that fails is logged and
 * dropped, never the tool's failure; once the task finishes, nothing more is
 * written (its final status says more).
 */
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

export interface ProgressWriterOptions {
  write: (p: ToolProgress) => Promise<void>;
  onError?: (err: unknown) => void;
  intervalMs?: number;
  now?: () => number;
  /** Runs fn after ms; returns a cancel. */
  schedule?: (fn: () => void, ms: number) => () => void;
}

const defaultSchedule = (fn: () => void, ms: number) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

export class ProgressWriter {
  private latest: ToolProgress | undefined;
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

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  report(p: ToolProgress): void {
    if (this.stopped) return;
    this.latest = p;
    this.pump();
  }

  /** The task finished or left the agent: pending progress is dropped. */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private pump(): void {
    if (this.stopped || this.writing || this.cancelTimer || !this.latest) return;
    const wait = this.lastWriteAt + this.interval - this.now();
    if (wait > 0) {
      this.cancelTimer = (this.opts.schedule ?? defaultSchedule)(() => {
        this.cancelTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    const p = this.latest;
    this.latest = undefined;
    this.writing = true;
    this.lastWriteAt = this.now();
    this.writes++;
    this.opts
      .write(p)
      .catch((err) => this.opts.onError?.(err))
      .finally(() => {
        this.writing = false;
        this.pump();
      });
  }
}
