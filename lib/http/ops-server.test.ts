import { describe, expect, test } from "bun:test";
import { Counter, Registry } from "prom-client";
import { opsApp } from "./ops-server.ts";

describe("ops endpoints", () => {
  const registry = new Registry();
  new Counter({ name: "demo_total", help: "a demo counter", registers: [registry] }).inc(3);
  let ready = false;
  const app = opsApp({ registry, ready: () => ready });

  test("serves Prometheus metrics", async () => {
    const res = await app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(await res.text()).toContain("demo_total 3");
  });

  test("is live at once, ready only when the service says so", async () => {
    expect((await app.request("/healthz")).status).toBe(200);
    expect((await app.request("/livez")).status).toBe(200);
    expect((await app.request("/readyz")).status).toBe(503);
    ready = true;
    expect((await app.request("/readyz")).status).toBe(200);
  });

  test("answers unknown paths with 404", async () => {
    expect((await app.request("/nope")).status).toBe(404);
  });
});
