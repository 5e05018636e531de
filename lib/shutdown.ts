/**
 * How every service stops: on the first SIGINT or SIGTERM (the kubelet's stop,
 * Ctrl-C) it logs the signal, runs its own stop once (a second signal while
 * it runs does not start it again) and exits 0. Stop steps own their order:
 * leases released, in-flight work drained, servers closed.
 */
import type { Logger } from "./log.ts";

export function stopOnSignal(log: Logger, stop: () => Promise<void> | void): void {
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "Shutting down");
      await stop();
      process.exit(0);
    });
  }
}
