import { describe, expect, test } from "bun:test";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { atNegotiatedVersion } from "./session-sdk.ts";
import { requestsOfEventId, SessionStreamEvents, streamRequests } from "./stream-events.ts";

const note = (n: number): JSONRPCMessage => ({ jsonrpc: "2.0", method: "notifications/progress", params: { n } });

/** What a replay after `id` sends. */
async function replayed(store: SessionStreamEvents, id: string) {
  const sent: { id: string; message: JSONRPCMessage }[] = [];
  const stream = await store.replayEventsAfter(id, {
    send: async (eventId, message) => {
      sent.push({ id: eventId, message });
    },
  });
  return { stream, sent };
}

describe("SessionStreamEvents", () => {
  test("replays the events of the same stream after the last one seen, not the priming event, not other streams", async () => {
    const store = new SessionStreamEvents();
    const priming = await store.storeEvent("a", {} as JSONRPCMessage);
    const a1 = await store.storeEvent("a", note(1));
    await store.storeEvent("b", note(99));
    const a2 = await store.storeEvent("a", note(2));
    expect(await store.getStreamIdForEventId(a1)).toBe("a");
    const fromPriming = await replayed(store, priming);
    expect(fromPriming.stream).toBe("a");
    expect(fromPriming.sent).toEqual([
      { id: a1, message: note(1) },
      { id: a2, message: note(2) },
    ]);
    expect((await replayed(store, a2)).sent).toEqual([]);
  });

  test("an id it never gave (another session's, another replica's, made up) is unknown, and replaying it throws", async () => {
    const mine = new SessionStreamEvents();
    const other = new SessionStreamEvents();
    const theirs = await other.storeEvent("a", note(1));
    await mine.storeEvent("a", note(1));
    for (const id of [theirs, "x.1", "1", "", "..", `${theirs.split(".")[0]}.-1`]) {
      expect(await mine.getStreamIdForEventId(id)).toBeUndefined();
      await expect(replayed(mine, id)).rejects.toThrow("cannot be resumed here");
    }
  });

  test("keeps at most maxEvents and maxBytes, the oldest going first", async () => {
    const store = new SessionStreamEvents({ maxEvents: 3, maxBytes: 1_000_000, keepMs: 60_000 });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await store.storeEvent("a", note(i)));
    expect(store.size.events).toBe(3);
    expect(await store.getStreamIdForEventId(ids[1] as string)).toBeUndefined();
    expect((await replayed(store, ids[2] as string)).sent.map((e) => e.message)).toEqual([note(3), note(4)]);

    const one = JSON.stringify(note(1)).length;
    const bySize = new SessionStreamEvents({ maxEvents: 100, maxBytes: one * 2, keepMs: 60_000 });
    for (let i = 0; i < 5; i++) await bySize.storeEvent("a", note(i));
    expect(bySize.size).toEqual({ events: 2, bytes: one * 2 });
  });

  test("a stream quiet for keepMs is forgotten whole; one still sending is kept", async () => {
    let now = 0;
    const store = new SessionStreamEvents({ maxEvents: 100, maxBytes: 1_000_000, keepMs: 1_000 }, () => now);
    const old = await store.storeEvent("done", note(1));
    now = 600;
    const early = await store.storeEvent("live", note(2));
    now = 1_200;
    await store.storeEvent("live", note(3));
    expect(await store.getStreamIdForEventId(old)).toBeUndefined();
    expect((await replayed(store, early)).sent.map((e) => e.message)).toEqual([note(3)]);
  });
});

describe("quiet streams among active ones", () => {
  test("a stream that spoke again after others is judged by its last event, not its first", async () => {
    let now = 0;
    const store = new SessionStreamEvents({ maxEvents: 100, maxBytes: 1_000_000, keepMs: 1_000 }, () => now);
    const a1 = await store.storeEvent("a", note(1));
    now = 100;
    const b1 = await store.storeEvent("b", note(2));
    now = 900;
    await store.storeEvent("a", note(3));
    now = 1_150; // b quiet for 1,050 ms, a for 250
    await store.storeEvent("c", note(4));
    expect(await store.getStreamIdForEventId(b1)).toBeUndefined();
    expect((await replayed(store, a1)).sent.map((e) => e.message)).toEqual([note(3)]);
    expect(store.size.events).toBe(3);
    now = 2_000; // a quiet now too; c (850 ms) stays
    await store.storeEvent("c", note(5));
    expect(await store.getStreamIdForEventId(a1)).toBeUndefined();
    expect(store.size).toEqual({ events: 2, bytes: JSON.stringify(note(4)).length + JSON.stringify(note(5)).length });
  });
});

describe("event ids name the requests their stream answers", () => {
  test("the stream's first event, stored while its POST is handled, names its requests; every later event of it too", async () => {
    const store = new SessionStreamEvents();
    const priming = await streamRequests.run([7, "x-1"], () => store.storeEvent("post", {} as JSONRPCMessage));
    // later events are stored from elsewhere (the tool's answer): they still name the stream's requests
    const answer = await store.storeEvent("post", note(1));
    const standalone = await store.storeEvent("get", note(2));
    expect(requestsOfEventId(priming)).toEqual([7, "x-1"]);
    expect(requestsOfEventId(answer)).toEqual([7, "x-1"]);
    expect(requestsOfEventId(standalone)).toBeUndefined();
    expect(store.holds(priming)).toBe(true);
    expect(new SessionStreamEvents().holds(priming)).toBe(false);
    // another replica reads the requests from the id alone
    expect(requestsOfEventId(`elsewhere.${priming.split(".").slice(1).join(".")}`)).toEqual([7, "x-1"]);
  });

  test("ids that name nothing usable: none at all, not base64 JSON, not an array of ids", () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    for (const id of [
      "a.1",
      "a.1.",
      "a.1.!!",
      `a.1.${enc({ id: 1 })}`,
      `a.1.${enc([])}`,
      `a.1.${enc([{}])}`,
      `a.1.${enc([null])}`,
    ])
      expect(requestsOfEventId(id)).toBeUndefined();
  });
});

describe("atNegotiatedVersion", () => {
  const req = (version?: string) =>
    new Request("http://gw/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", ...(version ? { "mcp-protocol-version": version } : {}) },
    });

  test("an older supported header on a session that negotiated a newer version is read as the negotiated one", () => {
    const r = atNegotiatedVersion(req("2025-03-26"), "2025-11-25");
    expect(r.headers.get("mcp-protocol-version")).toBe("2025-11-25");
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.method).toBe("POST");
  });

  test("anything else is passed on as sent: the same or a newer version, none, an unknown one", () => {
    for (const [sent, negotiated] of [
      ["2025-11-25", "2025-11-25"],
      ["2025-11-25", "2025-03-26"],
      [undefined, "2025-11-25"],
      ["1999-01-01", "2025-11-25"],
      ["2025-03-26", "2099-01-01"],
    ] as const) {
      const r = req(sent);
      expect(atNegotiatedVersion(r, negotiated)).toBe(r);
    }
  });
});
