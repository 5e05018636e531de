// Tracing exported to a real HTTP endpoint (an OTLP/HTTP sink in this
// process that keeps what it is sent): spans, parents, links and the
// traceparent carried across a boundary; and nothing at all when off.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SpanKind } from "@opentelemetry/api";
import {
  activeTraceparent,
  inSpan,
  linkTo,
  otlpTracesEndpoint,
  startTracing,
  type Tracing,
  tracing,
} from "./tracing.ts";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  links?: { traceId: string; spanId: string }[];
  attributes?: { key: string; value: { stringValue?: string } }[];
}
let sink: ReturnType<typeof Bun.serve>;
const received: { service: string; span: OtlpSpan }[] = [];

beforeAll(() => {
  sink = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = (await req.json()) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ service, span });
      }
      return Response.json({});
    },
  });
});
afterAll(() => sink.stop(true));

describe("the OTLP endpoint", () => {
  test("comes from the environment as the SDKs read it", () => {
    expect(otlpTracesEndpoint({})).toBeUndefined();
    expect(otlpTracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/" })).toBe("http://c:4318/v1/traces");
    expect(
      otlpTracesEndpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t/x",
      }),
    ).toBe("http://t/x");
  });
});

describe("tracing", () => {
  test("off: no endpoint, nothing started, spans are no-ops and carry nothing", async () => {
    expect(await startTracing("mcp-test-off", { env: {} })).toBeUndefined();
    expect(tracing()).toBe(false);
    const got = await inSpan("mcp-test-off", "nothing", {}, () => activeTraceparent());
    expect(got).toBeUndefined();
  });

  test("on: a span continues a traceparent, its children follow it, another service links to it", async () => {
    const url = `http://127.0.0.1:${sink.port}/v1/traces`;
    const a: Tracing | undefined = await startTracing("mcp-test-a", { endpoint: url });
    const b: Tracing | undefined = await startTracing("mcp-test-b", { endpoint: url });
    try {
      const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      const carried = await inSpan(
        "mcp-test-a",
        "tools/call echo",
        { kind: SpanKind.SERVER, parent: incoming, attributes: { "gen_ai.tool.name": "echo", none: undefined } },
        () => inSpan("mcp-test-a", "inner", {}, () => activeTraceparent()),
      );
      expect(carried).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
      await inSpan("mcp-test-b", "placement", { links: [linkTo(carried), linkTo(undefined)] }, () => undefined);
      await expect(inSpan("mcp-test-b", "fails", {}, () => Promise.reject(new Error("no")))).rejects.toThrow("no");
      await a?.flush();
      await b?.flush();
      const byName = (n: string) => received.find((r) => r.span.name === n);
      const call = byName("tools/call echo");
      const inner = byName("inner");
      const placement = byName("placement");
      expect(call?.service).toBe("mcp-test-a");
      expect(call?.span.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
      expect(call?.span.parentSpanId).toBe("00f067aa0ba902b7");
      expect(call?.span.kind).toBe(2); // SERVER, in OTLP's numbering
      expect(call?.span.attributes?.map((x) => x.key)).toEqual(["gen_ai.tool.name"]);
      expect(inner?.span.parentSpanId).toBe(call?.span.spanId);
      expect(carried).toContain(inner?.span.spanId ?? "-");
      expect(placement?.service).toBe("mcp-test-b");
      expect(placement?.span.traceId).not.toBe(call?.span.traceId);
      expect(placement?.span.links).toEqual([
        expect.objectContaining({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: inner?.span.spanId }),
      ]);
      expect(byName("fails")).toBeDefined();
    } finally {
      await a?.shutdown();
      await b?.shutdown();
    }
    expect(tracing()).toBe(false);
  });
});
