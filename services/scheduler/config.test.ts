import { expect, test } from "bun:test";
import { loadConfig } from "../../lib/config/config.ts";
import { schedulerProgram } from "./config.ts";

test.each([
  { given: [], env: {}, want: { port: 9090, host: "0.0.0.0", logLevel: "info" } },
  { given: [], env: { SCHEDULER_PORT: "9000", SCHEDULER_HOST: "127.0.0.1" }, want: { port: 9000, host: "127.0.0.1" } },
  { given: ["--port=9001", "--host", "::1"], env: { SCHEDULER_PORT: "9000" }, want: { port: 9001, host: "::1" } },
])("reads $given $env", ({ given, env, want }) => {
  expect(loadConfig(schedulerProgram, given, env)).toMatchObject(want);
});

test.each([
  {
    given: ["--port=65536"],
    says: 'scheduler: port (--port/SCHEDULER_PORT): must be an integer from 0 to 65535, got "65536"',
  },
  { given: ["--port", "grpc"], says: "must be an integer from 0 to 65535" },
  { given: ["--address=x"], says: "scheduler: --address: no such flag" },
])("refuses $given", ({ given, says }) => {
  expect(() => loadConfig(schedulerProgram, given, {})).toThrow(says);
});
