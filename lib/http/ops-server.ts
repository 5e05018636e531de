/**
 * The operational endpoints every service serves on its own port:
 * /metrics (Prometheus text), /healthz and /livez (the process is alive),
 * /readyz (it can do its job; the check is the service's own).
 */
import { Hono } from "hono";
import type { Registry } from "prom-client";

export interface OpsServerOptions {
  port: number;
  hostname?: string;
  registry: Registry;
  ready: () => boolean | Promise<boolean>;
}

export function opsApp({ registry, ready }: Omit<OpsServerOptions, "port" | "hostname">): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => c.body(await registry.metrics(), 200, { "Content-Type": registry.contentType }));
  app.get("/healthz", (c) => c.text("ok"));
  app.get("/livez", (c) => c.text("ok"));
  app.get("/readyz", async (c) => ((await ready()) ? c.text("ok") : c.text("not ready", 503)));
  return app;
}

export function startOpsServer(opts: OpsServerOptions): { port: number; stop: () => Promise<void> } {
  const server = Bun.serve({ port: opts.port, hostname: opts.hostname ?? "0.0.0.0", fetch: opsApp(opts).fetch });
  return { port: server.port ?? opts.port, stop: () => server.stop(true) };
}
