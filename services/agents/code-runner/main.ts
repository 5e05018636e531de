// The code-runner agent: bun services/agents/code-runner/main.ts --namespace mcp-content
import { runAgent } from "../../../lib/agent/main.ts";
import { codeRunnerTools } from "./tools.ts";

await runAgent({ kind: "code-runner", tools: codeRunnerTools() });
