// Against servers on loopback only.
import { afterAll, describe, expect, test } from "bun:test";
import { callTool, toolError } from "../../../lib/agent/testing.ts";
import type { ToolDefinition } from "../../../lib/agent/tool.ts";
import { hostAllowed, httpTools } from "./tools.ts";

const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 30,
  async fetch(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/hello") return Response.json({ hello: "world" });
    if (url.pathname === "/echo")
      return new Response(await req.text(), { headers: { "content-type": req.headers.get("content-type") ?? "" } });
    if (url.pathname === "/huge") return new Response("x".repeat(5000));
    if (url.pathname === "/slow") {
      await Bun.sleep(2000);
      return new Response("late");
    }
    if (url.pathname === "/redirect-in") return Response.redirect(`http://127.0.0.1:${server.port}/hello`, 302);
    if (url.pathname === "/redirect-out") return Response.redirect("http://169.254.169.254/latest/meta-data/", 302);
    if (url.pathname === "/loop") return Response.redirect(`http://127.0.0.1:${server.port}/loop`, 302);
    return new Response("not found", { status: 404 });
  },
});
afterAll(() => server.stop(true));

const base = () => `http://127.0.0.1:${server.port}`;
const tools = () =>
  httpTools({ allowedHosts: [`127.0.0.1:${server.port}`], timeoutMs: 500, maxResponseBytes: 1000, maxRedirects: 3 });
const tool = (name: string) => tools().find((t) => t.name === name) as ToolDefinition;

describe("hostAllowed", () => {
  test.each([
    { url: "https://api.example.com/x", allowed: ["api.example.com"], want: true },
    { url: "https://evil.com/x", allowed: ["api.example.com"], want: false },
    { url: "https://a.b.example.com", allowed: ["*.example.com"], want: true },
    { url: "https://example.com", allowed: ["*.example.com"], want: false },
    { url: "https://notexample.com", allowed: ["*.example.com"], want: false },
    { url: "http://127.0.0.1:8080", allowed: ["127.0.0.1:8080"], want: true },
    { url: "http://127.0.0.1:8081", allowed: ["127.0.0.1:8080"], want: false },
    { url: "http://API.EXAMPLE.COM", allowed: ["api.example.com"], want: true },
  ])("$url with $allowed → $want", ({ url, allowed, want }) => {
    expect(hostAllowed(new URL(url), [...allowed])).toBe(want);
  });
});

describe("http tools", () => {
  test("GET returns status, headers and body", async () => {
    const res = (await callTool(tool("http_get"), { url: `${base()}/hello` })) as {
      status: number;
      body: string;
      headers: Record<string, string>;
    };
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ hello: "world" });
    expect(res.headers["content-type"]).toContain("application/json");
  });

  test("POST sends objects as JSON", async () => {
    const res = (await callTool(tool("http_post"), { url: `${base()}/echo`, body: { a: 1 } })) as {
      body: string;
      headers: Record<string, string>;
    };
    expect(res.body).toBe('{"a":1}');
    expect(res.headers["content-type"]).toBe("application/json");
  });

  test("follows redirects that stay on the allowlist", async () => {
    expect(await callTool(tool("http_get"), { url: `${base()}/redirect-in` })).toMatchObject({
      status: 200,
      url: `${base()}/hello`,
    });
  });

  test("reports a 404 as a result, not an error", async () => {
    expect(await callTool(tool("http_get"), { url: `${base()}/missing` })).toMatchObject({ status: 404, ok: false });
  });

  test.each([
    { name: "a host off the allowlist", url: "http://example.com/", reason: "HostNotAllowed", retryable: false },
    { name: "the right host on another port", url: "http://127.0.0.1:1/", reason: "HostNotAllowed", retryable: false },
    { name: "a redirect off the allowlist", path: "/redirect-out", reason: "HostNotAllowed", retryable: false },
    { name: "a redirect loop", path: "/loop", reason: "TooManyRedirects", retryable: false },
    { name: "a response over the cap", path: "/huge", reason: "ResponseTooLarge", retryable: false },
    { name: "a slow server", path: "/slow", reason: "Timeout", retryable: true },
    { name: "another scheme", url: "file:///etc/passwd", reason: "InvalidInput", retryable: false },
    { name: "not a URL", url: "not a url", reason: "InvalidInput", retryable: false },
  ])("refuses $name", async ({ url, path, reason, retryable }) => {
    const err = await toolError(callTool(tool("http_get"), { url: url ?? `${base()}${path}` }));
    expect(err.reason).toBe(reason);
    expect(err.retryable).toBe(retryable);
  });
});
