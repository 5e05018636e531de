/**
 * The shipped apiserver authorization of deploy/authorization/ (ADR 0011), for
 * a LocalControlPlane started with `authorizationWebhook`, so that the local
 * apiserver asks the agents' task authorizer exactly what a cluster
 * configured from that file asks it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { repoRoot } from "./binaries.ts";
import type { AuthorizationWebhook } from "./local.ts";

export const authorizationConfigPath = join(repoRoot, "deploy", "authorization", "authorization-config.yaml");

/** The Webhook entry of the shipped AuthorizationConfiguration (its connectionInfo is the local plane's to set). */
export function shippedAgentTasksAuthorizer(): AuthorizationWebhook["authorizer"] {
  const config = parse(readFileSync(authorizationConfigPath, "utf8")) as {
    authorizers: { type: string; name: string; webhook?: Record<string, unknown> }[];
  };
  const entry = config.authorizers.find((a) => a.type === "Webhook");
  if (!entry?.webhook) throw new Error(`${authorizationConfigPath}: no Webhook authorizer`);
  const { connectionInfo: _, ...webhook } = entry.webhook;
  return { type: "Webhook", name: entry.name, webhook };
}

export const authorizerKubeconfigPath = join(repoRoot, "deploy", "authorization", "authorizer-kubeconfig.yaml");

/** Where the shipped kubeconfig has the apiserver reach the authorizer: the Service's fixed clusterIP. */
export function shippedAuthorizerUrl(): URL {
  const kubeconfig = parse(readFileSync(authorizerKubeconfigPath, "utf8")) as {
    clusters: { cluster: { server: string } }[];
  };
  const server = kubeconfig.clusters[0]?.cluster.server;
  if (!server) throw new Error(`${authorizerKubeconfigPath}: no cluster server`);
  return new URL(server);
}
