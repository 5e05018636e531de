// The http-client agent: HTTP_ALLOWED_HOSTS=api.example.com,*.internal bun services/agents/http-client/main.ts
import { runAgent } from "../../../lib/agent/main.ts";
import { httpClientSettings } from "./config.ts";
import { httpTools } from "./tools.ts";

await runAgent({
  kind: "http-client",
  settings: httpClientSettings,
  tools: ({ allowedHosts }) => httpTools({ allowedHosts }),
});
