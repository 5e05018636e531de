/** The filesystem agent's own settings, besides the runtime's (lib/agent/config.ts). */
import { string } from "../../../lib/config/config.ts";

export const filesystemSettings = {
  root: string({
    env: "FS_ROOT",
    default: "/data",
    doc: "The folder its tools may read and write, and nothing outside.",
  }),
};
