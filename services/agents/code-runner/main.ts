// The code-runner agent: bun services/agents/code-runner/main.ts --namespace mcp-content
import { runAgent } from "../../../lib/agent/main.ts";
import { createLogger } from "../../../lib/log.ts";
import { codeRunnerSettings, precheckPolicy } from "./config.ts";
import { probeSandbox, useSandboxBinaries } from "./sandbox.ts";
import { codeRunnerTools, defaultLimits } from "./tools.ts";

await runAgent({
  kind: "code-runner",
  settings: codeRunnerSettings,
  tools: (config) => {
    useSandboxBinaries({ python: config.python, bwrap: config.bwrap });
    return codeRunnerTools(defaultLimits, precheckPolicy(config));
  },
});

// Said once at start, where an operator looks: every run_code would fail the same way.
const unavailable = await probeSandbox();
if (unavailable) {
  createLogger({ service: "code-runner" }).error(
    { reason: "SandboxUnavailable", detail: unavailable },
    "Snippets cannot be sandboxed on this node, so none will run (docs/deployment.md: the code-runner's seccomp profile)",
  );
}
