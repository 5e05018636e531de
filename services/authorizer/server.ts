/**
 * The authorizer's HTTP side: POST /authorize takes a SubjectAccessReview v1
 * from the apiserver and answers it with the decision (decision.ts); the
 * probes say the process serves. It keeps nothing between requests, so any
 * replica answers any review and a restart loses nothing.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "../../lib/log.ts";
import { type Decision, decide, MalformedReview, parseReview, podNameExtra } from "./decision.ts";
import { AuthorizerMetrics } from "./metrics.ts";

/** A review is a few hundred bytes; anything near this is not one. */
export const maxBodyBytes = 64 * 1024;

export interface AuthorizerAppOptions {
  log: Logger;
  metrics?: AuthorizerMetrics;
}

/** The answer the apiserver reads: status.allowed, status.reason (never status.denied: no opinion lets it refuse). */
export function reviewResponse(d: Decision) {
  return {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SubjectAccessReview",
    status: { allowed: d.allowed, reason: d.reason },
  };
}

export function authorizerApp({ log, metrics = new AuthorizerMetrics() }: AuthorizerAppOptions): Hono {
  const app = new Hono();
  for (const path of ["/healthz", "/livez", "/readyz"]) app.get(path, (c) => c.text("ok"));
  app.post(
    "/authorize",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => {
        metrics.reviews.inc({ decision: "malformed" });
        return c.text(`malformed SubjectAccessReview: the body is larger than ${maxBodyBytes} bytes`, 413);
      },
    }),
    async (c) => {
      const end = metrics.duration.startTimer();
      try {
        let body: unknown;
        try {
          body = JSON.parse(await c.req.text());
        } catch {
          throw new MalformedReview("the body is not JSON");
        }
        const { spec } = parseReview(body);
        const d = decide(spec);
        metrics.reviews.inc({ decision: d.allowed ? "allowed" : "no_opinion" });
        const ra = spec.resourceAttributes;
        const fields = {
          user: spec.user,
          pod: spec.extra?.[podNameExtra]?.[0],
          verb: ra?.verb,
          namespace: ra?.namespace,
          resource: ra?.resource,
          name: ra?.name || undefined,
          reason: d.reason,
        };
        // An agent asking for more than its own tasks is worth a line; its own reads are not.
        if (d.allowed) log.debug(fields, "Allowed review");
        else log.info(fields, "Gave no opinion on review");
        return c.json(reviewResponse(d));
      } catch (err) {
        if (!(err instanceof MalformedReview)) throw err;
        metrics.reviews.inc({ decision: "malformed" });
        log.warn({ err }, "Refused malformed review");
        return c.text(`malformed SubjectAccessReview: ${err.message}`, 400);
      } finally {
        end();
      }
    },
  );
  app.onError((err, c) => {
    log.error({ err }, "Review failed");
    return c.text("internal error", 500);
  });
  return app;
}

export interface ServeAuthorizerOptions extends AuthorizerAppOptions {
  port: number;
  hostname?: string;
  /** PEM text of the serving certificate (with its chain) and its key. */
  tls: { cert: string; key: string };
}

/** Serves the app over HTTPS; stop() lets the reviews in flight finish. */
export function serveAuthorizer(opts: ServeAuthorizerOptions): { port: number; stop: () => Promise<void> } {
  const server = Bun.serve({
    port: opts.port,
    hostname: opts.hostname ?? "0.0.0.0",
    tls: opts.tls,
    fetch: authorizerApp(opts).fetch,
  });
  return { port: server.port as number, stop: () => server.stop() };
}
