/**
 * What authentication and tool authorization add to a call, measured in one
 * run against the same gateway without them (open, every tool allowed): a
 * static token, a service-account token checked by TokenReview or by the
 * apiserver's JWKS, each with the RBAC check of the tool (a
 * LocalSubjectAccessReview), cached (the same caller again) and cold (a new
 * token and no cached decision for every call). Each request is a 2026-07-28
 * tools/list (no Task: the gateway's own cost) and a tools/call of an echo
 * tool (a Task end to end), sent one at a time, the cases interleaved so that
 * the machine's drift hits them alike. Prints figures, then one JSON line of
 * them; asserts nothing.
 *   N=200 bun bench/gateway-auth.ts
 */
import type { GatewayOptions } from "../services/gateway/gateway.ts";
import { request2026 } from "../test/harness/mcp-2026.ts";
import { type BenchGateway, echoTool, benchLog as log, serveBenchGateway, startBenchConductor } from "./harness.ts";
import { type Figures, fmt, printFigures, summarize, table } from "./stats.ts";

const N = Number(process.env.N ?? 200);
const ns = "bench-auth";
const resource = "http://mcp-gateway.bench-auth.svc:8080/mcp";

const conductor = await startBenchConductor({ ns, tools: [echoTool] });
const conn = conductor.conn;

// The caller and its grants: the shipped operator Role, bound to the service account and to static tokens.
await conn.request("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name: "caller" } } });
await conn.request("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
  body: {
    metadata: { name: "mcp-tool-operator" },
    rules: [{ apiGroups: ["mcp.io"], resources: ["tools"], verbs: ["call"] }],
  },
});
await conn.request("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
  body: {
    metadata: { name: "callers" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "mcp-tool-operator" },
    subjects: [
      { kind: "ServiceAccount", name: "caller", namespace: ns },
      { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "mcp.io:static-tokens" },
    ],
  },
});
const saToken = async () =>
  (
    await conn.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${ns}/serviceaccounts/caller/token`, {
      body: { spec: { audiences: [resource], expirationSeconds: 3600 } },
    })
  ).status.token;

const serve = (opts: Partial<GatewayOptions>) => serveBenchGateway(conn, ns, opts);

log("gateways");
const open = await serve({ security: { allowUnauthenticated: true } });
const staticRbac = await serve({ security: { tokens: new Map([["ops", "ops-token"]]) }, authorization: "rbac" });
const reviewRbac = await serve({ security: { kubernetesTokens: "tokenreview", resource }, authorization: "rbac" });
const jwksRbac = await serve({ security: { kubernetesTokens: "jwks", resource }, authorization: "rbac" });

log(`${4 * N + 5} service-account tokens`);
const warmToken = await saToken();
const coldTokens = { review: [] as string[], jwks: [] as string[] };
for (let i = 0; i < 2 * N + 2; i++) {
  coldTokens.review.push(await saToken());
  coldTokens.jwks.push(await saToken());
}

interface Case {
  name: string;
  /** Its name in the JSON line. */
  key: string;
  url: string;
  /** The token of the next call; undefined for none. */
  token: () => string | undefined;
  /** Run before each call (a cold case forgets its decisions). */
  before?: () => void;
  list: number[];
  call: number[];
}
const cases: Case[] = [
  { name: "open, no tool check (baseline)", key: "open", url: open.url, token: () => undefined },
  { name: "static token + RBAC, cached", key: "static_rbac_cached", url: staticRbac.url, token: () => "ops-token" },
  {
    name: "SA token (TokenReview) + RBAC, cached",
    key: "tokenreview_rbac_cached",
    url: reviewRbac.url,
    token: () => warmToken,
  },
  { name: "SA token (JWKS) + RBAC, cached", key: "jwks_rbac_cached", url: jwksRbac.url, token: () => warmToken },
  {
    name: "SA token (TokenReview) + RBAC, cold",
    key: "tokenreview_rbac_cold",
    url: reviewRbac.url,
    token: () => coldTokens.review.pop(),
    before: () => reviewRbac.gateway.toolAccess?.clear(),
  },
  {
    name: "SA token (JWKS) + RBAC, cold",
    key: "jwks_rbac_cold",
    url: jwksRbac.url,
    token: () => coldTokens.jwks.pop(),
    before: () => jwksRbac.gateway.toolAccess?.clear(),
  },
].map((c) => ({ ...c, list: [], call: [] }));

async function timed(c: Case, method: string, params: Record<string, unknown>): Promise<number> {
  c.before?.();
  const token = c.token();
  const t0 = performance.now();
  const res = await fetch(c.url, request2026(method, params, { token }));
  const body = (await res.json()) as { error?: { message: string } };
  const ms = performance.now() - t0;
  if (body.error) throw new Error(`${c.name}: ${method}: ${body.error.message}`);
  return ms;
}

log("warm-up");
for (const c of cases.slice(0, 4)) {
  await timed(c, "tools/list", {});
  await timed(c, "tools/call", { name: "echo", arguments: { message: "warm-up" } });
}
log(`${N} rounds`);
for (let i = 0; i < N; i++) {
  // The order turns each round, so that no case always follows another.
  for (let k = 0; k < cases.length; k++) {
    const c = cases[(i + k) % cases.length] as Case;
    // tools/list and tools/call are each one request: a cold case's call gets a token of its own.
    c.list.push(await timed(c, "tools/list", {}));
    c.call.push(await timed(c, "tools/call", { name: "echo", arguments: { message: `m${i}` } }));
  }
}

const base = cases[0] as Case;
const b = { list: summarize(base.list), call: summarize(base.call) };
const rows: (string | number)[][] = [
  ["case", "list p50", "list p99", "+list p50", "call p50", "call p99", "+call p50", "call p50 / baseline"],
];
const figures: Figures = { n: N };
for (const c of cases) {
  const l = summarize(c.list);
  const k = summarize(c.call);
  rows.push([
    c.name,
    fmt(l.p50, 2),
    fmt(l.p99, 2),
    fmt(l.p50 - b.list.p50, 2),
    fmt(k.p50, 2),
    fmt(k.p99, 2),
    fmt(k.p50 - b.call.p50, 2),
    `${fmt(k.p50 / b.call.p50, 2)}x`,
  ]);
  figures[c.key] = {
    list_p50_ms: l.p50,
    list_p99_ms: l.p99,
    call_p50_ms: k.p50,
    call_p99_ms: k.p99,
    list_p50_vs_open: l.p50 / b.list.p50,
    call_p50_vs_open: k.p50 / b.call.p50,
  };
}
console.log(`\nms per request, ${N} each, one at a time (tools/list: no Task; tools/call: a Task end to end)\n`);
console.log(table(rows));
const reviews = (g: BenchGateway) => g.gateway.toolAccess?.reviews ?? 0;
console.log(
  `\nSubjectAccessReviews sent: static ${reviews(staticRbac)}, TokenReview gateway ${reviews(reviewRbac)}, JWKS gateway ${reviews(jwksRbac)}`,
);
figures.subject_access_reviews = {
  static: reviews(staticRbac),
  tokenreview: reviews(reviewRbac),
  jwks: reviews(jwksRbac),
};
printFigures("gateway-auth", figures);

for (const g of [open, staticRbac, reviewRbac, jwksRbac]) await g.stop();
await conductor.stop();
process.exit(0);
