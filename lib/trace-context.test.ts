import { describe, expect, test } from "bun:test";
import { requestTraceparent, validTraceparent } from "./trace-context.ts";

const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("trace context", () => {
  test("a traceparent as the spec writes it is kept; case and spaces are forgiven", () => {
    expect(validTraceparent(tp)).toBe(tp);
    expect(validTraceparent(` ${tp.toUpperCase()} `)).toBe(tp);
  });

  test("anything else is no trace context", () => {
    for (const bad of [
      undefined,
      42,
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ])
      expect(validTraceparent(bad)).toBeUndefined();
  });

  test("the request's _meta comes before the HTTP header; a bad _meta falls back to the header", () => {
    const other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    expect(requestTraceparent({ traceparent: tp }, other)).toBe(tp);
    expect(requestTraceparent({ traceparent: "nonsense" }, other)).toBe(other);
    expect(requestTraceparent(undefined, other)).toBe(other);
    expect(requestTraceparent({}, null)).toBeUndefined();
  });
});
