/**
 * The README's install, as the shell lines a user types (kubectl on PATH, run
 * from the repository): the cluster-wide part once, then a domain and its
 * gateway token. `up --node` and the end-to-end suite run these lines, and the
 * suite checks the README holds them word for word.
 */
export const installClusterCommand = "kubectl kustomize kustomize/cluster | kubectl apply --server-side -f -";

export const installDomainCommand = (domain: string) =>
  `kubectl kustomize kustomize/overlays/${domain} | kubectl apply --server-side -f -`;

export const createTokenCommand = (domain: string) =>
  `kubectl -n mcp-${domain} create secret generic mcp-gateway-tokens --from-literal=my-client=$(openssl rand -hex 24)`;

/**
 * Waits until the domain takes calls: its Deployments Available, and its
 * ResourceQuota on Tasks counted (until Kubernetes has counted it, the
 * apiserver refuses every Task; services/controller/quota-recount.ts).
 */
export const waitReadyCommands = (domain: string) => [
  `kubectl -n mcp-${domain} wait deployment --all --for=condition=Available --timeout=5m`,
  `kubectl -n mcp-${domain} wait resourcequota/mcp-tasks --for=jsonpath='{.status.used.count/tasks\\.mcp\\.io}' --timeout=5m`,
];
