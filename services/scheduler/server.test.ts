// The scheduler's standard services as a person and a kubelet reach them:
// grpc.health.v1 through the generated client and grpcurl, and server
// reflection (loaded on the first call) through grpcurl list, describe and a
// WhatIf called by name. The grpcurl tests need `bash hack/tools/build.sh`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { grpcurlBinary } from "../../lib/control-plane/binaries.ts";
import { silentLogger } from "../../lib/log.ts";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../proto/gen/grpc/health/v1/health.ts";
import type { Candidate } from "../../proto/gen/mcp/conductor/scheduler/v1/scheduler.ts";
import { type SchedulerServer, schedulerServiceName, startSchedulerServer } from "./server.ts";

const candidate = (name: string, phase = "Ready"): Candidate => ({
  name,
  domain: "d",
  capabilities: ["ocr"],
  tags: [],
  phase,
  currentTasks: 0,
  maxConcurrentTasks: 4,
});

let scheduler: SchedulerServer;
let client: HealthClient;
const addr = () => `127.0.0.1:${scheduler.port}`;

beforeAll(async () => {
  scheduler = await startSchedulerServer({
    log: silentLogger,
    candidates: async () => [candidate("a"), candidate("b", "NotReady")],
  });
  client = new HealthClient(addr(), credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await scheduler?.stop();
});

const check = (service: string) =>
  new Promise<{ code?: number; status?: ServingStatus }>((resolve) =>
    client.check({ service }, (err, res) => resolve(err ? { code: err.code } : { status: res.status })),
  );

describe("health", () => {
  test.each([
    { name: "the server", service: "", want: { status: ServingStatus.SERVING } },
    { name: "the scheduler service", service: schedulerServiceName, want: { status: ServingStatus.SERVING } },
    { name: "an unknown service", service: "no.such.Service", want: { code: 5 } },
  ])("Check answers for $name", async ({ service, want }) => {
    expect(await check(service)).toEqual(want);
  });

  test("Watch sends the current status, then each change", async () => {
    const call = client.watch({ service: "later" });
    const seen: ServingStatus[] = [];
    const twice = new Promise<void>((resolve) =>
      call.on("data", (res: { status: ServingStatus }) => {
        seen.push(res.status);
        if (seen.length === 1) scheduler.health.setStatus("later", ServingStatus.SERVING);
        if (seen.length === 2) resolve();
      }),
    );
    call.on("error", () => {});
    await twice;
    call.cancel();
    expect(seen).toEqual([ServingStatus.SERVICE_UNKNOWN, ServingStatus.SERVING]);
  });
});

async function grpcurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([grpcurlBinary(), "-plaintext", ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

describe.skipIf(!existsSync(grpcurlBinary()))("over grpcurl", () => {
  test("answers health checks", async () => {
    for (const service of ["", schedulerServiceName]) {
      const res = await grpcurl(["-d", JSON.stringify({ service }), addr(), "grpc.health.v1.Health/Check"]);
      expect(JSON.parse(res.stdout)).toEqual({ status: "SERVING" });
    }
  });

  test("lists and describes its services through reflection", async () => {
    const res = await grpcurl([addr(), "list"]);
    expect(res.stderr).toBe("");
    expect(res.stdout.trim().split("\n").sort()).toEqual(["grpc.health.v1.Health", schedulerServiceName]);
    const described = await grpcurl([addr(), "describe", schedulerServiceName]);
    expect(described.stdout).toContain("rpc WhatIf ( .mcp.conductor.scheduler.v1.WhatIfRequest )");
    const health = await grpcurl([addr(), "describe", "grpc.health.v1.Health"]);
    expect(health.stdout).toContain("rpc Watch ( .grpc.health.v1.HealthCheckRequest ) returns ( stream");
  });

  test("calls WhatIf by name", async () => {
    const body = JSON.stringify({ namespace: "d", task: { requiredCapabilities: ["ocr"], priority: 5 } });
    const res = await grpcurl(["-d", body, addr(), `${schedulerServiceName}/WhatIf`]);
    expect(res.stderr).toBe("");
    expect(JSON.parse(res.stdout).placement.chosenAgent).toBe("a");
  });
});
