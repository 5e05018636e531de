/**
 * code-runner tools: run_code, a Python or JavaScript snippet, checked
 * statically against a policy (precheck.ts) and then run in a sandbox
 * (sandbox.ts).
 */
import { type AnyTool, defineTool } from "../../../lib/agent/tool.ts";
import { defaultPolicy, enforcePrecheck, type PrecheckPolicy } from "./precheck.ts";
import { type Language, runSnippet, type SandboxLimits } from "./sandbox.ts";

export const capability = "code-execution";

export const defaultLimits: SandboxLimits = {
  cpuSeconds: 5,
  memoryMb: 256,
  wallMs: 10_000,
  maxOutputBytes: 64 * 1024,
  maxProcesses: 16,
};

/** What the model calling the tool should know before it writes code the check would refuse. */
function policyText(policy: PrecheckPolicy): string {
  if (!policy.enabled) return "";
  // a long configured list is cut: a tool's description has at most 4096 characters
  const modules = (list: readonly string[]) =>
    list.includes("*")
      ? "any module but those of files, processes and the network"
      : list.length > 60
        ? `${list.slice(0, 60).join(", ")} and ${list.length - 60} more`
        : list.join(", ") || "none";
  return ` Before it runs, the code is checked: Python may import ${modules(policy.pythonModules)}; JavaScript may import ${modules(policy.javascriptModules)}; no eval, exec, Function or computed imports, and no file, process or network APIs (read stdin with input() or sys.stdin in Python, await Bun.stdin.text() or process.stdin in JavaScript). A refusal names the rule and the line.`;
}

export function codeRunnerTools(
  limits: SandboxLimits = defaultLimits,
  policy: PrecheckPolicy = defaultPolicy,
): AnyTool[] {
  return [
    defineTool({
      name: "run_code",
      title: "Run code",
      description: `Runs a short Python or JavaScript program in a sandbox (no network, empty working folder, ${limits.cpuSeconds}s CPU, ${limits.memoryMb} MiB, ${limits.wallMs / 1000}s wall clock, ${limits.maxOutputBytes} bytes of output) and returns stdout, stderr and the exit code.${policyText(policy)}`,
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
      handler: async (
        {
          language,
          code,
          stdin = "",
          timeoutMs,
        }: { language: Language; code: string; stdin?: string; timeoutMs?: number },
        ctx,
      ) => {
        await enforcePrecheck(language, code, policy, ctx.signal);
        return runSnippet(
          language,
          code,
          stdin,
          { ...limits, wallMs: Math.min(timeoutMs ?? limits.wallMs, limits.wallMs) },
          ctx.signal,
        );
      },
    }),
  ];
}
