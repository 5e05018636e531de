/** code-runner tools: run_code, a sandboxed Python or JavaScript snippet (see sandbox.ts). */
import { type AnyTool, defineTool } from "../../../lib/agent/tool.ts";
import { type Language, runSnippet, type SandboxLimits } from "./sandbox.ts";

export const capability = "code-execution";

export const defaultLimits: SandboxLimits = {
  cpuSeconds: 5,
  memoryMb: 256,
  wallMs: 10_000,
  maxOutputBytes: 64 * 1024,
  maxProcesses: 16,
};

export function codeRunnerTools(limits: SandboxLimits = defaultLimits): AnyTool[] {
  return [
    defineTool({
      name: "run_code",
      title: "Run code",
      description: `Runs a short Python or JavaScript program in a sandbox (no network, empty working folder, ${limits.cpuSeconds}s CPU, ${limits.memoryMb} MiB, ${limits.wallMs / 1000}s wall clock, ${limits.maxOutputBytes} bytes of output) and returns stdout, stderr and the exit code.`,
      capability,
      inputSchema: {
        type: "object",
        properties: {
          language: { enum: ["python", "javascript"] },
          code: { type: "string", minLength: 1, maxLength: 65536 },
          stdin: { type: "string", maxLength: 65536, default: "" },
          timeoutMs: { type: "integer", minimum: 100, maximum: limits.wallMs },
        },
        required: ["language", "code"],
        additionalProperties: false,
      },
      handler: (
        {
          language,
          code,
          stdin = "",
          timeoutMs,
        }: { language: Language; code: string; stdin?: string; timeoutMs?: number },
        ctx,
      ) =>
        runSnippet(
          language,
          code,
          stdin,
          { ...limits, wallMs: Math.min(timeoutMs ?? limits.wallMs, limits.wallMs) },
          ctx.signal,
        ),
    }),
  ];
}
