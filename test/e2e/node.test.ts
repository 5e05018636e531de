// The end-to-end suite: the conductor as users run it, on a real node built
// on this machine (kubelet, containerd, CNI, kube-proxy, CoreDNS) with images
// built here. One cluster for the whole suite; its parts run in this order,
// each leaving the cluster as the next expects it.
import { afterAll, beforeAll, describe } from "bun:test";
import { nodeUnavailable, testNodeCluster } from "../harness/node.ts";
import { registerAgentPrivileges } from "./agent-privileges.ts";
import { registerFaults } from "./faults.ts";
import { registerHelm } from "./helm.ts";
import { registerDomains, registerInstall } from "./install.ts";
import { registerMcpServers } from "./mcp-servers.ts";
import { registerNetworkPolicies } from "./network-policies.ts";
import { registerReplicas } from "./replicas.ts";
import { registerSandbox } from "./sandbox.ts";
import type { E2e } from "./suite.ts";
import { registerTeardown } from "./teardown.ts";
import { registerUpNode } from "./up-node.ts";

const unavailable = nodeUnavailable();
const e2e = { figures: {} } as E2e;

describe.skipIf(!!unavailable)(`end to end on a real node${unavailable ? ` (${unavailable})` : ""}`, () => {
  beforeAll(async () => {
    e2e.cluster = await testNodeCluster();
    e2e.figures.nodeStartSeconds = e2e.cluster.startSeconds;
  }, 900_000);
  afterAll(() => {
    console.log(`e2e figures: ${JSON.stringify(e2e.figures)}`);
  });

  registerInstall(e2e);
  registerReplicas(e2e);
  registerFaults(e2e);
  registerMcpServers(e2e);
  registerDomains(e2e, () => {
    registerSandbox(e2e);
    registerNetworkPolicies(e2e);
    registerAgentPrivileges(e2e);
  });
  registerHelm(e2e);
  registerTeardown(e2e);
  registerUpNode(e2e);
});
