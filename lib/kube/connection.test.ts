// KubeConnection against a scripted HTTP server (a unit test: no apiserver).
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    // The first token an exec plugin mints has been revoked.
    if (url.pathname === "/revoked" && req.headers.get("authorization") === "Bearer tok-1") {
      return Response.json(
        { kind: "Status", code: 401, reason: "Unauthorized", message: "Unauthorized" },
        { status: 401 },
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

describe("KubeConnection with an exec credential plugin", () => {
  test("a 401 makes the next request run the plugin again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "exec-plugin-"));
    writeFileSync(
      join(dir, "plugin.sh"),
      `#!/bin/sh
n=$(( $(cat "${dir}/count" 2>/dev/null || echo 0) + 1 ))
echo $n > "${dir}/count"
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-'$n'"}}'
`,
    );
    chmodSync(join(dir, "plugin.sh"), 0o755);
    const exec = KubeConnection.fromOptions({
      kubeconfigYaml: `clusters: [{name: c, cluster: {server: "http://127.0.0.1:${server.port}"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ${join(dir, "plugin.sh")}, interactiveMode: Never}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
    });
    const err = await exec.request("GET", "/revoked").catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 401 });
    expect(await exec.request("GET", "/revoked")).toEqual({ ok: true, auth: "Bearer tok-2" });
    expect(await exec.request("GET", "/revoked")).toEqual({ ok: true, auth: "Bearer tok-2" });
  });
});
