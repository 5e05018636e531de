// KubeConnection against a scripted HTTP server (a unit test: no apiserver).
import { afterAll, describe, expect, test } from "bun:test";
import { KubeConnection } from "./connection.ts";
import { KubeApiError } from "./errors.ts";

let calls = 0;
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    calls++;
    if (url.pathname === "/throttled-twice" && calls <= 2) {
      return Response.json(
        { kind: "Status", code: 429, reason: "TooManyRequests", message: "storage is (re)initializing" },
        {
          status: 429,
          headers: { "Retry-After": "1" },
        },
      );
    }
    if (url.pathname === "/missing") {
      return Response.json(
        { kind: "Status", code: 404, reason: "NotFound", message: 'tasks.mcp.io "x" not found' },
        { status: 404 },
      );
    }
    return Response.json({ ok: true, auth: req.headers.get("authorization") });
  },
});
afterAll(() => server.stop(true));

const conn = KubeConnection.fromOptions({
  kubeconfigYaml: `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${server.port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: secret-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
});

describe("KubeConnection.request", () => {
  test("sends the kubeconfig's bearer token", async () => {
    expect(await conn.request<{ ok: boolean; auth: string }>("GET", "/anything")).toEqual({
      ok: true,
      auth: "Bearer secret-token",
    });
  });

  test("sends a throttled (429) request again after Retry-After", async () => {
    calls = 0;
    const start = Date.now();
    expect(await conn.request("GET", "/throttled-twice")).toMatchObject({ ok: true });
    expect(calls).toBe(3);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1900);
  });

  test("throws the apiserver's Status as a KubeApiError", async () => {
    const err = await conn.request("GET", "/missing").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ statusCode: 404, reason: "NotFound", message: 'tasks.mcp.io "x" not found' });
  });
});
