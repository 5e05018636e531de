/** The gateway's Prometheus metrics, every series labelled with the domain. */
import { Counter, Gauge, Histogram, Registry } from "../../lib/metrics.ts";

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<"method" | "status">;
  readonly rpcRequests: Counter<"method">;
  readonly toolCalls: Counter<"tool" | "outcome">;
  readonly toolCallDuration: Histogram<"tool">;
  readonly tasksInFlight: Gauge;
  readonly sessions: Gauge;
  readonly sessionRehydrations: Counter<"outcome">;
  readonly streamResumes: Counter<"where">;
  readonly callsLimited: Counter<"reason">;
  readonly toolAuthorizations: Counter<"decision" | "cached">;
  readonly toolRegistryRebuilds: Counter;

  constructor(domain: string, collect: { inFlight: () => number; sessions: () => number }) {
    this.registry.setDefaultLabels({ domain });
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: "mcp_gateway_http_requests_total",
      help: "HTTP requests by method and status",
      labelNames: ["method", "status"],
      registers,
    });
    this.rpcRequests = new Counter({
      name: "mcp_gateway_rpc_messages_total",
      help: "JSON-RPC messages received, by MCP method",
      labelNames: ["method"],
      registers,
    });
    this.toolCalls = new Counter({
      name: "mcp_gateway_tool_calls_total",
      help: "tools/call by tool and outcome (completed, tool_error, task_created, input_required, invalid_params, forbidden, limited, internal_error, cancelled), in both protocol eras",
      labelNames: ["tool", "outcome"],
      registers,
    });
    this.toolCallDuration = new Histogram({
      name: "mcp_gateway_tool_call_duration_seconds",
      help: "tools/call latency, from the request to the Task's result",
      labelNames: ["tool"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.tasksInFlight = new Gauge({
      name: "mcp_gateway_tasks_in_flight",
      help: "Tool calls waiting for their Task",
      registers,
      collect() {
        this.set(collect.inFlight());
      },
    });
    this.sessions = new Gauge({
      name: "mcp_gateway_sessions",
      help: "2025 MCP sessions in this replica's memory (opened here, or rebuilt from their ids)",
      registers,
      collect() {
        this.set(collect.sessions());
      },
    });
    this.sessionRehydrations = new Counter({
      name: "mcp_gateway_session_rehydrations_total",
      help: "Session ids this replica did not hold: rebuilt from the sealed id (rehydrated), or refused with 404 (rejected: malformed, forged, expired, another client's, or DELETEd here)",
      labelNames: ["outcome"],
      registers,
    });
    this.streamResumes = new Counter({
      name: "mcp_gateway_stream_resumes_total",
      help: "2025 streams resumed with Last-Event-ID: replayed from the events this replica holds (events), or answered from the calls' Tasks where it holds none (tasks)",
      labelNames: ["where"],
      registers,
    });
    this.callsLimited = new Counter({
      name: "mcp_gateway_calls_limited_total",
      help: "tools/call refused with -32004 before any Task ran: caller_in_flight (the caller's cap on unfinished Tasks) or domain_quota (the namespace's ResourceQuota on count/tasks.mcp.io)",
      labelNames: ["reason"],
      registers,
    });
    this.toolRegistryRebuilds = new Counter({
      name: "mcp_gateway_tool_registry_rebuilds_total",
      help: "Rebuilds of the tool list from the domain's Agents and MCPServers: one per change of what they offer, none per heartbeat",
      registers,
    });
    this.toolAuthorizations = new Counter({
      name: "mcp_gateway_tool_authorizations_total",
      help: "Tool authorization decisions (RBAC: verb call on tools.mcp.io/<tool>): decision allowed or denied, cached true when no SubjectAccessReview was sent",
      labelNames: ["decision", "cached"],
      registers,
    });
  }
}
