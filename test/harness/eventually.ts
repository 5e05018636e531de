/**
 * Polls until a condition holds, instead of sleeping a guessed time. The last
 * failure is reported when time runs out, so a failing test says what it saw.
 */
export interface EventuallyOptions {
  timeout?: number;
  interval?: number;
  message?: string;
}

export async function eventually<T>(
  fn: () => T | Promise<T>,
  { timeout = 10_000, interval = 50, message }: EventuallyOptions = {},
): Promise<Exclude<T, false | null | undefined>> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== false && v !== null && v !== undefined) return v as Exclude<T, false | null | undefined>;
      last = new Error(`condition returned ${String(v)}`);
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? last.message : String(last);
      throw new Error(`${message ?? "condition"} not met within ${timeout} ms: ${why}`);
    }
    await Bun.sleep(interval);
  }
}

/** The promise's value, or an error naming the step when it takes longer than ms (a hang says where it hung). */
export async function within<T>(ms: number, step: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${step} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
