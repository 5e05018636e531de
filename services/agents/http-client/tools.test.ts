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
    if (url.pathname === "/exact") return new Response("x".repeat(1000));
    if (url.pathname === "/empty") return new Response(null, { status: 204 });
    if (url.pathname === "/method")
      return Response.json({ method: req.method, body: await req.text(), type: req.headers.get("content-type") });
    if (url.pathname.startsWith("/chain/")) {
      const n = Number(url.pathname.slice("/chain/".length));
      return n > 0 ? Response.redirect(`/chain/${n - 1}`, 302) : new Response("end");
    }
    if (url.pathname === "/status") {
      const status = Number(url.searchParams.get("s"));
      const headers = url.searchParams.has("to") ? { location: "/hello" } : undefined;
      return new Response(status === 304 ? null : `status ${status}`, { status, headers });
    }
    if (url.pathname === "/see-other") return new Response(null, { status: 303, headers: { location: "/method" } });
    if (url.pathname === "/temporary") return new Response(null, { status: 307, headers: { location: "/method" } });
    if (url.pathname === "/slow-body")
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new TextEncoder().encode("a"));
            await Bun.sleep(2000);
            c.close();
          },
        }),
      );
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

describe("hostAllowed: ports, IPv6 and patterns", () => {
  test.each([
    { url: "https://api.example.com/", allowed: ["api.example.com:443"], want: true },
    { url: "https://api.example.com/", allowed: ["api.example.com:80"], want: false },
    { url: "http://api.example.com/", allowed: ["api.example.com:80"], want: true },
    { url: "http://api.example.com/", allowed: ["api.example.com:443"], want: false },
    { url: "http://[::1]:8080/", allowed: ["::1:8080"], want: true },
    { url: "https://xapi.example.com/", allowed: ["api.example.com"], want: false },
    { url: "https://b.example.com/", allowed: ["a.example.com", "b.example.com"], want: true },
    { url: "https://b.example.com/", allowed: [], want: false },
  ])("$url with $allowed → $want", ({ url, allowed, want }) => {
    expect(hostAllowed(new URL(url), [...allowed])).toBe(want);
  });
});

describe("http tools: requests, redirects and failures in detail", () => {
  const wide = () =>
    httpTools({
      allowedHosts: [`127.0.0.1:${server.port}`, "127.0.0.1:1"],
      timeoutMs: 200,
      maxResponseBytes: 1000,
      maxRedirects: 3,
    });
  const call = (name: string, input: unknown, opts: { signal?: AbortSignal; tools?: typeof wide } = {}) =>
    callTool((opts.tools ?? wide)().find((t) => t.name === name) as ToolDefinition, input, { signal: opts.signal });
  const failure = async (name: string, input: unknown, opts: { signal?: AbortSignal; tools?: typeof wide } = {}) => {
    const err = await toolError(call(name, input, opts));
    return { reason: err.reason, message: err.message, retryable: err.retryable };
  };
  type Result = { status: number; body: string; url: string; ok: boolean };

  test("a body of exactly the cap is read; an empty body is empty", async () => {
    expect(((await call("http_get", { url: `${base()}/exact` })) as Result).body).toHaveLength(1000);
    expect(await call("http_get", { url: `${base()}/empty` })).toMatchObject({ status: 204, body: "" });
  });

  test("without limits: 1 MiB responses and 5 redirects", async () => {
    const defaults = () => httpTools({ allowedHosts: [`127.0.0.1:${server.port}`] });
    expect(((await call("http_get", { url: `${base()}/huge` }, { tools: defaults })) as Result).body).toHaveLength(
      5000,
    );
    expect(await call("http_get", { url: `${base()}/chain/5` }, { tools: defaults })).toMatchObject({ body: "end" });
    expect(await failure("http_get", { url: `${base()}/chain/6` }, { tools: defaults })).toEqual({
      reason: "TooManyRedirects",
      message: "more than 5 redirects",
      retryable: false,
    });
  });

  test("POST: a string body as is, an object as JSON unless a content type is given, no body without one", async () => {
    const sent = async (input: Record<string, unknown>) =>
      JSON.parse(((await call("http_post", { url: `${base()}/method`, ...input })) as Result).body);
    expect(await sent({ body: "plain text" })).toMatchObject({ method: "POST", body: "plain text" });
    expect((await sent({ body: "plain text" })).type ?? "").not.toContain("json");
    expect(await sent({ body: { a: 1 } })).toEqual({ method: "POST", body: '{"a":1}', type: "application/json" });
    expect(await sent({ body: { a: 1 }, headers: { "content-TYPE": "application/x-thing" } })).toEqual({
      method: "POST",
      body: '{"a":1}',
      type: "application/x-thing",
    });
    expect(await sent({})).toEqual({ method: "POST", body: "", type: null });
    expect(await sent({ body: [1], headers: { "x-trace": "t" } })).toMatchObject({ type: "application/json" });
    expect(await sent({ headers: { "Content-Type": "text/csv" }, body: "a,b" })).toMatchObject({ type: "text/csv" });
  });

  test("redirects: up to the limit; 303 turns a POST into a GET, 307 keeps it", async () => {
    expect(await call("http_get", { url: `${base()}/chain/3` })).toMatchObject({ body: "end" });
    expect(await failure("http_get", { url: `${base()}/chain/4` })).toEqual({
      reason: "TooManyRedirects",
      message: "more than 3 redirects",
      retryable: false,
    });
    const after = async (path: string) =>
      JSON.parse(((await call("http_post", { url: `${base()}${path}`, body: "b" })) as Result).body);
    expect(await after("/see-other")).toMatchObject({ method: "GET", body: "" });
    expect(await after("/temporary")).toMatchObject({ method: "POST", body: "b" });
  });

  test.each([
    { s: 200, to: true, followed: false },
    { s: 300, to: true, followed: true },
    { s: 399, to: true, followed: true },
    { s: 400, to: true, followed: false },
    { s: 304, to: false, followed: false },
  ])("status $s with location $to: followed $followed", async ({ s, to, followed }) => {
    const res = (await call("http_get", { url: `${base()}/status?s=${s}${to ? "&to" : ""}` })) as Result;
    expect(res.status).toBe(followed ? 200 : s);
    expect(res.url.endsWith("/hello")).toBe(followed);
  });

  test.each([
    {
      name: "a host off the allowlist",
      input: { url: "https://example.com/x" },
      want: { reason: "HostNotAllowed", message: "payload.url: example.com is not on the allowlist", retryable: false },
    },
    {
      name: "a redirect off the allowlist",
      path: "/redirect-out",
      want: {
        reason: "HostNotAllowed",
        message: "a redirect to 169.254.169.254 is not on the allowlist",
        retryable: false,
      },
    },
    {
      name: "another scheme",
      input: { url: "ftp://127.0.0.1/x" },
      want: {
        reason: "InvalidInput",
        message: "payload.url: only http and https are allowed, not ftp:",
        retryable: false,
      },
    },
    {
      name: "not a URL",
      input: { url: "not a url" },
      want: { reason: "InvalidInput", message: "payload.url: not a url is not a URL", retryable: false },
    },
    {
      name: "a response over the cap",
      path: "/huge",
      want: { reason: "ResponseTooLarge", message: "the response is larger than 1000 bytes", retryable: false },
    },
    {
      name: "no response in time",
      path: "/slow",
      want: { reason: "Timeout", message: "no response within 200 ms", retryable: true },
    },
    {
      name: "no response within the call's own shorter timeout",
      input: { url: "/slow", timeoutMs: 100 },
      want: { reason: "Timeout", message: "no response within 100 ms", retryable: true },
    },
    {
      name: "a body that takes too long",
      path: "/slow-body",
      want: { reason: "Timeout", message: "the response took longer than 200 ms", retryable: true },
    },
  ])("refuses $name, saying so", async ({ input, path, want }) => {
    const url = input?.url.startsWith("/") ? `${base()}${input.url}` : (input?.url ?? `${base()}${path}`);
    expect(await failure("http_get", { ...input, url })).toEqual(want);
  });

  test("a refused connection is retryable; the caller's own abort is passed on as it is", async () => {
    const refused = await failure("http_get", { url: "http://127.0.0.1:1/" });
    expect(refused).toMatchObject({ reason: "ConnectionFailed", retryable: true });
    expect(refused.message).toStartWith("127.0.0.1:1: ");
    const ac = new AbortController();
    const pending = call("http_get", { url: `${base()}/slow` }, { signal: ac.signal });
    const gaveUp = new Error("the caller gave up");
    setTimeout(() => ac.abort(gaveUp), 50);
    await expect(pending).rejects.toBe(gaveUp); // the reason itself, not a ConnectionFailed naming it
    const before = new AbortController();
    const early = new Error("gave up before");
    before.abort(early);
    await expect(call("http_get", { url: "http://127.0.0.1:1/" }, { signal: before.signal })).rejects.toBe(early);
  });
});
