#!/usr/bin/env bun
// The `conductor` and `kubectl-conductor` executables: see main.ts.
import { main } from "./main.ts";

/** Writes in order, and lets the process wait for them before it exits (a pipe may be slow). */
function writer(sink: typeof Bun.stdout) {
  let pending: Promise<unknown> = Promise.resolve();
  return {
    write: (s: string) => {
      pending = pending.then(() => Bun.write(sink, s));
    },
    flushed: () => pending,
  };
}

export async function run(): Promise<never> {
  const out = writer(Bun.stdout);
  const err = writer(Bun.stderr);
  const code = await main(process.argv.slice(2), {
    out: out.write,
    err: err.write,
    untilStopped: () =>
      new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      }),
  });
  await Promise.all([out.flushed(), err.flushed()]);
  // Open clients (gRPC channels, watches) must not keep a finished command alive.
  process.exit(code);
}

if (import.meta.main) await run();
