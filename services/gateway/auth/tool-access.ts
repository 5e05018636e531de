/**
 * Who may call which tool, decided by Kubernetes RBAC: a caller may call (and
 * see) a tool when the apiserver says its user and groups may `call` the
 * resource `tools` of group mcp.io named after the tool, in the domain's
 * namespace. So a Role with
 *
 *   rules: [{ apiGroups: [mcp.io], resources: [tools], verbs: [call], resourceNames: [read_file] }]
 *
 * bound to a ServiceAccount lets that workload call read_file and nothing
 * else. The check is a LocalSubjectAccessReview, namespaced, so the gateway's
 * Role grants it without a cluster-wide binding (`kubectl auth can-i` cannot
 * ask it: for a resource no API serves it sends "tools.mcp.io" as the
 * resource, with no group; docs/clients.md shows the review to create).
 *
 * Decisions are cached briefly (`ttlMs`, 10 s by default: a revoked binding
 * takes effect within it), bounded (`maxEntries`, least recently used out
 * first), and concurrent questions for the same answer share one review. A
 * review that fails is not cached and throws: the call is refused as an
 * internal error rather than let through (fail closed).
 */
import pLimit from "p-limit";
import type { KubeConnection } from "../../../lib/kube/connection.ts";
import { TtlCache } from "../../../lib/ttl-cache.ts";
import { groupsHash, type Subject } from "./subject.ts";

export const toolResource = { group: "mcp.io", resource: "tools", verb: "call" } as const;

interface ReviewStatus {
  allowed?: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

export interface ToolAccessOptions {
  namespace: string;
  /** How long a decision is trusted (default 10 s). */
  ttlMs?: number;
  /** Decisions kept at most (default 10 000). */
  maxEntries?: number;
  /** How long one review may take before the question fails (default 5 s). */
  timeoutMs?: number;
  /** Reviews in flight at most (tools/list asks about every tool; default 8). */
  concurrency?: number;
  now?: () => number;
  /** Told of every decision: from the cache, or from a review. */
  onDecision?: (d: { allowed: boolean; cached: boolean }) => void;
}

export class ToolAccessReview {
  private readonly cache: TtlCache<boolean>;
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly now: () => number;
  /** Reviews sent to the apiserver, for tests and figures. */
  reviews = 0;

  constructor(
    private readonly conn: KubeConnection,
    private readonly opts: ToolAccessOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.cache = new TtlCache(opts.maxEntries ?? 10_000, this.now);
    this.limit = pLimit(opts.concurrency ?? 8);
  }

  /** Forgets every decision (a benchmark's cold case). */
  clear(): void {
    this.cache.clear();
  }

  /** Whether the subject may call the tool; throws when the apiserver cannot say. */
  async allowed(subject: Subject, tool: string): Promise<boolean> {
    const key = `${subject.user}\u0000${groupsHash(subject.groups)}\u0000${tool}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.opts.onDecision?.({ allowed: hit, cached: true });
      return hit;
    }
    let asked = this.pending.get(key);
    if (!asked) {
      asked = this.limit(() => this.review(subject, tool)).finally(() => this.pending.delete(key));
      this.pending.set(key, asked);
    }
    const allowed = await asked;
    this.cache.set(key, allowed, this.now() + (this.opts.ttlMs ?? 10_000));
    this.opts.onDecision?.({ allowed, cached: false });
    return allowed;
  }

  private async review(subject: Subject, tool: string): Promise<boolean> {
    this.reviews++;
    const ns = this.opts.namespace;
    const res = await this.conn.request<{ status?: ReviewStatus }>(
      "POST",
      `/apis/authorization.k8s.io/v1/namespaces/${ns}/localsubjectaccessreviews`,
      {
        // an apiserver that hangs fails the call (-32603) rather than holding it
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "LocalSubjectAccessReview",
          metadata: { namespace: ns },
          spec: {
            user: subject.user,
            groups: subject.groups,
            resourceAttributes: { namespace: ns, ...toolResource, name: tool },
          },
        },
      },
    );
    return res.status?.allowed === true && res.status.denied !== true;
  }
}
