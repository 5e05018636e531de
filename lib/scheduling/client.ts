/**
 * A promise-based client of the scheduler service, with a deadline per call.
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import {
  type Candidate,
  type Placement,
  SchedulerServiceClient,
  type TaskSpec,
  type WhatIfResponse,
} from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";

export class SchedulerClient {
  private readonly client: SchedulerServiceClient;

  constructor(
    address: string,
    private readonly timeoutMs = 5_000,
  ) {
    this.client = new SchedulerServiceClient(address, credentials.createInsecure(), {
      // grpc-js backs off reconnecting up to 120 s: a scheduler replaced while the
      // channel was failing would then sit unused for tens of seconds after it is back,
      // and every Task waits for placement meanwhile. The scheduler is stateless and
      // close by, so try again soon.
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2_000,
    });
  }

  place(task: TaskSpec, candidates: Candidate[]): Promise<Placement> {
    return new Promise((resolve, reject) => {
      this.client.place({ task, candidates }, new Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err
          ? reject(err)
          : resolve(res.placement ?? { chosenAgent: "", candidates: [], topReasons: [], candidateCount: 0 }),
      );
    });
  }

  placeBatch(tasks: TaskSpec[], candidates: Candidate[], candidateLimit = 0): Promise<Placement[]> {
    return new Promise((resolve, reject) => {
      this.client.placeBatch(
        { tasks, candidates, candidateLimit },
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err, res) => (err ? reject(err) : resolve(res.placements)),
      );
    });
  }

  whatIf(namespace: string, task: TaskSpec): Promise<WhatIfResponse> {
    return new Promise((resolve, reject) => {
      this.client.whatIf({ namespace, task }, new Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
