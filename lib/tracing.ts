/**
 * Traces (OpenTelemetry, exported as OTLP over HTTP), off unless an endpoint
 * is configured: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT,
 * as every OpenTelemetry SDK reads them. Off, every helper here is a no-op on
 * the API's no-op tracer, and the SDK is never loaded (it costs memory the
 * services do not spend unless asked: docs/scaling.md).
 *
 * One call is one trace: the gateway's `tools/call` span continues the
 * client's W3C traceparent and is written on the call's Task (annotation
 * mcp.io/traceparent); the agent that runs the Task continues it there, and
 * a federated call carries it on to its MCPServer. Work that serves many
 * calls at once, the controller's placement of a batch of Tasks and the
 * scheduler's answer, is a trace of its own with a span link to each call.
 *
 * A process may run several services (the tests run them all in one): each
 * has its own provider and so its own service.name; a service that did not
 * start tracing gets the no-op tracer.
 */
import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { version } from "./version.ts";

/** What a provider of one service must do (the SDK's TracerProvider). */
interface ServiceProvider {
  getTracer(name: string, version?: string): Tracer;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The service names the conductor's spans are exported under. */
export const tracedServices = {
  gateway: "mcp-gateway",
  controller: "mcp-controller",
  scheduler: "mcp-scheduler",
  agent: "mcp-agent",
} as const;

const providers = new Map<string, ServiceProvider>();
let globalsSet = false;

export interface TracingOptions {
  /** The OTLP/HTTP traces URL; from the OTEL_EXPORTER_OTLP_* environment when not given. */
  endpoint?: string;
  env?: Record<string, string | undefined>;
  /** Span export batches are sent this often (the SDK's default is 5 s). */
  exportDelayMs?: number;
}

/** The OTLP/HTTP traces URL the environment configures, if any (the SDK's rules: the signal's own URL as is, the base one + /v1/traces). */
export function otlpTracesEndpoint(env: Record<string, string | undefined> = process.env): string | undefined {
  const own = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (own) return own;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined;
}

export interface Tracing {
  /** Sends the spans ended so far. */
  flush(): Promise<void>;
  /** Sends what is left and stops this service's tracing. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing for a service when an endpoint is configured; undefined
 * (and nothing loaded) when none is. `service` is the service.name spans are
 * exported under (mcp-gateway, mcp-controller, …).
 */
export async function startTracing(service: string, opts: TracingOptions = {}): Promise<Tracing | undefined> {
  const env = opts.env ?? process.env;
  const url = opts.endpoint ?? otlpTracesEndpoint(env);
  if (!url || env.OTEL_SDK_DISABLED === "true") return undefined;
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all(
    [
      import("@opentelemetry/sdk-trace"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
    ],
  );
  if (!globalsSet) {
    const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }] = await Promise.all([
      import("@opentelemetry/context-async-hooks"),
      import("@opentelemetry/core"),
    ]);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    globalsSet = true;
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": service, "service.version": version }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url }),
        scheduledDelayMillis: opts.exportDelayMs ?? 1_000,
      }),
    ],
  });
  await providers.get(service)?.shutdown();
  providers.set(service, provider);
  return {
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      if (providers.get(service) === provider) providers.delete(service);
      await provider.shutdown();
    },
  };
}

/** The span work gets when its service does not trace: it records nothing and carries no context. */
const untraced = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** The tracer of a service: its own provider's when it traces, else the no-op one. */
export function tracerOf(service: string): Tracer {
  return (providers.get(service) ?? trace.getTracerProvider()).getTracer("mcp-conductor", version);
}

/** Whether any service of this process traces (when none does, there is nothing to propagate). */
export const tracing = (): boolean => providers.size > 0;

/** The context a W3C traceparent names (the root context for none, or when nothing traces). */
export function contextOfTraceparent(traceparent: string | undefined): Context {
  if (!traceparent || !tracing()) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** The W3C traceparent of a span, to carry across a boundary (a Task, gRPC metadata, a request's _meta). */
export function traceparentOfSpan(span: Span): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  return carrier.traceparent;
}

/** A link to the span a traceparent names, for work that serves many traces at once. */
export function linkTo(traceparent: string | undefined, attributes?: Link["attributes"]): Link | undefined {
  const ctx = trace.getSpanContext(contextOfTraceparent(traceparent));
  return ctx && trace.isSpanContextValid(ctx) ? { context: ctx, ...(attributes ? { attributes } : {}) } : undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  /** The span's parent: a context, or a traceparent to continue; the active context when neither. */
  parent?: Context | string;
  attributes?: Record<string, string | number | boolean | undefined>;
  links?: (Link | undefined)[];
}

/**
 * Runs `fn` in a span of `service`, active within it (so spans started in
 * `fn` are its children). A thrown error marks the span an error and is
 * thrown on; the span ends when `fn` settles.
 */
export async function inSpan<T>(
  service: string,
  name: string,
  opts: SpanOptions,
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  // Not traced: no span to start, no context to switch (every call and run comes through here).
  if (!providers.has(service)) return fn(untraced);
  const parent =
    typeof opts.parent === "string" ? contextOfTraceparent(opts.parent) : (opts.parent ?? context.active());
  const attributes = Object.fromEntries(
    Object.entries(opts.attributes ?? {}).filter((e): e is [string, string | number | boolean] => e[1] !== undefined),
  );
  const links = (opts.links ?? []).filter((l): l is Link => l !== undefined);
  const span = tracerOf(service).startSpan(name, { kind: opts.kind, attributes, links }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}

/** The traceparent of the span active now, if one is. */
export function activeTraceparent(): string | undefined {
  const span = trace.getSpan(context.active());
  return span && span.spanContext().traceFlags !== undefined && trace.isSpanContextValid(span.spanContext())
    ? traceparentOfSpan(span)
    : undefined;
}

/** startTracing for a service's main, saying in its log where its spans go (or that they go nowhere). */
export async function startServiceTracing(
  service: string,
  log: { info(o: object, msg: string): void },
): Promise<Tracing | undefined> {
  const t = await startTracing(service);
  if (t) log.info({ endpoint: otlpTracesEndpoint() }, "Tracing: spans go to this OTLP endpoint");
  return t;
}
