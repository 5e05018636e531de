/** The settings of `npm run up` / `conductor up` (docs/operations.md#configuration lists them). */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { boolean, type ConfigOf, defineProgram, logLevel, string } from "../../lib/config/config.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";

/** A namespace's name: a DNS label (RFC 1123), as the apiserver requires. */
const dnsLabel = (name: string) =>
  /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)
    ? undefined
    : "must be a namespace name: lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit";

export const upProgram = defineProgram({
  name: "up",
  usage: "bun services/up/main.ts [--local] [--namespace mcp-system] | --node [--domain data-processing]",
  summary:
    "Runs the conductor: against the cluster $KUBECONFIG names when it answers, else on a local control plane; with --node, as pods on a local node (root).",
  settings: {
    local: boolean({
      env: "UP_LOCAL",
      default: false,
      doc: "Always start a local control plane, even when $KUBECONFIG reaches a cluster.",
    }),
    namespace: string({
      env: "NAMESPACE",
      default: "mcp-system",
      doc: "The domain's namespace, made when missing (without --node).",
      check: dnsLabel,
    }),
    node: boolean({
      env: "UP_NODE",
      default: false,
      doc: "A local control plane with a real node (root only): the conductor runs as pods, from the images built here.",
    }),
    domain: string({
      env: "UP_DOMAIN",
      default: "data-processing",
      doc: "With --node, the overlay installed (kustomize/overlays/NAME).",
      check: (name) =>
        dnsLabel(name) === undefined && existsSync(join(repoRoot, "kustomize", "overlays", name, "kustomization.yaml"))
          ? undefined
          : "must name an overlay in kustomize/overlays",
    }),
    logLevel: logLevel("warn"),
  },
  check: (c) =>
    c.node && c.local ? [{ key: "local", message: "and --node are two ways to run the conductor: choose one" }] : [],
});

export type UpConfig = ConfigOf<typeof upProgram.settings>;
