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
    this.client = new SchedulerServiceClient(address, credentials.createInsecure());
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
