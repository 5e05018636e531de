// The controller's placer against a real scheduler server on loopback: the
// candidates cross once, then only their loads, until an agent changes or the
// scheduler no longer keeps them.
import { afterEach, describe, expect, test } from "bun:test";
import { credentials, status } from "@grpc/grpc-js";
import {
  type Candidate,
  type PlaceBatchRequest,
  SchedulerServiceClient,
  type TaskSpec,
} from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { type SchedulerServer, startSchedulerServer } from "../../services/scheduler/server.ts";
import { makeCandidate } from "../../test/harness/builders.ts";
import { silentLogger } from "../log.ts";
import { SchedulerClient } from "./client.ts";
import { KeptCandidatesPlacer, sameCandidates } from "./kept-candidates.ts";
import { placeBatch } from "./policy.ts";

const candidate = (name: string, currentTasks = 0, over: Partial<Candidate> = {}) =>
  makeCandidate(name, { currentTasks, maxConcurrentTasks: 2, ...over });
const task = (name: string): TaskSpec => ({
  name,
  requiredCapabilities: ["x"],
  priority: 5,
  domain: "d",
  affinity: { required: [], preferred: [], avoided: [] },
});

let server: SchedulerServer | undefined;
let client: SchedulerClient | undefined;
afterEach(async () => {
  client?.close();
  await server?.stop();
});

async function start(port = 0) {
  server = await startSchedulerServer({ log: silentLogger, port });
  return server.port;
}

describe("KeptCandidatesPlacer", () => {
  test("sends the candidates once, then only their loads; the answers are those of sending them all", async () => {
    client = new SchedulerClient(`127.0.0.1:${await start()}`);
    const placer = new KeptCandidatesPlacer(client);
    const caps = ["x"];
    const list = (loadA: number, loadB: number) => [
      candidate("a", loadA, { capabilities: caps }),
      candidate("b", loadB, { capabilities: caps }),
    ];
    for (const [loadA, loadB] of [
      [0, 1],
      [1, 1],
      [2, 1],
      [2, 2],
    ] as const) {
      const got = await placer.placeBatch([task("t")], list(loadA, loadB), 3);
      expect(got).toEqual(placeBatch([task("t")], list(loadA, loadB), 3));
    }
    expect(placer.stats).toEqual({ full: 1, loadsOnly: 3, resent: 0 });
    // The last one: both full, so no agent, and the reasons say why.
    expect((await placer.placeBatch([task("t")], list(2, 2), 3))[0]?.topReasons).toEqual(["2 at capacity"]);
  });

  test("an agent that changed what placement reads of it sends the list again, under a new name", async () => {
    client = new SchedulerClient(`127.0.0.1:${await start()}`);
    const sent: string[] = [];
    const placer = new KeptCandidatesPlacer({
      placeBatch: (t, c, l, set) => {
        sent.push(`full ${set}`);
        return (client as SchedulerClient).placeBatch(t, c, l, set);
      },
      placeBatchOnKeptSet: (t, set, loads, l) => {
        sent.push(`loads ${set}`);
        return (client as SchedulerClient).placeBatchOnKeptSet(t, set, loads, l);
      },
    });
    await placer.placeBatch([task("t")], [candidate("a"), candidate("b")], 3);
    await placer.placeBatch([task("t")], [candidate("a", 1), candidate("b")], 3);
    const got = await placer.placeBatch([task("t")], [candidate("a", 1), candidate("b", 0, { phase: "NotReady" })], 3);
    expect(got[0]?.chosenAgent).toBe("a");
    const names = sent.map((s) => s.split(" ")[1]);
    expect(sent.map((s) => s.split(" ")[0])).toEqual(["full", "loads", "full"]);
    expect(names[0]).toBe(names[1] as string);
    expect(names[2]).not.toBe(names[0] as string);
  });

  test("a scheduler that does not keep the list (restarted) is sent it again, and placement goes on", async () => {
    const port = await start();
    client = new SchedulerClient(`127.0.0.1:${port}`);
    const placer = new KeptCandidatesPlacer(client);
    const list = [candidate("a"), candidate("b", 1)];
    expect((await placer.placeBatch([task("t")], list, 3))[0]?.chosenAgent).toBe("a");
    await server?.stop();
    await start(port); // a new process: it keeps nothing
    expect((await placer.placeBatch([task("t")], [candidate("a", 2), candidate("b", 1)], 3))[0]?.chosenAgent).toBe("b");
    expect(placer.stats).toEqual({ full: 2, loadsOnly: 0, resent: 1 });
    expect((await placer.placeBatch([task("t")], list, 3))[0]?.chosenAgent).toBe("a");
    expect(placer.stats.loadsOnly).toBe(1);
  });

  test("a call the scheduler refuses for another reason fails as it did", async () => {
    client = new SchedulerClient(`127.0.0.1:${await start()}`);
    const placer = new KeptCandidatesPlacer(client);
    await expect(placer.placeBatch([task("t")], [candidate("a"), candidate("a")], 3)).rejects.toThrow(
      "duplicate agent a",
    );
  });
});

describe("sameCandidates", () => {
  test.each([
    { name: "loads alone differ", b: [candidate("a", 2)], want: true },
    { name: "another agent", b: [candidate("z")], want: false },
    { name: "one more agent", b: [candidate("a"), candidate("b")], want: false },
    { name: "its phase", b: [candidate("a", 0, { phase: "NotReady" })], want: false },
    { name: "its capacity", b: [candidate("a", 0, { maxConcurrentTasks: 3 })], want: false },
    { name: "its capabilities", b: [candidate("a", 0, { capabilities: ["x", "y"] })], want: false },
    { name: "its tags", b: [candidate("a", 0, { tags: ["gpu"] })], want: false },
    { name: "equal arrays, not the same ones", b: [candidate("a", 0, { capabilities: ["x"] })], want: true },
  ])("$name → $want", ({ b, want }) => {
    expect(sameCandidates([candidate("a")], [...b])).toBe(want);
  });
});

describe("PlaceBatch with candidate sets: refusals a caller can act on", () => {
  const call = (req: Partial<PlaceBatchRequest>) =>
    new Promise<{ code?: number; details?: string }>((resolve) => {
      const raw = new SchedulerServiceClient(`127.0.0.1:${server?.port}`, credentials.createInsecure());
      raw.placeBatch(
        { tasks: [task("t")], candidates: [], candidateLimit: 0, candidateSet: "", currentTasks: [], ...req },
        (err) => {
          raw.close();
          resolve(err ? { code: err.code, details: err.details } : {});
        },
      );
    });

  test("an unknown set is FAILED_PRECONDITION; loads sent with candidates, or not fitting the set, INVALID_ARGUMENT", async () => {
    await start();
    expect(await call({ candidateSet: "s1", currentTasks: [0] })).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "candidate set s1 is not kept here: send the candidates again",
    });
    expect(await call({ candidates: [candidate("a")], currentTasks: [0] })).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "current_tasks: is for a kept candidate set: send it without candidates",
    });
    expect(await call({ candidates: [candidate("a")], candidateSet: "s1" })).toEqual({});
    expect(await call({ candidateSet: "s1", currentTasks: [0, 1] })).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "current_tasks: has 2 entries; candidate set s1 has 1 candidates",
    });
    expect(await call({ candidateSet: "s1", currentTasks: [1] })).toEqual({});
  });
});

describe("KeptCandidatesPlacer: no agents", () => {
  test("an empty list is sent as it is, never named, and the no-fit reason comes back", async () => {
    client = new SchedulerClient(`127.0.0.1:${await start()}`);
    const placer = new KeptCandidatesPlacer(client);
    const got = await placer.placeBatch([task("t")], [], 3);
    expect(got[0]?.chosenAgent).toBe("");
    expect(got[0]?.candidateCount).toBe(0);
    // Then agents appear: their list is named and kept as usual.
    expect((await placer.placeBatch([task("t")], [candidate("late")], 3))[0]?.chosenAgent).toBe("late");
    expect((await placer.placeBatch([task("t")], [candidate("late", 1)], 3))[0]?.chosenAgent).toBe("late");
    expect(placer.stats).toEqual({ full: 1, loadsOnly: 1, resent: 0 });
  });
});
