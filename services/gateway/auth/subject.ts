/**
 * Who a caller is to Kubernetes RBAC: the user and groups a SubjectAccessReview
 * asks about, and that the caller's Tasks record. Kubernetes tokens keep the
 * user and groups the apiserver gave them. What an OAuth token claims is
 * prefixed with `oauth:` (user and each group), as the apiserver's
 * --oidc-username-prefix and --oidc-groups-prefix do, and claimed groups
 * under `system:` or `mcp.io:` are dropped: an identity provider's user must
 * not pass for a service account or the static-token holders. A static-token
 * client is its file's name (a name under `system:` is prefixed with
 * `static:`) in mcp.io:static-tokens, so one RoleBinding covers them all.
 * Every authenticated caller is in system:authenticated, as a Kubernetes user
 * would be; open mode's caller is system:anonymous in system:unauthenticated,
 * as the apiserver names one.
 */
import { createHash } from "node:crypto";
import type { Identity } from "./types.ts";

export interface Subject {
  user: string;
  groups: string[];
}

/** The group of every client that holds a static token. */
export const staticTokensGroup = "mcp.io:static-tokens";

export const anonymousSubject: Subject = { user: "system:anonymous", groups: ["system:unauthenticated"] };

export function subjectOf(identity: Identity): Subject {
  switch (identity.method) {
    case "anonymous":
      return anonymousSubject;
    case "kubernetes":
      return { user: identity.client, groups: unique(identity.groups) };
    case "static": {
      const user = identity.client.startsWith("system:") ? `static:${identity.client}` : identity.client;
      return { user, groups: [staticTokensGroup, "system:authenticated"] };
    }
    case "oauth": {
      const claimed = identity.groups.filter((g) => !reservedGroup(g)).map((g) => `${oauthPrefix}${g}`);
      return { user: `${oauthPrefix}${identity.client}`, groups: unique([...claimed, "system:authenticated"]) };
    }
  }
}

const unique = (groups: string[]) => [...new Set(groups)].sort();

/** What an OAuth token's user and groups are prefixed with. */
export const oauthPrefix = "oauth:";

/** Groups only Kubernetes or the gateway itself may put a caller in. */
const reservedGroup = (g: string) => g.startsWith("system:") || g.startsWith("mcp.io:");

/**
 * A short, stable digest of a set of groups (order and repeats do not
 * matter): 16 hex digits, a valid label value, so a Task can record which
 * groups its caller had without listing them.
 */
export function groupsHash(groups: string[]): string {
  return createHash("sha256").update(unique(groups).join("\n")).digest("hex").slice(0, 16);
}
