/**
 * Time as a dependency: what reads the time or waits takes a Clock, so that a
 * test moves time on by hand instead of sleeping (FakeClock). Production code
 * gets systemClock.
 */
export interface Clock {
  now(): number;
  /** Runs fn after ms; returns a cancel. */
  schedule(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Resolves after ms on `clock` (a FakeClock's advance() resolves it). */
export const sleep = (clock: Clock, ms: number): Promise<void> =>
  new Promise((resolve) => {
    clock.schedule(resolve, ms);
  });

/** A clock that moves only when told: timers run, in time order, as advance() passes them. */
export class FakeClock implements Clock {
  private time: number;
  private readonly timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;

  constructor(start = 1_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  schedule(fn: () => void, ms: number): () => void {
    const t = { at: this.time + Math.max(0, ms), fn, id: this.nextId++ };
    this.timers.push(t);
    return () => {
      const i = this.timers.indexOf(t);
      if (i >= 0) this.timers.splice(i, 1);
    };
  }

  /** Timers waiting. */
  get pending(): number[] {
    return this.timers.map((t) => t.at - this.time).sort((a, b) => a - b);
  }

  /** Moves time on by ms, running each timer that comes due (and those they schedule) in order. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.time = due.at;
      due.fn();
    }
    this.time = until;
  }
}
