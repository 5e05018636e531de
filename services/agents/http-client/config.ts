/** The http-client agent's own settings, besides the runtime's (lib/agent/config.ts). */
import { list } from "../../../lib/config/config.ts";

export const httpClientSettings = {
  allowedHosts: list({
    env: "HTTP_ALLOWED_HOSTS",
    default: [],
    defaultDoc: "none",
    doc: "Hosts its tools may call; a pattern may start with *. (none: it calls nothing).",
  }),
};
