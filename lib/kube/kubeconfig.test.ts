// The kubeconfig loader: where it looks, how files merge, what it reads, and
// the credentials it hands out (token files re-read, exec plugins run and
// cached), against temporary files and a small exec plugin script.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  KubeCredentials,
  type Kubeconfig,
  KubeconfigError,
  type LoadKubeconfigOptions,
  loadKubeconfig,
  tokenFileRefreshMs,
} from "./kubeconfig.ts";

const root = mkdtempSync(join(tmpdir(), "kubeconfig-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
/** A fresh folder with these files in it. */
function folder(files: Record<string, string> = {}): string {
  const dir = join(root, String(++dirs));
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A kubeconfig with one context `ctx` of cluster `cluster` and user `user`, or the given parts. */
function kubeconfig(
  o: { cluster?: string; user?: string; current?: string; name?: string; namespace?: string } = {},
): string {
  const name = o.name ?? "ctx";
  return `apiVersion: v1
kind: Config
clusters:
- name: ${name}-cluster
  cluster:
${indent(o.cluster ?? "server: https://127.0.0.1:6443", 4)}
users:
- name: ${name}-user
  user:
${indent(o.user ?? "token: t", 4)}
contexts:
- name: ${name}
  context: {cluster: ${name}-cluster, user: ${name}-user${o.namespace ? `, namespace: ${o.namespace}` : ""}}
${o.current === "" ? "" : `current-context: ${o.current ?? name}`}
`;
}
const indent = (text: string, n: number) =>
  text
    .split("\n")
    .map((l) => " ".repeat(n) + l)
    .join("\n");

/** The environment of a machine with none of the usual places: no $KUBECONFIG, not a pod. */
const nowhere = (o: Partial<LoadKubeconfigOptions> = {}): LoadKubeconfigOptions => ({
  env: {},
  home: folder(),
  serviceAccountDir: join(root, "no-such-mount"),
  ...o,
});

/** A pod's service-account mount. */
function serviceAccount(token = "sa-token", namespace = "pod-ns"): string {
  return folder({ token, "ca.crt": "CA PEM", namespace: `${namespace}\n` });
}
const podEnv = { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" };

describe("where the kubeconfig comes from", () => {
  test("the search order: yaml, path, $KUBECONFIG, ~/.kube/config, in-cluster", () => {
    const home = folder({ ".kube/config": kubeconfig({ name: "home" }) });
    const env1 = folder({ config: kubeconfig({ name: "env1" }) });
    const file = join(folder({ k: kubeconfig({ name: "file" }) }), "k");
    const sa = serviceAccount();
    const cases: { name: string; given: LoadKubeconfigOptions; want: string }[] = [
      { name: "yaml first", given: { yaml: kubeconfig({ name: "yaml" }), path: file }, want: "yaml" },
      {
        name: "path over $KUBECONFIG",
        given: { path: file, env: { KUBECONFIG: join(env1, "config") }, home },
        want: "file",
      },
      { name: "$KUBECONFIG over home", given: { env: { KUBECONFIG: join(env1, "config") }, home }, want: "env1" },
      { name: "home over in-cluster", given: { env: podEnv, home, serviceAccountDir: sa }, want: "home" },
      { name: "in-cluster last", given: nowhere({ env: podEnv, serviceAccountDir: sa }), want: "in-cluster" },
      {
        name: "$KUBECONFIG naming only missing files: in-cluster, not home",
        given: { env: { ...podEnv, KUBECONFIG: join(root, "missing") }, home, serviceAccountDir: sa },
        want: "in-cluster",
      },
    ];
    for (const c of cases) expect([c.name, loadKubeconfig(c.given).context]).toEqual([c.name, c.want]);
  });

  test("$KUBECONFIG's files merge first-wins per name; current-context from the first file that sets it", () => {
    const a = join(
      folder({
        a: `clusters:
- name: shared
  cluster: {server: "https://a.example:6443"}
users:
- name: shared
  user: {token: from-a}
contexts:
- name: only-a
  context: {cluster: shared, user: shared, namespace: a-ns}
`,
      }),
      "a",
    );
    const b = join(
      folder({
        b: `clusters:
- name: shared
  cluster: {server: "https://b.example:6443"}
- name: b-only
  cluster: {server: "https://b-only.example"}
users:
- name: shared
  user: {token: from-b}
contexts:
- name: only-b
  context: {cluster: b-only, user: shared}
current-context: only-b
`,
      }),
      "b",
    );
    const c = join(folder({ c: kubeconfig({ name: "c", current: "c" }) }), "c");
    const missing = join(root, "missing-kubeconfig");
    const cases: { name: string; list: string[]; context?: string; want: Partial<Kubeconfig> }[] = [
      {
        name: "a then b: b's current-context, b's cluster, a's user",
        list: [a, missing, b, c],
        want: { context: "only-b", cluster: { server: "https://b-only.example", insecureSkipTlsVerify: false } },
      },
      {
        name: "a's context: a's cluster wins over b's of the same name",
        list: [a, b],
        context: "only-a",
        want: {
          context: "only-a",
          namespace: "a-ns",
          cluster: { server: "https://a.example:6443", insecureSkipTlsVerify: false },
        },
      },
      {
        name: "c before b: c's current-context",
        list: [c, b],
        want: { context: "c" },
      },
    ];
    for (const x of cases) {
      const got = loadKubeconfig(nowhere({ env: { KUBECONFIG: x.list.join(":") }, context: x.context }));
      expect([x.name, got]).toMatchObject([x.name, x.want]);
      if (x.list[0] === a) expect(got.user.token).toBe("from-a");
    }
  });

  test("in-cluster: the service host and port, the mounted token, CA and namespace", () => {
    const sa = serviceAccount("the-token", "team-a");
    const got = loadKubeconfig(nowhere({ env: podEnv, serviceAccountDir: sa }));
    expect(got).toMatchObject({
      source: "in-cluster",
      namespace: "team-a",
      cluster: { server: "https://10.0.0.1:443", certificateAuthority: { file: join(sa, "ca.crt") } },
      user: { tokenFile: { file: join(sa, "token") } },
    });
    const v6 = loadKubeconfig(
      nowhere({ env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, serviceAccountDir: sa }),
    );
    expect(v6.cluster.server).toBe("https://[fd00::1]:443");
    // Without the token mounted, it is not a pod.
    expect(() => loadKubeconfig(nowhere({ env: podEnv, serviceAccountDir: folder({ "ca.crt": "x" }) }))).toThrow(
      /no kubeconfig/,
    );
  });

  test("relative paths are relative to the file that names them", () => {
    const dir = folder({
      config: kubeconfig({
        cluster: "server: https://x\ncertificate-authority: certs/ca.pem",
        user: "client-certificate: certs/me.crt\nclient-key: /abs/me.key\ntokenFile: ../token",
      }),
    });
    const got = loadKubeconfig({ path: join(dir, "config") });
    expect(got.cluster.certificateAuthority).toMatchObject({ file: join(dir, "certs/ca.pem") });
    expect(got.user.clientCertificate).toMatchObject({ file: join(dir, "certs/me.crt") });
    expect(got.user.clientKey).toMatchObject({ file: "/abs/me.key" });
    expect(got.user.tokenFile).toMatchObject({ file: join(dir, "..", "token") });
  });

  test("a named context instead of current-context", () => {
    const text = `${kubeconfig({ name: "one" })}`.replace(
      "contexts:\n",
      "contexts:\n- name: two\n  context: {cluster: one-cluster, namespace: other}\n",
    );
    expect(loadKubeconfig({ yaml: text }).context).toBe("one");
    const two = loadKubeconfig({ yaml: text, context: "two" });
    expect(two).toMatchObject({ context: "two", namespace: "other", user: {} });
    expect(two.user).toEqual({}); // no user: anonymous
  });
});

describe("bad kubeconfigs fail naming the file and field", () => {
  const cases: { name: string; yaml: string; field?: string; want: RegExp }[] = [
    { name: "not YAML", yaml: "clusters: [", want: /is not YAML/ },
    { name: "not a mapping", yaml: "- a\n- b", want: /is not a mapping/ },
    { name: "clusters not a list", yaml: "clusters: {a: 1}", field: "clusters", want: /is not a list/ },
    { name: "a nameless user", yaml: "users:\n- user: {token: x}", field: "users[0].name", want: /is missing/ },
    {
      name: "a name twice",
      yaml: "clusters:\n- name: a\n  cluster: {server: https://x}\n- name: a\n  cluster: {server: https://y}",
      field: "clusters[1].name",
      want: /defined twice/,
    },
    { name: "no current-context", yaml: kubeconfig({ current: "" }), field: "current-context", want: /is not set/ },
    {
      name: "an unknown current-context",
      yaml: kubeconfig({ current: "nope" }),
      field: "current-context",
      want: /context "nope" is not defined/,
    },
    {
      name: "a context naming no cluster",
      yaml: kubeconfig().replace("cluster: ctx-cluster", "cluster: gone"),
      field: "contexts[0].context.cluster",
      want: /cluster "gone" is not defined/,
    },
    {
      name: "a context naming no user",
      yaml: kubeconfig().replace("user: ctx-user", "user: gone"),
      field: "contexts[0].context.user",
      want: /user "gone" is not defined/,
    },
    {
      name: "no server",
      yaml: kubeconfig({ cluster: "insecure-skip-tls-verify: true" }),
      field: "clusters[0].cluster.server",
      want: /is missing/,
    },
    {
      name: "a server that is no URL",
      yaml: kubeconfig({ cluster: "server: 'https://a b'" }),
      field: "clusters[0].cluster.server",
      want: /is not a URL/,
    },
    {
      name: "a server that is not http(s)",
      yaml: kubeconfig({ cluster: "server: 'unix:///run/kube.sock'" }),
      field: "clusters[0].cluster.server",
      want: /is not an http\(s\) URL/,
    },
    {
      name: "CA data and file",
      yaml: kubeconfig({
        cluster: `server: https://x\ncertificate-authority: ca.pem\ncertificate-authority-data: ${b64("x")}`,
      }),
      field: "clusters[0].cluster.certificate-authority-data",
      want: /both set/,
    },
    {
      name: "CA data that is not base64",
      yaml: kubeconfig({ cluster: "server: https://x\ncertificate-authority-data: '-----BEGIN'" }),
      field: "clusters[0].cluster.certificate-authority-data",
      want: /is not base64/,
    },
    {
      name: "insecure with a CA",
      yaml: kubeconfig({ cluster: `server: https://x\ninsecure-skip-tls-verify: true\ncertificate-authority: ca` }),
      field: "clusters[0].cluster.insecure-skip-tls-verify",
      want: /one or the other/,
    },
    {
      name: "insecure not a boolean",
      yaml: kubeconfig({ cluster: `server: https://x\ninsecure-skip-tls-verify: "yes"` }),
      field: "clusters[0].cluster.insecure-skip-tls-verify",
      want: /true or false/,
    },
    {
      name: "a certificate without its key",
      yaml: kubeconfig({ user: `client-certificate-data: ${b64("c")}` }),
      field: "users[0].user.client-key",
      want: /is missing/,
    },
    {
      name: "a token and basic auth",
      yaml: kubeconfig({ user: "token: t\nusername: u\npassword: p" }),
      field: "users[0].user.username",
      want: /only one authentication method/,
    },
    {
      name: "an auth-provider",
      yaml: kubeconfig({ user: "auth-provider: {name: oidc}" }),
      field: "users[0].user.auth-provider",
      want: /exec credential plugin/,
    },
    {
      name: "exec without a command",
      yaml: kubeconfig({ user: "exec: {apiVersion: client.authentication.k8s.io/v1}" }),
      field: "users[0].user.exec.command",
      want: /is missing/,
    },
    {
      name: "exec of an old API",
      yaml: kubeconfig({ user: "exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}" }),
      field: "users[0].user.exec.apiVersion",
      want: /not supported/,
    },
    {
      name: "exec env without a value",
      yaml: kubeconfig({
        user: "exec: {command: x, apiVersion: client.authentication.k8s.io/v1, env: [{name: A}]}",
      }),
      field: "users[0].user.exec.env[0]",
      want: /needs a name and a string value/,
    },
    {
      name: "exec with an unknown interactiveMode",
      yaml: kubeconfig({
        user: "exec: {command: x, apiVersion: client.authentication.k8s.io/v1, interactiveMode: Sometimes}",
      }),
      field: "users[0].user.exec.interactiveMode",
      want: /is not one of/,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const path = join(folder({ config: c.yaml }), "config");
      let err: unknown;
      try {
        loadKubeconfig({ path });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KubeconfigError);
      expect(err).toMatchObject({ source: path, field: c.field });
      expect((err as Error).message).toMatch(c.want);
      expect((err as Error).message).toStartWith(path);
    });
  }

  test("a missing --kubeconfig file is named; a missing CA file fails when the credentials are made", () => {
    const missing = join(root, "nope", "config");
    expect(() => loadKubeconfig({ path: missing })).toThrow(new RegExp(`^${missing}: cannot be read`));
    const path = join(
      folder({ config: kubeconfig({ cluster: "server: https://x\ncertificate-authority: ca.pem" }) }),
      "config",
    );
    const config = loadKubeconfig({ path });
    expect(() => new KubeCredentials(config)).toThrow(
      new RegExp(`^${path}: clusters\\[0\\]\\.cluster\\.certificate-authority: cannot read .*ca\\.pem`),
    );
  });
});

describe("credentials", () => {
  test("TLS material from data or files, the same object each time; none over http", async () => {
    const dir = folder({ "ca.pem": "CA FILE", "me.crt": "CERT FILE", "me.key": "KEY FILE" });
    const cases: { name: string; cluster: string; user: string; want: Record<string, unknown> | undefined }[] = [
      {
        name: "data",
        cluster: `server: https://x\ncertificate-authority-data: ${b64("CA DATA")}\ntls-server-name: api.internal`,
        user: `client-certificate-data: ${b64("CERT DATA")}\nclient-key-data: ${b64("KEY DATA")}`,
        want: { ca: "CA DATA", cert: "CERT DATA", key: "KEY DATA", serverName: "api.internal" },
      },
      {
        name: "files",
        cluster: "server: https://x\ncertificate-authority: ca.pem",
        user: "client-certificate: me.crt\nclient-key: me.key",
        want: { ca: "CA FILE", cert: "CERT FILE", key: "KEY FILE" },
      },
      { name: "insecure", cluster: "server: https://x\ninsecure-skip-tls-verify: true", user: "token: t", want: {} },
      {
        name: "http",
        cluster: "server: http://x",
        user: `client-certificate: me.crt\nclient-key: me.key`,
        want: undefined,
      },
    ];
    for (const c of cases) {
      writeFileSync(join(dir, "config"), kubeconfig({ cluster: c.cluster, user: c.user }));
      const creds = new KubeCredentials(loadKubeconfig({ path: join(dir, "config") }));
      const tls = await creds.tls();
      const text =
        tls && Object.fromEntries(Object.entries(tls).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString() : v]));
      if (c.name === "insecure") expect(tls?.rejectUnauthorized).toBe(false);
      else expect([c.name, text]).toEqual([c.name, c.want]);
      expect(await creds.tls()).toBe(tls);
    }
  });

  test("headers: bearer token, basic auth, impersonation", async () => {
    const cases: { name: string; user: string; want: Record<string, string> }[] = [
      { name: "token", user: "token: abc", want: { Authorization: "Bearer abc" } },
      { name: "basic", user: "username: u\npassword: p", want: { Authorization: `Basic ${b64("u:p")}` } },
      {
        name: "impersonation",
        user: "token: abc\nas: alice\nas-uid: '42'",
        want: { Authorization: "Bearer abc", "Impersonate-User": "alice", "Impersonate-Uid": "42" },
      },
      { name: "anonymous", user: "{}", want: {} },
    ];
    for (const c of cases) {
      const creds = new KubeCredentials(loadKubeconfig({ yaml: kubeconfig({ user: c.user }) }));
      expect([c.name, await creds.authHeaders()]).toEqual([c.name, c.want]);
    }
  });

  test("a token file is re-read at most once a minute, and a token being rotated keeps the last one", async () => {
    const dir = folder({ token: "one\n" });
    let now = 1_000_000;
    const creds = new KubeCredentials(
      loadKubeconfig({ path: join(dir, "config"), yaml: kubeconfig({ user: `tokenFile: ${join(dir, "token")}` }) }),
      { now: () => now },
    );
    const bearer = async () => (await creds.authHeaders()).Authorization;
    expect(await bearer()).toBe("Bearer one");
    writeFileSync(join(dir, "token"), "two");
    now += tokenFileRefreshMs - 1;
    expect(await bearer()).toBe("Bearer one");
    now += 1;
    expect(await bearer()).toBe("Bearer two");
    rmSync(join(dir, "token"));
    now += tokenFileRefreshMs;
    expect(await bearer()).toBe("Bearer two");
    writeFileSync(join(dir, "token"), "three");
    now += tokenFileRefreshMs;
    expect(await bearer()).toBe("Bearer three");
    // A token file that is not there at start is an error then.
    expect(
      () => new KubeCredentials(loadKubeconfig({ yaml: kubeconfig({ user: `tokenFile: ${join(dir, "none")}` }) })),
    ).toThrow(/users\[0\]\.user\.tokenFile: cannot read the token file/);
  });

  test("in-cluster: the mounted token and CA", async () => {
    const creds = new KubeCredentials(
      loadKubeconfig(nowhere({ env: podEnv, serviceAccountDir: serviceAccount("sa") })),
    );
    expect(await creds.authHeaders()).toEqual({ Authorization: "Bearer sa" });
    expect(String((await creds.tls())?.ca)).toBe("CA PEM");
  });
});

describe("exec credential plugins", () => {
  // Counts its runs, keeps its args and KUBERNETES_EXEC_INFO, and prints the file `out` with COUNT replaced.
  const plugin = `#!/bin/sh
n=$(( $(cat "$DIR/count" 2>/dev/null || echo 0) + 1 ))
echo $n > "$DIR/count"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$DIR/info"
printf '%s\\n' "$@" > "$DIR/args"
if [ -n "$FAIL" ]; then echo "$FAIL" >&2; exit 3; fi
sed "s/COUNT/$n/g" "$DIR/out"
`;
  const v1 = "client.authentication.k8s.io/v1";
  /** A kubeconfig file beside the plugin, whose exec runs it as ./plugin.sh (relative to the kubeconfig). */
  function setUp(o: { out: unknown; exec?: string; cluster?: string; env?: Record<string, string> }) {
    const dir = folder({ "plugin.sh": plugin, out: typeof o.out === "string" ? o.out : JSON.stringify(o.out) });
    chmodSync(join(dir, "plugin.sh"), 0o755);
    writeFileSync(
      join(dir, "config"),
      kubeconfig({
        cluster: o.cluster ?? "server: https://x",
        user: `exec:
  apiVersion: ${v1}
  command: ./plugin.sh
  args: [get-token, --cluster=one]
  env: ${JSON.stringify(Object.entries({ DIR: dir, ...o.env }).map(([name, value]) => ({ name, value })))}
${o.exec ?? "  interactiveMode: Never"}`,
      }),
    );
    let now = Date.parse("2030-01-01T00:00:00Z");
    const creds = new KubeCredentials(loadKubeconfig({ path: join(dir, "config") }), {
      now: () => now,
      terminal: false,
    });
    return {
      creds,
      dir,
      runs: () => Number(readFileSync(join(dir, "count"), "utf8")),
      info: () => JSON.parse(readFileSync(join(dir, "info"), "utf8")),
      args: () => readFileSync(join(dir, "args"), "utf8").trim().split("\n"),
      advance: (ms: number) => {
        now += ms;
      },
    };
  }
  const credential = (status: Record<string, unknown>, apiVersion = v1) => ({
    apiVersion,
    kind: "ExecCredential",
    status,
  });

  test("runs the command with its args and env, and KUBERNETES_EXEC_INFO; keeps a credential without expiry", async () => {
    const p = setUp({ out: credential({ token: "tok-COUNT" }) });
    const got = await Promise.all([p.creds.authHeaders(), p.creds.authHeaders(), p.creds.authHeaders()]);
    expect(got.map((h) => h.Authorization)).toEqual(["Bearer tok-1", "Bearer tok-1", "Bearer tok-1"]);
    expect(p.runs()).toBe(1);
    expect(p.args()).toEqual(["get-token", "--cluster=one"]);
    expect(p.info()).toEqual({ apiVersion: v1, kind: "ExecCredential", spec: { interactive: false } });
    p.advance(365 * 86_400_000);
    expect((await p.creds.authHeaders()).Authorization).toBe("Bearer tok-1");
  });

  test("runs it again once the credential expires", async () => {
    const p = setUp({ out: credential({ token: "tok-COUNT", expirationTimestamp: "2030-01-01T00:10:00Z" }) });
    expect((await p.creds.authHeaders()).Authorization).toBe("Bearer tok-1");
    p.advance(10 * 60_000 - 1);
    expect((await p.creds.authHeaders()).Authorization).toBe("Bearer tok-1");
    p.advance(1);
    expect((await p.creds.authHeaders()).Authorization).toBe("Bearer tok-2");
    expect(p.runs()).toBe(2);
  });

  test("runs it again after a 401 to a request sent with the credential it has", async () => {
    const p = setUp({ out: credential({ token: "tok-COUNT" }) });
    expect((await p.creds.authHeaders()).Authorization).toBe("Bearer tok-1");
    p.creds.unauthorized(Date.parse("2029-12-31T23:59:59Z")); // sent before it was obtained: kept
    expect((await p.creds.authHeaders()).Authorization).toBe("Bearer tok-1");
    p.creds.unauthorized(Date.parse("2030-01-01T00:00:00Z"));
    expect((await p.creds.authHeaders()).Authorization).toBe("Bearer tok-2");
  });

  test("a client certificate from the plugin goes into TLS, a new object when it changes", async () => {
    const p = setUp({
      out: credential({
        clientCertificateData: "CERT-COUNT",
        clientKeyData: "KEY-COUNT",
        expirationTimestamp: "2030-01-01T01:00:00Z",
      }),
      cluster: `server: https://x\ncertificate-authority-data: ${b64("CA")}`,
    });
    const first = await p.creds.tls();
    expect(first).toMatchObject({ cert: "CERT-1", key: "KEY-1" });
    expect(String(first?.ca)).toBe("CA");
    expect(await p.creds.tls()).toBe(first as object);
    expect(await p.creds.authHeaders()).toEqual({});
    p.advance(3_600_000);
    expect(await p.creds.tls()).toMatchObject({ cert: "CERT-2", key: "KEY-2" });
  });

  test("provideClusterInfo: the cluster and its exec extension in KUBERNETES_EXEC_INFO", async () => {
    const p = setUp({
      out: credential({ token: "t" }),
      exec: "  provideClusterInfo: true",
      cluster: `server: https://x:6443
certificate-authority-data: ${b64("CA")}
tls-server-name: api
extensions:
- name: client.authentication.k8s.io/exec
  extension: {audience: conductor}`,
    });
    await p.creds.authHeaders();
    expect(p.info().spec).toEqual({
      interactive: false,
      cluster: {
        server: "https://x:6443",
        "tls-server-name": "api",
        "certificate-authority-data": b64("CA"),
        config: { audience: "conductor" },
      },
    });
  });

  const failures: { name: string; out: unknown; exec?: string; env?: Record<string, string>; want: RegExp }[] = [
    {
      name: "a non-zero exit, with its stderr",
      out: "",
      env: { FAIL: "no credentials" },
      want: /exited with code 3: no credentials/,
    },
    { name: "no JSON", out: "token please", want: /printed no JSON ExecCredential/ },
    { name: "another kind", out: { kind: "Pod", apiVersion: v1 }, want: /printed no ExecCredential/ },
    {
      name: "another apiVersion",
      out: credential({ token: "t" }, "client.authentication.k8s.io/v1beta1"),
      want: /printed apiVersion client.authentication.k8s.io\/v1beta1, but the kubeconfig asks for/,
    },
    { name: "no status", out: { kind: "ExecCredential", apiVersion: v1 }, want: /without status/ },
    { name: "nothing in status", out: credential({}), want: /neither status.token nor/ },
    { name: "a certificate without key", out: credential({ clientCertificateData: "c" }), want: /only one of/ },
    {
      name: "a bad expiry",
      out: credential({ token: "t", expirationTimestamp: "soon" }),
      want: /expirationTimestamp that is not a time/,
    },
    {
      name: "interactiveMode Always without a terminal",
      out: credential({ token: "t" }),
      exec: "  interactiveMode: Always",
      want: /needs a terminal/,
    },
  ];
  for (const f of failures) {
    test(`fails on ${f.name}, naming the kubeconfig and field`, async () => {
      const p = setUp({ out: f.out, exec: f.exec, env: f.env });
      const err = await p.creds.authHeaders().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeconfigError);
      expect(err).toMatchObject({ source: join(p.dir, "config"), field: "users[0].user.exec" });
      expect((err as Error).message).toMatch(f.want);
    });
  }

  test("a command that is not there, with the install hint", async () => {
    const yaml = kubeconfig({
      user: `exec: {apiVersion: ${v1}, command: no-such-plugin-here, installHint: "install it from the vendor"}`,
    });
    const err = await new KubeCredentials(loadKubeconfig({ yaml }), { terminal: false })
      .authHeaders()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeconfigError);
    expect((err as Error).message).toMatch(/no-such-plugin-here: cannot be run: .*\ninstall it from the vendor/s);
  });
});
