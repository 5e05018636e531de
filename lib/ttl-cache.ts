/**
 * A bounded cache whose entries expire: at most `maxEntries`, the least
 * recently used going first; an entry read after its `until` is gone. For
 * answers of the apiserver that may be reused for a while (token reviews,
 * access reviews), so that a flood of distinct keys cannot grow memory.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value, unless missing or expired; a hit becomes the most recently used. */
  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    if (hit.until <= this.now()) return undefined;
    this.entries.set(key, hit);
    return hit.value;
  }

  /** Keeps the value until `until` (ms since the epoch), evicting the least recently used past the bound. */
  set(key: string, value: V, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }
}
