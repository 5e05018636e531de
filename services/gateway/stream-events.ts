/**
 * The events a 2025 session's SSE streams carried, kept for a while so that a
 * client whose stream broke can resume it with Last-Event-ID (SEP-1699, the
 * 2025-11-25 transport's resumability): the SDK's transport sends a priming
 * event (an id, no data) first on each POST stream once it has an event
 * store, and replays what came after the client's last event on its GET.
 *
 * One store per session, on the replica that holds the session's streams, in
 * memory: a stream's events are what this replica sent, so only this replica
 * can replay them. Each event id also names the JSON-RPC requests its stream
 * answers, so that a resume reaching another replica (or this one once it
 * forgot) can still answer them from their Tasks (the gateway's
 * resumeElsewhere): the answer without the notifications before it.
 *
 * Bounded twice, so a chatty tool or a session left open cannot hold memory:
 * at most `maxEvents` events and `maxBytes` of messages per session (the
 * oldest go first), and a stream's events are kept `keepMs` after its last
 * one, long enough for a client to reconnect after its retry interval.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import type { EventId, EventStore, StreamId } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

export interface StreamEventLimits {
  maxEvents: number;
  maxBytes: number;
  keepMs: number;
}

export const defaultStreamEventLimits: StreamEventLimits = { maxEvents: 256, maxBytes: 1024 * 1024, keepMs: 60_000 };

/** How long a client should wait before it reconnects a stream that ended without its answer (the SSE retry field). */
export const streamRetryMs = 1_000;

type RequestId = string | number;

/**
 * The JSON-RPC ids of the POST a transport is handling: the gateway runs
 * handleRequest inside it, so the stream's first event (the priming one,
 * stored within that request) learns which requests its stream answers.
 */
export const streamRequests = new AsyncLocalStorage<RequestId[]>();

/** Longer id lists are not written into event ids (no resume elsewhere for such a batch). */
const maxIdsChars = 256;

interface Stored {
  streamId: StreamId;
  seq: number;
  message: JSONRPCMessage;
  bytes: number;
  at: number;
}

/** A stream's bookkeeping: its requests, as encoded into its event ids; its events held; when it last had one. */
interface StreamState {
  requests: string;
  events: number;
  lastAt: number;
}

/** One session's stream events, newest last. */
export class SessionStreamEvents implements EventStore {
  /** Event ids name this store, so an id from another session or replica is never taken for one of ours. */
  private readonly prefix = randomBytes(6).toString("base64url");
  /** In the order they were stored: seq ascending. */
  private events: Stored[] = [];
  /**
   * The streams with events held, least recently active first (a stream is
   * moved to the end on each event): the quiet ones are found from the front
   * without a walk over every event on each store.
   */
  private readonly streams = new Map<StreamId, StreamState>();
  private bytes = 0;
  private seq = 0;

  constructor(
    private readonly limits: StreamEventLimits = defaultStreamEventLimits,
    private readonly now: () => number = Date.now,
  ) {}

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    const seq = ++this.seq;
    const at = this.now();
    const bytes = JSON.stringify(message).length;
    this.events.push({ streamId, seq, message, bytes, at });
    this.bytes += bytes;
    const stream = this.streams.get(streamId) ?? {
      requests: encodeRequests(streamRequests.getStore()),
      events: 0,
      lastAt: at,
    };
    stream.events++;
    stream.lastAt = at;
    this.streams.delete(streamId);
    this.streams.set(streamId, stream);
    const id = this.idOf(seq, streamId);
    this.trim(at);
    return id;
  }

  /** Whether this store can replay after the event: it gave the id and still holds the event. */
  holds(eventId: EventId): boolean {
    return this.find(eventId) !== undefined;
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return this.find(eventId)?.streamId;
  }

  /**
   * Sends the events of the stream `lastEventId` belongs to that came after
   * it. An id this store does not hold (another replica's, forgotten) is an
   * error the SDK answers with 400.
   */
  async replayEventsAfter(
    lastEventId: EventId,
    { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> },
  ): Promise<StreamId> {
    const last = this.find(lastEventId);
    if (!last) throw new Error(`No event ${lastEventId} on this replica: the stream cannot be resumed here`);
    // the priming event ({}) is not a message: it is never sent again
    for (const e of this.events)
      if (e.streamId === last.streamId && e.seq > last.seq && Object.keys(e.message).length > 0)
        await send(this.idOf(e.seq, e.streamId), e.message);
    return last.streamId;
  }

  /** Events held, and their size: for tests and the session's accounting. */
  get size(): { events: number; bytes: number } {
    return { events: this.events.length, bytes: this.bytes };
  }

  /** The event an id names, if this store gave it and still holds it (a binary search: seqs ascend). */
  private find(eventId: EventId): Stored | undefined {
    const seq = this.seqOf(eventId);
    if (seq === undefined) return undefined;
    let lo = 0;
    let hi = this.events.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = this.events[mid] as Stored;
      if (e.seq === seq) return e;
      if (e.seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  private trim(now: number): void {
    // the streams that had an event within keepMs stay whole; the rest go
    const quiet = new Set<StreamId>();
    for (const [id, stream] of this.streams) {
      if (now - stream.lastAt < this.limits.keepMs) break;
      quiet.add(id);
    }
    if (quiet.size > 0) {
      this.events = this.events.filter((e) => {
        if (!quiet.has(e.streamId)) return true;
        this.bytes -= e.bytes;
        return false;
      });
      for (const id of quiet) this.streams.delete(id);
    }
    // then the oldest events, until both bounds hold
    let dropped = 0;
    while (this.events.length - dropped > this.limits.maxEvents || this.bytes > this.limits.maxBytes) {
      const e = this.events[dropped++] as Stored;
      this.bytes -= e.bytes;
      const stream = this.streams.get(e.streamId);
      if (stream && --stream.events === 0) this.streams.delete(e.streamId);
    }
    if (dropped > 0) this.events.splice(0, dropped);
  }

  /** `<store>.<seq>` and, for a POST stream, `.<its request ids>`. */
  private idOf(seq: number, streamId: StreamId): EventId {
    const requests = this.streams.get(streamId)?.requests;
    return requests ? `${this.prefix}.${seq}.${requests}` : `${this.prefix}.${seq}`;
  }

  private seqOf(eventId: EventId): number | undefined {
    const [prefix, seqText] = eventId.split(".");
    if (prefix !== this.prefix || seqText === undefined) return undefined;
    const seq = Number(seqText);
    return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
  }
}

const encodeRequests = (ids: RequestId[] | undefined): string => {
  if (!ids?.length) return "";
  const text = Buffer.from(JSON.stringify(ids)).toString("base64url");
  return text.length <= maxIdsChars ? text : "";
};

/**
 * The JSON-RPC ids a stream's event id says its stream answers, whichever
 * store gave it; undefined when it names none or is not one of ours. The id
 * comes from the client: the caller of this looks the requests up within the
 * client's own session only.
 */
export function requestsOfEventId(eventId: EventId): RequestId[] | undefined {
  const part = eventId.split(".")[2];
  if (!part || part.length > maxIdsChars) return undefined;
  try {
    const ids: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    if (!Array.isArray(ids) || ids.length === 0) return undefined;
    return ids.every((id) => typeof id === "string" || (typeof id === "number" && Number.isFinite(id)))
      ? (ids as RequestId[])
      : undefined;
  } catch {
    return undefined;
  }
}
