// The filesystem agent: bun services/agents/filesystem/main.ts --root /data (or FS_ROOT)
import { parseArgs } from "node:util";
import { runAgent } from "../../../lib/agent/main.ts";
import { filesystemTools } from "./tools.ts";

const { values } = parseArgs({
  strict: false,
  options: { root: { type: "string", default: process.env.FS_ROOT ?? "/data" } },
});
await runAgent({ kind: "filesystem", tools: filesystemTools({ root: String(values.root) }) });
