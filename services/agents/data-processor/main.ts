// The data-processor agent: bun services/agents/data-processor/main.ts --namespace mcp-data-processing
import { runAgent } from "../../../lib/agent/main.ts";
import { tools } from "./tools.ts";

await runAgent({ kind: "data-processor", tools });
