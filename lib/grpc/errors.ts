/**
 * One mapping from thrown errors to gRPC statuses for every handler:
 * validation errors become INVALID_ARGUMENT naming the field, a candidate
 * set not kept FAILED_PRECONDITION (send it again), Kubernetes
 * refusals keep their meaning, anything else is INTERNAL with a generic
 * message (the cause goes to the log, not to the caller).
 */
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { KubeApiError, KubeConnectionError } from "../kube/errors.ts";
import type { Logger } from "../log.ts";
import { UnknownCandidateSetError } from "../scheduling/candidate-sets.ts";
import { InvalidArgumentError } from "../scheduling/policy.ts";

export function toServiceError(err: unknown, log: Logger, method: string): Partial<ServiceError> {
  const make = (code: status, details: string): Partial<ServiceError> => ({ code, details, metadata: new Metadata() });
  if (err instanceof InvalidArgumentError) return make(status.INVALID_ARGUMENT, err.message);
  if (err instanceof UnknownCandidateSetError) return make(status.FAILED_PRECONDITION, err.message);
  if (err instanceof KubeApiError) {
    if (err.statusCode === 403) return make(status.PERMISSION_DENIED, err.message);
    if (err.statusCode === 404) return make(status.NOT_FOUND, err.message);
  }
  if (err instanceof KubeConnectionError) return make(status.UNAVAILABLE, "the Kubernetes API is unreachable");
  log.error({ err, method }, "Handler failed");
  return make(status.INTERNAL, "internal error");
}
