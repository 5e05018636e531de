import { type Clock, systemClock } from "../clock.ts";

/**
 * A tool's own time limit, which stands still while the tool waits for its
 * client's answers (those have an answer-by time of their own): a person
 * taking five minutes over a form does not time the tool out, and a call
 * nobody answers ends as InputTimeout, which is not retried, rather than as
 * a Timeout, which would be, asking the same question again.
 */
export class ToolTime {
  private readonly controller = new AbortController();
  private left: number;
  private since: number;
  private cancel: () => void;
  private waits = 0;

  constructor(
    readonly limitMs: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.left = limitMs;
    this.since = clock.now();
    this.cancel = clock.schedule(this.expire, limitMs);
  }

  private readonly expire = () =>
    this.controller.abort(new DOMException(`the tool ran longer than ${this.limitMs} ms`, "TimeoutError"));

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The tool waits for answers (several waits may overlap): the clock stops. */
  pause(): void {
    if (this.waits++ > 0 || this.signal.aborted) return;
    this.cancel();
    this.left -= this.clock.now() - this.since;
  }

  /** A wait ended: the clock goes on from where it stopped once no wait is left. */
  resume(): void {
    if (--this.waits > 0 || this.signal.aborted) return;
    this.since = this.clock.now();
    this.cancel = this.clock.schedule(this.expire, Math.max(0, this.left));
  }

  stop(): void {
    this.cancel();
  }
}
