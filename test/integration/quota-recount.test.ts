// The domain's ResourceQuota on Tasks, left uncounted as Kubernetes leaves a
// quota made before it discovered tasks.mcp.io (every Task refused with
// "status unknown for quota"), and counted again by the controller's recount.
import { beforeAll, expect, test } from "bun:test";
import { silentLogger } from "../../lib/log.ts";
import { QuotaRecount, type ResourceQuota, uncountedTasksQuota } from "../../services/controller/quota-recount.ts";
import { type TestCluster, testCluster } from "../harness/cluster.ts";
import { eventually } from "../harness/eventually.ts";

let cluster: TestCluster;
let ns: string;

beforeAll(async () => {
  cluster = await testCluster();
  await cluster.ensureControllerManager();
  ns = await cluster.newNamespace("quota");
}, 120_000);

const quotaPath = () => `/api/v1/namespaces/${ns}/resourcequotas/mcp-tasks`;
const createTask = (name: string) =>
  cluster.mcp.tasks.create(ns, { metadata: { name }, spec: { requiredCapabilities: ["c"] } });
const taskCount = async () => (await cluster.mcp.tasks.list(ns)).items.length;

// The apiserver's quota admission reads quotas from its own informer, which
// trails a status just written by tens of milliseconds on a loaded machine:
// right after the quota is counted a create can still be refused, and right
// after it is made uncounted one can still pass. So each create is tried
// until the admission sees the status the test wrote (a fresh name each try).
let attempt = 0;
const createdOnceCounted = (name: string) =>
  eventually(() => createTask(`${name}-${++attempt}`).then(() => true), {
    timeout: 15_000,
    message: `Task ${name} created`,
  });
const refusedOnceUncounted = () =>
  eventually(
    () =>
      createTask(`refused-${++attempt}`).then(
        () => undefined, // created: the admission has not seen the new status yet
        (e: Error) => e,
      ),
    { timeout: 15_000, message: "a Task refused" },
  );

test("an uncounted quota refuses every Task; the recount has it counted, and Tasks are created again", async () => {
  await cluster.conn.request("POST", `/api/v1/namespaces/${ns}/resourcequotas`, {
    body: {
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: { name: "mcp-tasks" },
      spec: { hard: { "count/tasks.mcp.io": "10" } },
    },
  });
  await eventually(
    async () => {
      const q = await cluster.conn.request<ResourceQuota>("GET", quotaPath());
      return q.status?.used?.["count/tasks.mcp.io"] !== undefined;
    },
    { timeout: 30_000, message: "the quota counted" },
  );
  // Counted, a Task is created (so the refusal below can fail).
  await createdOnceCounted("before");
  // As Kubernetes leaves a quota made before it discovered Tasks: a status with hard, no usage.
  const current = await cluster.conn.request<ResourceQuota>("GET", quotaPath());
  expect(current.status?.used?.["count/tasks.mcp.io"]).toBe(String(await taskCount()));
  await cluster.conn.request("PUT", `${quotaPath()}/status`, {
    body: { ...current, status: { hard: { "count/tasks.mcp.io": "10" }, used: {} } },
  });
  const stuck = await cluster.conn.request<ResourceQuota>("GET", quotaPath());
  expect(uncountedTasksQuota(stuck)).toBe(true);
  const refused = await refusedOnceUncounted();
  expect(refused.message).toContain("status unknown for quota: mcp-tasks");

  let leader = false;
  const recount = new QuotaRecount({ conn: cluster.conn, namespace: ns, log: silentLogger, isLeader: () => leader });
  await recount.check();
  expect(recount.recounts).toBe(0); // only the leader acts
  leader = true;
  await recount.check();
  expect(recount.recounts).toBe(1);
  const after = await eventually(
    async () => {
      const q = await cluster.conn.request<ResourceQuota>("GET", quotaPath());
      return !uncountedTasksQuota(q) && q;
    },
    { timeout: 30_000, message: "the quota counted again" },
  );
  expect(after.status?.used?.["count/tasks.mcp.io"]).toBe(String(await taskCount()));
  expect(Object.keys(after.spec?.hard ?? {})).toEqual(["count/tasks.mcp.io"]);
  await createdOnceCounted("after");
  // A counted quota is left alone.
  await recount.check();
  expect(recount.recounts).toBe(1);
  // A recount whose second patch failed left its constraint behind: the next look takes it out.
  await cluster.conn.request("PATCH", quotaPath(), {
    body: [{ op: "add", path: "/spec/hard/count~1recount.mcp.io", value: "1" }],
    contentType: "application/json-patch+json",
  });
  await recount.check();
  const cleaned = await cluster.conn.request<ResourceQuota>("GET", quotaPath());
  expect(Object.keys(cleaned.spec?.hard ?? {})).toEqual(["count/tasks.mcp.io"]);
}, 90_000);
