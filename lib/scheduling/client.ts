/**
 * A promise-based client of the scheduler service, with a deadline per call.
 * grpc-js and the generated stubs are loaded on the first call, so a
 * controller with no Task to place does not carry them (about 6 MiB of an
 * idle controller; bench/memory.ts).
 */
import type { Metadata } from "@grpc/grpc-js";
import type {
  Candidate,
  PlaceBatchRequest,
  Placement,
  SchedulerServiceClient,
  TaskSpec,
  WhatIfResponse,
} from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { activeTraceparent } from "../tracing.ts";

interface Channel {
  client: SchedulerServiceClient;
  metadata: () => Metadata;
}

export class SchedulerClient {
  private channel: Promise<Channel> | undefined;
  private closed = false;

  constructor(
    private readonly address: string,
    private readonly timeoutMs = 5_000,
  ) {}

  private open(): Promise<Channel> {
    if (this.closed) return Promise.reject(new Error("The scheduler client is closed"));
    this.channel ??= Promise.all([
      import("@grpc/grpc-js"),
      import("../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts"),
    ]).then(
      ([grpc, gen]) => ({
        client: new gen.SchedulerServiceClient(this.address, grpc.credentials.createInsecure(), {
          // grpc-js backs off reconnecting up to 120 s: a scheduler replaced while the
          // channel was failing would then sit unused for tens of seconds after it is back,
          // and every Task waits for placement meanwhile. The scheduler is stateless and
          // close by, so try again soon.
          "grpc.initial_reconnect_backoff_ms": 200,
          "grpc.max_reconnect_backoff_ms": 2_000,
        }),
        metadata: () => {
          const m = new grpc.Metadata();
          // the span active at the call (the controller's placement) continues in the scheduler
          const traceparent = activeTraceparent();
          if (traceparent) m.set("traceparent", traceparent);
          return m;
        },
      }),
      (err: unknown) => {
        this.channel = undefined;
        throw err;
      },
    );
    return this.channel;
  }

  async place(task: TaskSpec, candidates: Candidate[]): Promise<Placement> {
    const { client, metadata } = await this.open();
    return new Promise((resolve, reject) => {
      client.place({ task, candidates }, metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err
          ? reject(err)
          : resolve(res.placement ?? { chosenAgent: "", candidates: [], topReasons: [], candidateCount: 0 }),
      );
    });
  }

  /** Places `tasks` on `candidates`; with `candidateSet`, the scheduler keeps them under that name (kept-candidates.ts). */
  async placeBatch(
    tasks: TaskSpec[],
    candidates: Candidate[],
    candidateLimit = 0,
    candidateSet = "",
  ): Promise<Placement[]> {
    return this.placeBatchRequest({ tasks, candidates, candidateLimit, candidateSet, currentTasks: [] });
  }

  /** Places `tasks` on the candidates the scheduler keeps under `candidateSet`, with these loads (in the list's order). */
  async placeBatchOnKeptSet(
    tasks: TaskSpec[],
    candidateSet: string,
    currentTasks: number[],
    candidateLimit = 0,
  ): Promise<Placement[]> {
    return this.placeBatchRequest({ tasks, candidates: [], candidateLimit, candidateSet, currentTasks });
  }

  private async placeBatchRequest(req: PlaceBatchRequest): Promise<Placement[]> {
    const { client, metadata } = await this.open();
    return new Promise((resolve, reject) => {
      client.placeBatch(req, metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res.placements),
      );
    });
  }

  async whatIf(namespace: string, task: TaskSpec): Promise<WhatIfResponse> {
    const { client, metadata } = await this.open();
    return new Promise((resolve, reject) => {
      client.whatIf({ namespace, task }, metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  close(): void {
    this.closed = true;
    void this.channel?.then(
      ({ client }) => client.close(),
      () => {},
    );
  }
}
