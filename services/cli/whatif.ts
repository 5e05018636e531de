/**
 * `conductor whatif`: asks the scheduler's WhatIf where a task with these
 * requirements would go in a namespace, without creating it, and shows for
 * every agent whether it fits and why. Like `kubectl auth can-i`, the exit
 * code is the answer: 0 when some agent fits, 1 when none does.
 */
import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { SchedulerClient } from "../../lib/scheduling/client.ts";
import type { WhatIfResponse } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { helpOption, integerFlag, outputFormat, outputOption, parse } from "./args.ts";
import { defaultNamespace } from "./connect.ts";
import { CommandError, UsageError } from "./errors.ts";
import { formatDocument, formatTable } from "./output.ts";
import { cliSettings } from "./settings.ts";

export const whatifUsage = `usage: conductor whatif --capability NAME [flags]

Asks the scheduler where a task would go, without creating it. Exits 0 when an
agent fits, 1 when none does.

Flags:
  -c, --capability NAME   a required capability (repeat for several)
  -p, --priority N        1 to 10 (default 5)
      --tag TAG           a tag the agent must have (repeat for several)
      --prefer TAG        a tag that scores higher (repeat for several)
      --avoid TAG         a tag the agent must not have (repeat for several)
  -n, --namespace NS      the domain namespace (default ${defaultNamespace})
      --scheduler ADDR    the scheduler's gRPC address (default $CONDUCTOR_SCHEDULER, else 127.0.0.1:9090)
      --timeout SECONDS   how long to wait for the answer (default 5)
  -o, --output FORMAT     json or yaml (default: a table)`;

export async function runWhatIf(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse("whatif", args, {
    ...outputOption,
    ...helpOption,
    namespace: { type: "string", short: "n" },
    capability: { type: "string", short: "c", multiple: true },
    priority: { type: "string", short: "p" },
    tag: { type: "string", multiple: true },
    prefer: { type: "string", multiple: true },
    avoid: { type: "string", multiple: true },
    scheduler: { type: "string" },
    timeout: { type: "string" },
  });
  if (values.help) {
    out(`${whatifUsage}\n`);
    return 0;
  }
  const format = outputFormat("whatif", values.output);
  if (positionals.length > 0) throw new UsageError(`whatif: unexpected argument "${positionals[0]}"`);
  const capabilities = values.capability ?? [];
  if (capabilities.length === 0) throw new UsageError("whatif: at least one --capability is required");
  const priority = integerFlag("whatif", "priority", values.priority, 1, 10) ?? 5;
  const timeoutSeconds = integerFlag("whatif", "timeout", values.timeout, 1, 3600) ?? 5;
  const namespace = values.namespace || defaultNamespace;
  const address = cliSettings("whatif", { scheduler: values.scheduler }).scheduler;

  const client = new SchedulerClient(address, timeoutSeconds * 1000);
  let answer: WhatIfResponse;
  try {
    answer = await client.whatIf(namespace, {
      name: "",
      requiredCapabilities: capabilities,
      priority,
      affinity: { required: values.tag ?? [], preferred: values.prefer ?? [], avoided: values.avoid ?? [] },
      domain: namespace,
    });
  } catch (err) {
    throw schedulerError(err as ServiceError, address);
  } finally {
    client.close();
  }
  const placement = answer.placement ?? { chosenAgent: "", candidates: [], topReasons: [], candidateCount: 0 };
  if (format === "json" || format === "yaml") {
    out(formatDocument({ namespace, placement }, format));
  } else if (placement.candidateCount === 0) {
    out(`No agents in namespace ${namespace}.\n`);
  } else {
    const considered = `${placement.candidateCount} agent${placement.candidateCount === 1 ? "" : "s"} considered in ${namespace}`;
    const summary = placement.chosenAgent
      ? `Chosen: ${placement.chosenAgent} (${considered})`
      : `No agent fits (${considered}): ${placement.topReasons.join(", ")}`;
    const rows = placement.candidates.map((c) => [
      c.agent,
      c.feasible ? "yes" : "no",
      c.feasible ? String(c.score) : "",
      c.reasons.join(", "),
    ]);
    out(`${summary}\n${formatTable(["AGENT", "FITS", "SCORE", "WHY"], rows).join("\n")}\n`);
  }
  return placement.chosenAgent ? 0 : 1;
}

/** The scheduler's gRPC status, said plainly: bad input is a usage error, the rest a failure. */
function schedulerError(err: ServiceError, address: string): Error {
  // grpc-js appends an empty "Resolution note:" to connection failures.
  const details = (err.details ?? err.message).replace(/\.?\s*Resolution note:\s*$/, "");
  switch (err.code) {
    case GrpcStatus.INVALID_ARGUMENT:
      return new UsageError(`whatif: the scheduler rejected the question: ${details}`);
    case GrpcStatus.UNAVAILABLE:
      return new CommandError(`cannot reach the scheduler at ${address}: ${details}`);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new CommandError(`the scheduler at ${address} did not answer in time`);
    default:
      return new CommandError(`the scheduler at ${address} failed: ${details}`);
  }
}
