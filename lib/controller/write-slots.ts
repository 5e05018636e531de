/**
 * Time slots for writes that can wait, spaced to keep them under a rate
 * across many objects (golang.org/x/time/rate's Reserve, without the burst):
 * each caller reserves the next free slot no sooner than it asks for, and
 * writes when that time comes. Idle, a slot is the time asked for; when many
 * callers ask at once, their slots follow one another 1/rate apart.
 */
export class WriteSlots {
  private nextFree = Number.NEGATIVE_INFINITY;

  constructor(private readonly perSecond: number) {
    if (!(perSecond > 0)) throw new RangeError(`perSecond must be positive, got ${perSecond}`);
  }

  /** Reserves the first free slot at or after `earliest` (ms), and returns its time. */
  reserve(earliest: number): number {
    const slot = Math.max(earliest, this.nextFree);
    this.nextFree = slot + 1000 / this.perSecond;
    return slot;
  }
}
