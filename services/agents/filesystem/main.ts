// The filesystem agent: bun services/agents/filesystem/main.ts --root /data (or FS_ROOT)
import { runAgent } from "../../../lib/agent/main.ts";
import { filesystemSettings } from "./config.ts";
import { filesystemTools } from "./tools.ts";

await runAgent({ kind: "filesystem", settings: filesystemSettings, tools: ({ root }) => filesystemTools({ root }) });
