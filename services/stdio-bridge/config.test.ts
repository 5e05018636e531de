import { expect, test } from "bun:test";
import { loadBridgeConfig } from "./config.ts";

test.each([
  {
    given: ["--", "server"],
    env: {},
    want: { port: 8080, path: "/mcp", maxSessions: 32, command: "server", args: [] },
  },
  {
    given: ["--port", "9000", "--path=/x", "--max-sessions", "3", "--", "node", "s.js", "--port", "1"],
    env: { PORT: "1" },
    want: { port: 9000, path: "/x", maxSessions: 3, command: "node", args: ["s.js", "--port", "1"] },
  },
  { given: ["--", "s"], env: { PORT: "7000" }, want: { port: 7000 } },
])("reads $given", ({ given, env, want }) => {
  expect(loadBridgeConfig(given, env)).toMatchObject(want);
});

test.each([
  { given: [], says: "mcp-stdio-bridge: no command to run: usage: mcp-stdio-bridge [--port 8080]" },
  { given: ["--port=8080"], says: "no command to run" },
  { given: ["server"], says: 'mcp-stdio-bridge: unexpected argument "server"' },
  { given: ["--max-sessions=0", "--", "s"], says: "maxSessions (--max-sessions): must be an integer of at least 1" },
  { given: ["--path=mcp", "--", "s"], says: 'path (--path): must start with /, got "mcp"' },
  { given: ["--port=x", "--", "s"], says: "port (--port/PORT): must be an integer from 0 to 65535" },
])("refuses $given", ({ given, says }) => {
  expect(() => loadBridgeConfig(given, {})).toThrow(says);
});
