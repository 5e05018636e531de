/**
 * The standard grpc.health.v1 service (Check and Watch), from the ts-proto code
 * of the vendored health.proto. It answers as grpc-health-check does, without
 * that package: it parses its .proto with protobufjs at start-up, which costs
 * the scheduler's idle memory several MiB.
 */
import { type Server, status as Status } from "@grpc/grpc-js";
import {
  type HealthServer,
  HealthService,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../proto/gen/grpc/health/v1/health.ts";

export { ServingStatus };

export class Health {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(s: ServingStatus) => void>>();

  /** `initial` maps a service name ("" for the whole server) to its status. */
  constructor(initial: Record<string, ServingStatus> = {}) {
    for (const [service, s] of Object.entries(initial)) this.statuses.set(service, s);
  }

  /** Sets a service's status and tells every Watch of it. */
  setStatus(service: string, s: ServingStatus): void {
    this.statuses.set(service, s);
    for (const watcher of this.watchers.get(service) ?? []) watcher(s);
  }

  implementation(): HealthServer {
    return {
      check: (call, callback) => {
        const s = this.statuses.get(call.request.service);
        if (s === undefined) {
          return callback({
            code: Status.NOT_FOUND,
            details: `Health status unknown for service ${call.request.service}`,
          });
        }
        return callback(null, { status: s });
      },
      watch: (call) => {
        const service = call.request.service;
        const watcher = (s: ServingStatus) => call.write({ status: s });
        const set = this.watchers.get(service) ?? new Set();
        this.watchers.set(service, set);
        set.add(watcher);
        call.on("cancelled", () => {
          set.delete(watcher);
          if (set.size === 0 && this.watchers.get(service) === set) this.watchers.delete(service);
        });
        // An unknown service is not an error for Watch: it may appear later.
        call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
      },
    };
  }

  addToServer(server: Server): void {
    server.addService(HealthService, this.implementation());
  }
}
