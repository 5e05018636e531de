import { describe, expect, test } from "bun:test";
import { KubeApiError, KubeConnectionError } from "../kube/errors.ts";
import { silentLogger } from "../log.ts";
import { isPermanent, runWorkers, TerminalError } from "./reconcile.ts";
import { WorkQueue } from "./workqueue.ts";

const apiError = (code: number, method = "PUT") =>
  new KubeApiError(code, { code, message: `refused with ${code}` }, method, "/apis/mcp.io/v1/namespaces/a/tasks/t");

describe("isPermanent", () => {
  test.each([
    ["a TerminalError", new TerminalError("no"), true],
    ["422 Invalid on a write", apiError(422), true],
    ["400 Bad Request", apiError(400, "PATCH"), true],
    ["403 Forbidden on a write", apiError(403, "POST"), true],
    ["403 Forbidden on a read (RBAC may be on its way)", apiError(403, "GET"), false],
    ["409 Conflict", apiError(409), false],
    ["404 Not Found", apiError(404), false],
    ["429 Too Many Requests", apiError(429), false],
    ["500 from the apiserver", apiError(500), false],
    ["a broken connection", new KubeConnectionError("PUT", "/x", new Error("ECONNRESET")), false],
    ["any other error", new Error("boom"), false],
  ])("%s → %p", (_what, err, permanent) => {
    expect(isPermanent(err)).toBe(permanent);
  });
});

/** Runs one key through runWorkers until `attempts` reconciles happened or 1 s passed. */
async function reconcileUntil(fail: () => Error, attempts: number) {
  const queue = new WorkQueue({ baseDelayMs: 1, maxDelayMs: 5 });
  let calls = 0;
  const reported: [string, string][] = [];
  const workers = runWorkers({
    name: "test",
    queue,
    concurrency: 1,
    log: silentLogger,
    reconcile: async () => {
      calls++;
      throw fail();
    },
    onPermanentFailure: (key, err) => reported.push([key, err.message]),
  });
  queue.add("ns/obj");
  const deadline = Date.now() + 1_000;
  while (calls < attempts && Date.now() < deadline) await Bun.sleep(5);
  // A permanent failure must not come back: give a retry the time it would need.
  await Bun.sleep(50);
  queue.shutdown();
  await workers;
  return { calls, reported };
}

describe("runWorkers", () => {
  test("a write the apiserver refuses as invalid is not retried, and is reported once", async () => {
    const { calls, reported } = await reconcileUntil(() => apiError(422), 1);
    expect(calls).toBe(1);
    expect(reported).toEqual([["ns/obj", "refused with 422"]]);
  });

  test("a transient failure is retried with backoff and not reported", async () => {
    const { calls, reported } = await reconcileUntil(() => apiError(500), 3);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(reported).toEqual([]);
  });
});
