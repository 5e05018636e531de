/**
 * The circuit breaker of one federated MCP server, as a state machine apart
 * from any connection so its timing can be tested without waiting:
 *
 *   half-open ── success ──▶ closed ── `failureThreshold` failures in a row,
 *       ▲                               or one fatal failure ──▶ open
 *       └──────────── the cool-down ends ◀──────────────────────────┘
 *   half-open ── failure ──▶ open (the one trial failed)
 *
 * The cool-down starts at `cooldownMs` and doubles with each opening until a
 * trial succeeds, up to `maxCooldownMs`. A new breaker is half-open: the first
 * connection is its trial.
 */
import { type Clock, systemClock } from "../../lib/clock.ts";
export interface BreakerOptions {
  /** Failed calls in a row that open the circuit. */
  failureThreshold: number;
  /** The first cool-down; it doubles on each reopening, up to maxCooldownMs. */
  cooldownMs: number;
  maxCooldownMs: number;
}

export const defaultBreaker: BreakerOptions = { failureThreshold: 3, cooldownMs: 5_000, maxCooldownMs: 300_000 };

export type BreakerState = "half-open" | "closed" | "open";

export class CircuitBreaker {
  private current: BreakerState = "half-open";
  /** Failures in a row since the last success. */
  failures = 0;
  /** Openings since the last successful trial. */
  opens = 0;
  private cancel: (() => void) | undefined;

  constructor(
    private readonly opts: BreakerOptions & {
      /** The cool-down ended: make the one trial (a reconnect), then report success or failure. */
      onHalfOpen: () => void;
      clock?: Clock;
    },
  ) {}

  get state(): BreakerState {
    return this.current;
  }

  /** The cool-down the next opening will have. */
  get nextCooldownMs(): number {
    return Math.min(this.opts.maxCooldownMs, this.opts.cooldownMs * 2 ** this.opens);
  }

  succeeded(): void {
    this.failures = 0;
    if (this.current === "half-open") {
      this.current = "closed";
      this.opens = 0;
    }
  }

  /**
   * A call or the connection failed; `fatal` (the connection is gone) opens
   * the circuit at once. Returns the cool-down when this failure opened it.
   */
  failed(opts: { fatal?: boolean } = {}): number | undefined {
    if (this.current === "open") return undefined;
    this.failures++;
    if (this.current === "closed" && !opts.fatal && this.failures < this.opts.failureThreshold) return undefined;
    return this.open();
  }

  /** Opens the circuit now (a trial failed, or the server must be cut off); returns the cool-down. */
  open(): number {
    const delay = this.nextCooldownMs;
    this.current = "open";
    this.opens++;
    this.cancel?.();
    this.cancel = (this.opts.clock ?? systemClock).schedule(() => {
      this.cancel = undefined;
      this.current = "half-open";
      this.failures = 0;
      this.opts.onHalfOpen();
    }, delay);
    return delay;
  }

  /** No more trials (the server is gone, or the gateway stops). */
  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }
}
