/**
 * Who a caller is to Kubernetes RBAC: the user and groups a SubjectAccessReview
 * asks about, and that the caller's Tasks record. Kubernetes tokens keep the
 * user and groups the apiserver gave them; every other authenticated caller is
 * in system:authenticated as a Kubernetes user would be, a static-token
 * client also in mcp.io:static-tokens (so one RoleBinding covers them all);
 * open mode's anonymous caller is system:anonymous in system:unauthenticated,
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
    case "static":
      return { user: identity.client, groups: unique([...identity.groups, staticTokensGroup, "system:authenticated"]) };
    case "oauth":
      return { user: identity.client, groups: unique([...identity.groups, "system:authenticated"]) };
  }
}

const unique = (groups: string[]) => [...new Set(groups)].sort();

/**
 * A short, stable digest of a set of groups (order and repeats do not
 * matter): 16 hex digits, a valid label value, so a Task can record which
 * groups its caller had without listing them.
 */
export function groupsHash(groups: string[]): string {
  return createHash("sha256").update(unique(groups).join("\n")).digest("hex").slice(0, 16);
}
