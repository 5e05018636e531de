/**
 * The soak's load: `clients` MCP clients taking the planned calls in turn,
 * each at its due time, spread over the whole run. MCP calls go through the
 * gateways (plainly, or as MCP tasks); direct calls write a Task with a
 * priority, deadline and retry policy. A client whose gateway goes away
 * connects again (to the next gateway) and follows its call's Task; a call
 * that made no Task is sent again. Each call leaves a CallRecord.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  type CallToolResult,
  CallToolResultSchema,
  CreateTaskResultSchema,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import type { McpClients } from "../../lib/api/resources.ts";
import { isAlreadyExists } from "../../lib/kube/errors.ts";
import type { Gateway } from "./conductor.ts";
import { type Outcome, type PlannedCall, probeCalls, type SoakOptions, type SoakPlan } from "./plan.ts";
import type { Prng } from "./prng.ts";
import { outcomeOfTask, type TaskWatch } from "./task-watch.ts";

export interface CallRecord {
  call: PlannedCall;
  startedAt: number;
  endedAt?: number;
  outcome?: Outcome | "unexpected";
  detail?: string;
  /** The client lost its gateway mid-call and followed the Task instead. */
  interrupted?: boolean;
  /** The Task finished, but the client never got the answer. */
  answerLost?: boolean;
  /** The gateway the call went to, when its answer was lost. */
  lostOn?: string;
  /** Times the call was sent again because no Task was made. */
  resent: number;
  phase: string;
}

/** A failure of the connection, not an MCP error the gateway answered with. */
const isTransport = (err: unknown) => !(err instanceof McpError);

/**
 * An MCP error a client should retry: the gateway's internal error or a request timeout
 * while the apiserver is down, or a failure that names a lost connection.
 */
const transientMcp = (err: unknown) =>
  err instanceof McpError &&
  (err.code === -32603 || err.code === -32001 || /ECONNREFUSED|ECONNRESET|Unavailable|timed out/.test(err.message));

export interface LoadContext {
  o: SoakOptions;
  plan: SoakPlan;
  /** The run's generator, past the plan: direct deadlines and probe ids are drawn from it as they come. */
  rng: Prng;
  mcp: McpClients;
  namespace: string;
  watch: TaskWatch;
  gateways: Gateway[];
  /** Whether the apiserver answered its last scrape. */
  apiUp: () => boolean;
  /** The fault phase a moment falls in. */
  phaseAt: (t: number) => string;
}

/** A worker's MCP client: replaced when its gateway goes away. */
interface ClientSlot {
  client: Client;
}

export class SoakLoad {
  readonly records: CallRecord[] = [];
  /** Each worker's first client, closed again at the end in case its worker never finished. */
  readonly clients: Client[] = [];
  private readonly probes: Promise<void>[] = [];
  private next = 0;
  private loadStart = 0;
  /** Client w starts on gateway w mod 2 and moves to the next each time it connects again. */
  private readonly gatewayTurns = new Map<number, number>();
  private readonly gatewayOf = new WeakMap<Client, string>();

  constructor(private readonly ctx: LoadContext) {}

  /** Runs every planned call; resolves when each has ended. */
  run(loadStart: number): Promise<void> {
    this.loadStart = loadStart;
    // Direct Tasks do not hold an MCP client: the workers make them between their calls.
    return Promise.all(Array.from({ length: this.ctx.o.clients }, (_, w) => this.worker(w))).then(() => {});
  }

  /** Resolves once the load and every probe have ended. */
  ended(running: Promise<void>): Promise<void> {
    return running.then(() => Promise.all(this.probes)).then(() => {});
  }

  inFlight(): CallRecord[] {
    return this.records.filter((r) => r.endedAt === undefined);
  }

  /**
   * Starts the `batch`th set of probe Tasks and waits (5 s at most) until
   * each is running, so the fault that follows catches them mid-execution.
   */
  async startProbes(batch: number): Promise<void> {
    const calls = probeCalls(batch, this.ctx.o.holdSeconds, this.ctx.rng);
    for (const call of calls) {
      const rec: CallRecord = { call, startedAt: Date.now(), resent: 0, phase: "probe" };
      this.records.push(rec);
      this.probes.push(this.settled(rec, this.runDirect(call, rec)));
    }
    const by = Date.now() + 5000;
    const running = (callId: string) =>
      this.ctx.watch.byCall.get(callId)?.some((t) => t.last?.status?.phase === "Running");
    while (Date.now() < by && !calls.every((c) => running(c.callId))) await Bun.sleep(50);
  }

  /** Ends the record when the call does; a call that threw ended unexpectedly. */
  private async settled(rec: CallRecord, call: Promise<void>): Promise<void> {
    try {
      await call;
    } catch (err) {
      rec.outcome = "unexpected";
      rec.detail = (err as Error).message;
    }
    rec.endedAt = Date.now();
  }

  private async worker(w: number): Promise<void> {
    const slot: ClientSlot = { client: await this.connectClient(w) };
    this.clients.push(slot.client);
    for (;;) {
      const i = this.next++;
      const call = this.ctx.plan.calls[i];
      if (!call) break;
      const due = this.loadStart + i * this.ctx.plan.spacingMs;
      if (due > Date.now()) await Bun.sleep(due - Date.now());
      const rec: CallRecord = { call, startedAt: Date.now(), resent: 0, phase: this.ctx.phaseAt(Date.now()) };
      this.records.push(rec);
      await this.settled(
        rec,
        call.kind.startsWith("direct_") ? this.runDirect(call, rec) : this.runMcpCall(w, call, rec, slot),
      );
    }
    await slot.client.close().catch(() => {});
  }

  // One shared counter put every client on the first gateway (w + w is even): hence a turn per client.
  private async connectClient(w: number): Promise<Client> {
    const { gateways } = this.ctx;
    for (;;) {
      const turn = this.gatewayTurns.get(w) ?? 0;
      this.gatewayTurns.set(w, turn + 1);
      const g = gateways[(w + turn) % gateways.length] as Gateway;
      const c = new Client({ name: `soak-client-${w}`, version: "1.0.0" });
      try {
        await c.connect(new StreamableHTTPClientTransport(g.url));
        this.gatewayOf.set(c, g.proc.spec.name);
        return c;
      } catch {
        await c.close().catch(() => {});
        await Bun.sleep(500);
      }
    }
  }

  private async reconnect(w: number, slot: ClientSlot): Promise<void> {
    await slot.client.close().catch(() => {});
    slot.client = await this.connectClient(w);
  }

  /**
   * A call the gateway could not make a Task for (the apiserver away) is
   * answered with a bare internal error, as any other: it is sent again if no
   * Task for it shows up once the apiserver is back.
   */
  private async noTaskMade(err: unknown, callId: string): Promise<boolean> {
    if (!(err instanceof McpError) || err.code !== -32603) return false;
    while (!this.ctx.apiUp()) await Bun.sleep(500);
    return (await this.ctx.watch.follow(callId, 3_000)) === undefined;
  }

  /** Resolves "lost" once this call's Task has been finished (or deleted) for 20 s. */
  private async answerLost(callId: string, signal: AbortSignal): Promise<"lost"> {
    for (;;) {
      await Bun.sleep(1000);
      if (signal.aborted) return new Promise<never>(() => {});
      const tr = this.ctx.watch.done(callId);
      const at = tr?.finishedAt ?? (tr?.deleted ? tr.deletedAt : undefined);
      if (at !== undefined && Date.now() - at > 20_000) return "lost";
    }
  }

  private async runMcpCall(w: number, call: PlannedCall, rec: CallRecord, slot: ClientSlot): Promise<void> {
    for (let attempt = 0; attempt < 60; attempt++) {
      const abort = new AbortController();
      let cancelTimer: ReturnType<typeof setTimeout> | undefined;
      try {
        if (call.kind.startsWith("task_")) {
          const created = await slot.client.request(
            { method: "tools/call", params: { name: call.tool, arguments: call.args, task: { ttl: 86_400_000 } } },
            CreateTaskResultSchema,
            { timeout: 60_000 },
          );
          await this.followMcpTask(w, created.task.taskId, call, rec, slot);
          return;
        }
        if (call.cancelAfterMs) cancelTimer = setTimeout(() => abort.abort(), call.cancelAfterMs);
        await this.callAndWait(w, call, rec, slot, abort.signal);
        return;
      } catch (err) {
        if (call.cancelAfterMs && abort.signal.aborted) {
          rec.outcome = "cancelled";
          // The gateway deletes the Task; the verdict checks that.
          return;
        }
        if (await this.noTaskMade(err, call.callId)) {
          rec.resent++;
          await Bun.sleep(1000);
          continue;
        }
        if (!isTransport(err)) {
          rec.outcome = "unexpected";
          rec.detail = (err as Error).message;
          return;
        }
        if (await this.followAfterGatewayLoss(w, call, rec, slot)) return;
        rec.resent++;
      } finally {
        clearTimeout(cancelTimer);
      }
    }
    rec.outcome = "unexpected";
    rec.detail = "gave up sending";
  }

  /** A plain tools/call: its answer, or the Task's outcome once the answer is given up as lost. */
  private async callAndWait(
    w: number,
    call: PlannedCall,
    rec: CallRecord,
    slot: ClientSlot,
    signal: AbortSignal,
  ): Promise<void> {
    const answer = slot.client.callTool({ name: call.tool, arguments: call.args }, CallToolResultSchema, {
      signal,
      timeout: 600_000,
    });
    answer.catch(() => {});
    const res = await Promise.race([answer, this.answerLost(call.callId, signal)]);
    if (res === "lost") {
      // The Task finished but its answer never came (the stream broke with a gateway):
      // take the outcome from the Task, and start over with a fresh client.
      rec.interrupted = true;
      rec.answerLost = true;
      rec.lostOn = this.gatewayOf.get(slot.client);
      rec.outcome = outcomeOfTask(this.ctx.watch.done(call.callId));
      const old = slot.client;
      slot.client = await this.connectClient(w);
      void old.close().catch(() => {});
      return;
    }
    const result = res as CallToolResult;
    rec.outcome = result.isError ? "error" : "completed";
    rec.detail = result.isError ? JSON.stringify(result.content).slice(0, 200) : undefined;
  }

  /**
   * The gateway went away mid-call. Did it make a Task? Then follow it (true);
   * if not, the caller sends the call again (false).
   */
  private async followAfterGatewayLoss(
    w: number,
    call: PlannedCall,
    rec: CallRecord,
    slot: ClientSlot,
  ): Promise<boolean> {
    const { watch, o } = this.ctx;
    await this.reconnect(w, slot);
    const found = await watch.follow(call.callId, 5_000);
    if (!found && this.ctx.apiUp()) return false;
    const tr = await watch.follow(call.callId, o.settleSeconds * 1000);
    if (!tr) return false;
    rec.interrupted = true;
    rec.outcome = outcomeOfTask(tr);
    // The cancellation was lost with the gateway: cancel through the Task, as a client would.
    if (call.cancelAfterMs && rec.outcome !== "cancelled") rec.outcome = "cancelled";
    return true;
  }

  /** Polls an MCP task (cancelling it when the plan says) until it ends, across gateways. */
  private async followMcpTask(
    w: number,
    taskId: string,
    call: PlannedCall,
    rec: CallRecord,
    slot: ClientSlot,
  ): Promise<void> {
    const { o, plan } = this.ctx;
    const until = Date.now() + o.settleSeconds * 1000 + plan.loadSeconds * 1000 + 60_000;
    let cancelled = false;
    const cancelAt = call.cancelAfterMs ? Date.now() + call.cancelAfterMs : undefined;
    while (Date.now() < until) {
      try {
        if (cancelAt && !cancelled && Date.now() >= cancelAt) {
          const r = await slot.client.experimental.tasks.cancelTask(taskId);
          cancelled = true;
          if (r.status === "cancelled") {
            rec.outcome = "cancelled";
            return;
          }
        }
        const t = await slot.client.experimental.tasks.getTask(taskId, { timeout: 10_000 });
        if (t.status === "cancelled") {
          rec.outcome = "cancelled";
          return;
        }
        if (t.status === "completed" || t.status === "failed") {
          const res = (await slot.client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema, {
            timeout: 10_000,
          })) as CallToolResult;
          rec.outcome = res.isError ? "error" : "completed";
          return;
        }
      } catch (err) {
        if (err instanceof McpError && /already finished/.test(err.message)) {
          cancelled = true;
          continue;
        }
        if (!isTransport(err) && !transientMcp(err)) {
          rec.outcome = "unexpected";
          rec.detail = `${taskId}: ${(err as Error).message}`;
          return;
        }
        // A gateway went away, or the apiserver is down: reconnect (maybe to the other gateway) and ask again.
        rec.interrupted = true;
        await this.reconnect(w, slot);
      }
      await Bun.sleep(call.cancelAfterMs && !cancelled ? Math.min(200, call.cancelAfterMs) : 300);
    }
    rec.outcome = "unexpected";
    rec.detail = `${taskId}: not finished in time`;
  }

  /** Writes the call's Task directly (sent again until it exists) and takes its outcome from the Task. */
  private async runDirect(call: PlannedCall, rec: CallRecord): Promise<void> {
    const { o, plan, rng, mcp, namespace, watch } = this.ctx;
    const name = `direct-${call.callId}`;
    const deadline =
      call.kind === "direct_deadline"
        ? new Date(Date.now() + 3000 + rng.int(0, 2000))
        : new Date(Date.now() + (o.settleSeconds + plan.loadSeconds) * 1000);
    for (;;) {
      try {
        await mcp.tasks.create(namespace, {
          metadata: { name },
          spec: {
            requiredCapabilities: ["soak"],
            tool: call.tool,
            payload: call.args,
            priority: call.priority ?? 5,
            deadline: deadline.toISOString(),
            retryPolicy: { maxRetries: 3, backoffStrategy: "linear", backoffSeconds: 1, maxBackoffSeconds: 5 },
          },
        });
        break;
      } catch (err) {
        if (isAlreadyExists(err)) break;
        rec.resent++;
        await Bun.sleep(1000);
      }
    }
    rec.outcome = outcomeOfTask(await watch.follow(call.callId, (o.settleSeconds + plan.loadSeconds) * 1000));
  }
}
