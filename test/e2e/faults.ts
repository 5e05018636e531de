// Faults on the node while calls run: `kubectl delete pod --force` of the
// leader controller, the scheduler, a gateway and an agent. The soak's verdict
// on what the cluster recorded: every Task of the run finishes (none lost),
// none has its completion recorded twice, and every answer a client got is
// its own call's. Calls use the 2026-07-28 client, which needs no session, so
// any gateway replica answers any call.
import { beforeAll, describe, expect, test } from "bun:test";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { mcpClients, type Task } from "../../lib/api/resources.ts";
import { isFinished } from "../../lib/api/task-state.ts";
import { Informer } from "../../lib/kube/informer.ts";
import { eventually } from "../harness/eventually.ts";
import { ensureDomain, type NodeCluster, runningPods, waitAvailable } from "../harness/node.ts";
import type { E2e } from "./suite.ts";

const ns = "mcp-data-processing";
let figures: E2e["figures"];
let cluster: NodeCluster;
let gateway: { url: URL; token: string };

/** A running pod of a Deployment (by its app.kubernetes.io/name label). */
async function podOf(app: string): Promise<string> {
  const [pod] = await runningPods(cluster, ns, app);
  if (!pod) throw new Error(`no running pod of ${app}`);
  return pod.name;
}

async function leaderPod(): Promise<string> {
  const lease = await cluster.conn.request<{ spec: { holderIdentity?: string } }>(
    "GET",
    `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/mcp-conductor-controller`,
  );
  if (!lease.spec.holderIdentity) throw new Error("no controller holds the lease");
  return lease.spec.holderIdentity;
}

/** Pods of every conductor component force-deleted while calls run. */
export function registerFaults(e2e: E2e): void {
  describe("faults on the node while calls run", () => {
    beforeAll(async () => {
      cluster = e2e.cluster;
      figures = e2e.figures;
      gateway = await ensureDomain(cluster, "data-processing");
    }, 600_000);
    test("force-deleted controller leader, scheduler, gateway and agent: no Task lost, none completed twice", async () => {
      const run = Math.random().toString(36).slice(2, 8);
      // Every completion the cluster records, per Task: a second, different one would be a double completion.
      const finals = new Map<string, Set<string>>();
      const informer = new Informer(mcpClients(cluster.conn).tasks, { namespace: ns });
      const seen = (t: Task) => {
        if (!JSON.stringify(t.spec.payload ?? {}).includes(run)) return;
        const name = t.metadata.name ?? "";
        if (!finals.has(name)) finals.set(name, new Set());
        if (isFinished(t))
          finals.get(name)?.add(JSON.stringify([t.status?.phase, t.status?.result, t.status?.attempts]));
      };
      informer.on({ add: seen, update: seen });
      await informer.start();

      const calls = 240;
      const concurrency = 8;
      const answers = new Map<number, "ok" | "wrong" | "error">();
      const errors: string[] = [];
      let next = 0;
      let slowestMs = 0;
      const client = async () => {
        const c = new Client({ name: "e2e-faults", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
        await c.connect(
          new StreamableHTTPClientTransport(gateway.url, {
            requestInit: { headers: { Authorization: `Bearer ${gateway.token}` } },
          }),
        );
        try {
          for (let i = next++; i < calls; i = next++) {
            const id = `${run}-${i}`;
            const callStarted = performance.now();
            try {
              // The SDK gives up on a request after 60 s and cancels it, which deletes its Task: this
              // client waits as long as the faults may take, so every Task has to finish.
              const res = await c.callTool(
                { name: "csv_to_json", arguments: { csv: `id\n${id}` } },
                { timeout: 300_000 },
              );
              const text = (res.content as { type: string; text?: string }[]).map((x) => x.text ?? "").join("");
              answers.set(i, !res.isError && text.includes(`"${id}"`) ? "ok" : "wrong");
              slowestMs = Math.max(slowestMs, performance.now() - callStarted);
              if (res.isError) errors.push(text.slice(0, 200));
            } catch (err) {
              // A gateway killed mid-call loses this answer; its Task still has to finish (checked below).
              answers.set(i, "error");
              errors.push((err as Error).message.slice(0, 200));
            }
          }
        } finally {
          await c.close();
        }
      };
      const started = performance.now();
      const load = Promise.all(Array.from({ length: concurrency }, client));

      // The faults, one after another while the load runs.
      const deleted: string[] = [];
      for (const victim of [
        leaderPod,
        () => podOf("mcp-scheduler"),
        () => podOf("mcp-gateway"),
        () => podOf("mcp-agent"),
      ]) {
        await Bun.sleep(1_500);
        const pod = await victim();
        const res = await cluster.kubectl([
          "-n",
          ns,
          "delete",
          "pod",
          pod,
          "--force",
          "--grace-period=0",
          "--wait=false",
        ]);
        expect(res.code).toBe(0);
        deleted.push(pod);
      }
      await load;
      figures.loadSeconds = (performance.now() - started) / 1000;
      figures.podsDeleted = deleted.join(" ");
      const ok = [...answers.values()].filter((a) => a === "ok").length;
      figures.callsAnswered = ok;
      figures.slowestCallMs = Math.round(slowestMs);
      figures.callErrors = [...answers.values()].filter((a) => a === "error").length;

      // Every Task of the run finishes, even those whose answer was lost with a gateway.
      await eventually(
        () =>
          [...finals.keys()].every(
            (name) => informer.get(ns, name) === undefined || isFinished(informer.get(ns, name) as Task),
          ),
        { timeout: 180_000, interval: 500, message: "every Task of the run finished" },
      );
      await informer.stop();
      const tasks = [...finals.keys()];
      const lost = tasks.filter((name) => (finals.get(name)?.size ?? 0) === 0);
      const twice = tasks.filter((name) => (finals.get(name)?.size ?? 0) > 1);
      figures.tasks = tasks.length;
      figures.lost = lost.length;
      figures.completedTwice = twice.length;
      if (errors.length) figures.firstErrors = errors.slice(0, 3).join(" | ");

      expect(deleted).toHaveLength(4);
      expect(lost).toEqual([]);
      expect(twice).toEqual([]);
      // No answer carries another call's result, and a call either answered or its Task exists.
      expect([...answers.values()].filter((a) => a === "wrong")).toEqual([]);
      expect(tasks.length).toBeGreaterThanOrEqual(ok);
      // The faults hit a running system: most calls still got their answer.
      expect(ok).toBeGreaterThan(calls / 2);
      // The deleted pods were replaced.
      await waitAvailable(cluster, ns, 120);
    }, 600_000);
  });
}
