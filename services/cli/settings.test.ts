import { describe, expect, test } from "bun:test";
import { UsageError } from "./errors.ts";
import { cliSettings } from "./settings.ts";

describe("the CLI's shared settings", () => {
  test.each([
    ["defaults", {}, {}, { gateway: "http://127.0.0.1:8080/mcp", token: undefined, scheduler: "127.0.0.1:9090" }],
    [
      "the environment over the defaults",
      {},
      { CONDUCTOR_GATEWAY: "https://gw.example:8443/mcp", CONDUCTOR_TOKEN: "t0k", CONDUCTOR_SCHEDULER: "sched:9090" },
      { gateway: "https://gw.example:8443/mcp", token: "t0k", scheduler: "sched:9090" },
    ],
    [
      "flags over the environment",
      { gateway: "http://flag:1/mcp", token: "flag-token", scheduler: "[::1]:7000" },
      { CONDUCTOR_GATEWAY: "http://env:2/mcp", CONDUCTOR_TOKEN: "env-token", CONDUCTOR_SCHEDULER: "env:1" },
      { gateway: "http://flag:1/mcp", token: "flag-token", scheduler: "[::1]:7000" },
    ],
    [
      "an empty flag is no flag",
      { gateway: "", scheduler: undefined },
      { CONDUCTOR_GATEWAY: "http://env:2/mcp" },
      { gateway: "http://env:2/mcp", token: undefined, scheduler: "127.0.0.1:9090" },
    ],
  ] as const)("%s", (_, flags, env, want) => {
    expect(cliSettings("call", flags, env)).toEqual(want);
  });

  test.each([
    [
      "call",
      { gateway: "not a url" },
      {},
      'call: gateway (--gateway/CONDUCTOR_GATEWAY): must be a URL: http://host:port/mcp, got "not a url"',
    ],
    [
      "call",
      { gateway: "ftp://x/mcp" },
      {},
      'call: gateway (--gateway/CONDUCTOR_GATEWAY): must be an http or https URL, got "ftp://x/mcp"',
    ],
    [
      "call",
      {},
      { CONDUCTOR_GATEWAY: "gw" },
      'call: gateway (--gateway/CONDUCTOR_GATEWAY): must be a URL: http://host:port/mcp, got "gw"',
    ],
    [
      "whatif",
      { scheduler: "sched" },
      {},
      'whatif: scheduler (--scheduler/CONDUCTOR_SCHEDULER): must be host:port, with a port from 1 to 65535, got "sched"',
    ],
    ["whatif", { scheduler: "sched:0" }, {}, "whatif: scheduler (--scheduler/CONDUCTOR_SCHEDULER): must be host:port"],
    [
      "whatif",
      { scheduler: "sched:65536" },
      {},
      "whatif: scheduler (--scheduler/CONDUCTOR_SCHEDULER): must be host:port",
    ],
    [
      "whatif",
      { scheduler: "http://sched:1" },
      {},
      "whatif: scheduler (--scheduler/CONDUCTOR_SCHEDULER): must be host:port",
    ],
    [
      "whatif",
      {},
      { CONDUCTOR_SCHEDULER: "a b:1" },
      "whatif: scheduler (--scheduler/CONDUCTOR_SCHEDULER): must be host:port",
    ],
  ] as const)("%s %o %o is refused", (command, flags, env, message) => {
    let err: unknown;
    try {
      cliSettings(command, flags, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toStartWith(message);
  });

  test("the edges of a port are allowed", () => {
    expect(cliSettings("whatif", { scheduler: "h:1" }, {}).scheduler).toBe("h:1");
    expect(cliSettings("whatif", { scheduler: "h:65535" }, {}).scheduler).toBe("h:65535");
  });
});
