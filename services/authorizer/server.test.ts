// The webhook's HTTP side without a cluster: answers, malformed requests, the
// probes and metrics in-process; HTTPS and the process's start and SIGTERM on
// loopback with a certificate from a throwaway CA.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../lib/control-plane/local.ts";
import { LocalPki } from "../../lib/control-plane/pki.ts";
import { silentLogger } from "../../lib/log.ts";
import { AuthorizerMetrics } from "./metrics.ts";
import { authorizerApp, maxBodyBytes, serveAuthorizer } from "./server.ts";

const review = (fieldSelector?: unknown) => ({
  apiVersion: "authorization.k8s.io/v1",
  kind: "SubjectAccessReview",
  spec: {
    user: "system:serviceaccount:mcp-dp:mcp-agent",
    extra: { "authentication.kubernetes.io/pod-name": ["agent-a"] },
    resourceAttributes: { namespace: "mcp-dp", verb: "watch", group: "mcp.io", resource: "tasks", fieldSelector },
  },
});
const own = { requirements: [{ key: "status.assignedAgent", operator: "In", values: ["agent-a"] }] };

const post = (app: ReturnType<typeof authorizerApp>, body: string) =>
  app.request("http://authorizer/authorize", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });

describe("/authorize", () => {
  test("answers a review with allowed and the reason, or no opinion (never denied)", async () => {
    const metrics = new AuthorizerMetrics();
    const app = authorizerApp({ log: silentLogger, metrics });
    const yes = await post(app, JSON.stringify(review(own)));
    expect(yes.status).toBe(200);
    expect(await yes.json()).toEqual({
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      status: { allowed: true, reason: "agent agent-a may watch the tasks assigned to it" },
    });
    const none = await post(app, JSON.stringify(review()));
    expect(none.status).toBe(200);
    // allowed false without denied: no opinion; the webhook is the last authorizer, so the apiserver refuses.
    expect(((await none.json()) as { status: unknown }).status).toEqual({
      allowed: false,
      reason:
        "agents may list/watch tasks only with fieldSelector status.assignedAgent=agent-a or labelSelector mcp.io/bound-agent=agent-a",
    });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^mcp_authorizer_reviews_total\{decision="allowed"\} 1$/m);
    expect(text).toMatch(/^mcp_authorizer_reviews_total\{decision="no_opinion"\} 1$/m);
    expect(text).toMatch(/^mcp_authorizer_review_duration_seconds_count 2$/m);
  });

  test.each([
    { name: "not JSON", body: "{", status: 400, says: "malformed SubjectAccessReview: the body is not JSON" },
    { name: "empty", body: "", status: 400, says: "the body is not JSON" },
    { name: "a JSON string", body: '"x"', status: 400, says: "the body must be a JSON object" },
    {
      name: "a review of v1beta1",
      body: JSON.stringify({ ...review(own), apiVersion: "authorization.k8s.io/v1beta1" }),
      status: 400,
      says: "expected apiVersion authorization.k8s.io/v1",
    },
    {
      name: "a selector of the wrong shape",
      body: JSON.stringify(review({ requirements: "status.assignedAgent=agent-a" })),
      status: 400,
      says: "fieldSelector.requirements must be a list",
    },
    {
      name: "too large",
      body: JSON.stringify({ ...review(own), padding: "x".repeat(maxBodyBytes) }),
      status: 413,
      says: `larger than ${maxBodyBytes} bytes`,
    },
  ])("refuses a body $name with $status and says why", async ({ body, status, says }) => {
    const metrics = new AuthorizerMetrics();
    const res = await post(authorizerApp({ log: silentLogger, metrics }), body);
    expect(res.status).toBe(status);
    expect(await res.text()).toContain(says);
    expect(await metrics.registry.metrics()).toMatch(/^mcp_authorizer_reviews_total\{decision="malformed"\} 1$/m);
  });

  test("only POST /authorize; the probes answer ok", async () => {
    const app = authorizerApp({ log: silentLogger });
    expect((await app.request("http://authorizer/authorize")).status).toBe(404);
    expect((await app.request("http://authorizer/", { method: "POST", body: "{}" })).status).toBe(404);
    for (const probe of ["/healthz", "/livez", "/readyz"])
      expect(await (await app.request(`http://authorizer${probe}`)).text()).toBe("ok");
  });
});

describe("over HTTPS", () => {
  const dir = mkdtempSync(join(tmpdir(), "authorizer-test-"));
  const pki = LocalPki.create(dir);
  const serving = pki.servingCert("authorizer", ["127.0.0.1"], ["mcp-authorizer.mcp-conductor-system.svc"]);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const call = (port: number, body: unknown) =>
    fetch(`https://127.0.0.1:${port}/authorize`, {
      method: "POST",
      body: JSON.stringify(body),
      tls: { ca: pki.ca.cert },
    } as RequestInit);

  test("serves reviews with the given certificate, verified against its CA", async () => {
    const srv = serveAuthorizer({
      port: 0,
      hostname: "127.0.0.1",
      tls: { cert: serving.cert, key: serving.key },
      log: silentLogger,
    });
    try {
      const res = await call(srv.port, review(own));
      expect(((await res.json()) as { status: { allowed: boolean } }).status.allowed).toBe(true);
      // A client that does not trust the CA does not get through.
      const untrusted = await fetch(`https://127.0.0.1:${srv.port}/healthz`).then(
        () => "connected",
        (e: Error) => e.message,
      );
      expect(untrusted).not.toBe("connected");
    } finally {
      await srv.stop();
    }
  });

  test("the process starts from its flags, serves, and exits 0 on SIGTERM", async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const proc = Bun.spawn(
      [
        process.execPath,
        join(import.meta.dir, "main.ts"),
        `--port=${port}`,
        `--metrics-port=${metricsPort}`,
        "--host=127.0.0.1",
        `--tls-cert-file=${serving.certPath}`,
        `--tls-key-file=${serving.keyPath}`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    try {
      let res: Response | undefined;
      for (let i = 0; i < 100 && !res; i++) {
        res = await call(port, review(own)).catch(() => undefined);
        if (!res) await Bun.sleep(50);
      }
      expect(res?.status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^mcp_authorizer_reviews_total\{decision="allowed"\} 1$/m);
      expect(await (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).text()).toBe("ok");
    } finally {
      proc.kill("SIGTERM");
    }
    expect(await proc.exited).toBe(0);
    expect(await new Response(proc.stdout).text()).toContain('"msg":"Shutting down"');
  });

  test("the process exits 2 naming a missing setting, 1 when the certificate cannot be read", async () => {
    const run = async (args: string[]) => {
      const p = Bun.spawn([process.execPath, join(import.meta.dir, "main.ts"), ...args], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      return { code, text: out + err };
    };
    const missing = await run(["--port=0"]);
    expect(missing.code).toBe(2);
    expect(missing.text).toContain("authorizer: tlsCertFile (--tls-cert-file/AUTHORIZER_TLS_CERT_FILE): is required");
    const unreadable = await run([
      "--port=0",
      "--tls-cert-file=/nonexistent/tls.crt",
      "--tls-key-file=/nonexistent/tls.key",
    ]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.text).toContain("Could not read the serving certificate");
  });
});
