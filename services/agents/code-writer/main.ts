// The code-writer agent: bun services/agents/code-writer/main.ts --namespace mcp-content
import { runAgent } from "../../../lib/agent/main.ts";
import { tools } from "./tools.ts";

await runAgent({ kind: "code-writer", tools });
