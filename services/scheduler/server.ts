/**
 * The scheduler's gRPC server: Place (pure), WhatIf (reads live Agents and
 * Tasks, changes nothing), the standard grpc.health.v1 service and server
 * reflection, so Kubernetes gRPC probes and `grpcurl list` work. Neither
 * parses a .proto at start-up (see health.ts and reflection.ts).
 */
import { join } from "node:path";
import { Server, ServerCredentials, type ServerUnaryCall, status as Status, type sendUnaryData } from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import type { Task } from "../../lib/api/resources.ts";
import { mcpClients } from "../../lib/api/resources.ts";
import { toServiceError } from "../../lib/grpc/errors.ts";
import type { KubeConnection } from "../../lib/kube/connection.ts";
import type { Logger } from "../../lib/log.ts";
import { CandidateSets } from "../../lib/scheduling/candidate-sets.ts";
import { loadByAgent, toCandidate } from "../../lib/scheduling/candidates.ts";
import {
  InvalidArgumentError,
  place,
  placeBatch,
  validateCandidates,
  validateTask,
} from "../../lib/scheduling/policy.ts";
import { inSpan, tracedServices } from "../../lib/tracing.ts";
import {
  type Candidate,
  type PlaceBatchRequest,
  type PlaceBatchResponse,
  type PlaceRequest,
  type PlaceResponse,
  type SchedulerServiceServer,
  SchedulerServiceService,
  type WhatIfRequest,
  type WhatIfResponse,
} from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { Health, ServingStatus } from "./health.ts";
import type { SchedulerMetrics } from "./metrics.ts";
import { addLazyReflection } from "./reflection.ts";

const protoRoot = join(import.meta.dir, "..", "..", "proto");
export const schedulerServiceName = "mcp.conductor.scheduler.v1.SchedulerService";

/** Reads the live Agents of a namespace, and the load on each, for what-if questions. */
export type CandidateSource = (namespace: string) => Promise<ReturnType<typeof toCandidate>[]>;

export function kubeCandidateSource(conn: KubeConnection): CandidateSource {
  const { agents, tasks } = mcpClients(conn);
  return async (namespace) => {
    // Only tasks that occupy an agent matter; field selectors keep the lists small.
    const [agentList, assigned, running] = await Promise.all([
      agents.listAll(namespace),
      tasks.listAll(namespace, { fieldSelector: "status.phase=Assigned" }),
      tasks.listAll(namespace, { fieldSelector: "status.phase=Running" }),
    ]);
    const load = loadByAgent([...assigned.items, ...running.items] as Task[]);
    return agentList.items.map((a) => toCandidate(a, load.get(a.metadata.name ?? "") ?? 0));
  };
}

/** One method: its errors as gRPC statuses, each request counted and timed. */
function unary<Req, Res>(
  log: Logger,
  metrics: SchedulerMetrics | undefined,
  method: string,
  fn: (req: Req) => Promise<Res> | Res,
) {
  return async (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): Promise<void> => {
    const end = metrics?.duration.startTimer({ method });
    const traceparent = call.metadata?.get("traceparent")[0];
    let res: Res;
    try {
      res = await inSpan(
        tracedServices.scheduler,
        `mcp.conductor.scheduler.v1.SchedulerService/${method}`,
        {
          kind: SpanKind.SERVER,
          parent: typeof traceparent === "string" ? traceparent : undefined,
          attributes: { "rpc.system": "grpc", "rpc.method": method },
        },
        () => fn(call.request),
      );
    } catch (err) {
      const e = toServiceError(err, log, method);
      end?.();
      metrics?.requests.inc({ method, code: Status[e.code ?? Status.UNKNOWN] ?? "UNKNOWN" });
      return callback(e);
    }
    end?.();
    metrics?.requests.inc({ method, code: "OK" });
    return callback(null, res);
  };
}

/**
 * The candidates a PlaceBatch places on: those it sends (kept under its
 * candidate_set when it names one), or the list kept under its candidate_set
 * with the loads it sends (ADR 0014).
 */
function batchCandidates(req: PlaceBatchRequest, kept: CandidateSets): Candidate[] {
  if (req.candidates.length > 0 || !req.candidateSet) {
    if (req.currentTasks.length > 0)
      throw new InvalidArgumentError("current_tasks", "is for a kept candidate set: send it without candidates");
    validateCandidates(req.candidates);
    if (req.candidateSet) kept.keep(req.candidateSet, req.candidates);
    return req.candidates;
  }
  return kept.withLoads(req.candidateSet, req.currentTasks);
}

export function schedulerImplementation(
  log: Logger,
  candidates: CandidateSource | undefined,
  metrics?: SchedulerMetrics,
): SchedulerServiceServer {
  const weighed = (method: string, n: number) => metrics?.candidates.observe({ method }, n);
  const kept = new CandidateSets();
  return {
    place: unary<PlaceRequest, PlaceResponse>(log, metrics, "Place", (req) => {
      weighed("Place", req.candidates.length);
      const task = validateTask(req.task);
      validateCandidates(req.candidates);
      return { placement: place(task, req.candidates) };
    }),
    placeBatch: unary<PlaceBatchRequest, PlaceBatchResponse>(log, metrics, "PlaceBatch", (req) => {
      req.tasks.forEach((t, i) => {
        validateTask(t, `tasks[${i}]`);
      });
      if (req.candidateLimit < 0) throw new InvalidArgumentError("candidate_limit", "must not be negative");
      const candidates = batchCandidates(req, kept);
      weighed("PlaceBatch", candidates.length);
      return { placements: placeBatch(req.tasks, candidates, req.candidateLimit) };
    }),
    whatIf: unary<WhatIfRequest, WhatIfResponse>(log, metrics, "WhatIf", async (req) => {
      if (!req.namespace) throw new InvalidArgumentError("namespace", "is required");
      const task = validateTask(req.task);
      if (!candidates) throw new Error("what-if needs access to the Kubernetes API");
      // The task's domain is the namespace asked about: no cross-domain answers.
      const spec = { ...task, domain: req.namespace, name: task.name || "what-if" };
      const live = await candidates(req.namespace);
      weighed("WhatIf", live.length);
      return { placement: place(spec, live) };
    }),
  };
}

export interface SchedulerServer {
  server: Server;
  port: number;
  health: Health;
  stop(): Promise<void>;
}

export async function startSchedulerServer(opts: {
  host?: string;
  port?: number;
  log: Logger;
  candidates?: CandidateSource;
  metrics?: SchedulerMetrics;
}): Promise<SchedulerServer> {
  const server = new Server();
  server.addService(SchedulerServiceService, schedulerImplementation(opts.log, opts.candidates, opts.metrics));
  const health = new Health({ "": ServingStatus.SERVING, [schedulerServiceName]: ServingStatus.SERVING });
  health.addToServer(server);
  addLazyReflection(
    server,
    ["mcp/conductor/scheduler/v1/scheduler.proto", "grpc/health/v1/health.proto"],
    [protoRoot, join(protoRoot, "third_party")],
  );

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host ?? "127.0.0.1"}:${opts.port ?? 0}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  opts.log.info({ port }, "Scheduler listening");
  return {
    server,
    port,
    health,
    stop: () =>
      new Promise<void>((resolve) => {
        health.setStatus("", ServingStatus.NOT_SERVING);
        server.tryShutdown(() => resolve());
      }),
  };
}
