// The http-client agent: HTTP_ALLOWED_HOSTS=api.example.com,*.internal bun services/agents/http-client/main.ts
import { parseArgs } from "node:util";
import { runAgent } from "../../../lib/agent/main.ts";
import { httpTools } from "./tools.ts";

const { values } = parseArgs({
  strict: false,
  options: { "allowed-hosts": { type: "string", default: process.env.HTTP_ALLOWED_HOSTS ?? "" } },
});
const allowedHosts = String(values["allowed-hosts"])
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
await runAgent({ kind: "http-client", tools: httpTools({ allowedHosts }) });
