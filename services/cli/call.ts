/**
 * `conductor call <tool>`: one tools/call through the MCP gateway with the
 * official SDK client over Streamable HTTP. Progress notifications (the
 * Task moving Pending → Assigned → Running) go to stderr while it runs; the
 * result goes to stdout. A tool that reports an error exits 1, as does a
 * call the gateway refuses.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, CallToolResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { version } from "../../lib/version.ts";
import { helpOption, integerFlag, outputFormat, outputOption, parse } from "./args.ts";
import { CommandError, exitCodes, UsageError } from "./errors.ts";
import { formatDocument } from "./output.ts";
import { cliSettings } from "./settings.ts";

export const callUsage = `usage: conductor call TOOL [--arg KEY=VALUE ...] [--json '{...}'] [flags]

Calls a tool through the MCP gateway and prints its result. Each call is a
durable Task; its progress is shown on stderr while it runs.

Flags:
  -a, --arg KEY=VALUE   an argument; VALUE is read as JSON when it parses (42, true, [1,2]), else as a string
      --json OBJECT     all arguments as one JSON object; --arg values are applied over it
  -g, --gateway URL     the gateway's MCP endpoint (default $CONDUCTOR_GATEWAY, else http://127.0.0.1:8080/mcp)
      --token TOKEN     a bearer token (default $CONDUCTOR_TOKEN)
      --timeout SECONDS how long to wait for the result (default 300)
  -q, --quiet           no progress on stderr
  -o, --output FORMAT   json or yaml: the whole MCP result (default: the result's content)`;

/** The tool's arguments from --json and --arg, with --arg winning. */
export function toolArguments(json: string | undefined, pairs: readonly string[]): Record<string, unknown> {
  let args: Record<string, unknown> = {};
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      throw new UsageError(`call: --json is not valid JSON: ${(err as Error).message}`);
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new UsageError("call: --json must be a JSON object");
    }
    args = parsed as Record<string, unknown>;
  }
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`call: --arg must look like KEY=VALUE, not "${pair}"`);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // not JSON: keep the string
    }
    args[pair.slice(0, eq)] = value;
  }
  return args;
}

export async function runCall(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parse("call", args, {
    ...outputOption,
    ...helpOption,
    arg: { type: "string", short: "a", multiple: true },
    json: { type: "string" },
    gateway: { type: "string", short: "g" },
    token: { type: "string" },
    timeout: { type: "string" },
    quiet: { type: "boolean", short: "q", default: false },
  });
  if (values.help) {
    out(`${callUsage}\n`);
    return 0;
  }
  const format = outputFormat("call", values.output);
  const [tool, ...extra] = positionals;
  if (!tool) throw new UsageError("call: name the tool to call");
  if (extra.length > 0) throw new UsageError(`call: unexpected argument "${extra[0]}"`);
  const toolArgs = toolArguments(values.json, values.arg ?? []);
  const timeoutMs = (integerFlag("call", "timeout", values.timeout, 1, 86_400) ?? 300) * 1000;
  const { gateway, token } = cliSettings("call", { gateway: values.gateway, token: values.token });
  const url = new URL(gateway);

  const client = new Client({ name: "conductor-cli", version });
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
  });
  try {
    try {
      await client.connect(transport);
    } catch (e) {
      throw gatewayError(e, url);
    }
    // Ctrl-C cancels the request; the gateway then deletes the call's Task.
    const cancel = new AbortController();
    const onInterrupt = () => cancel.abort();
    process.once("SIGINT", onInterrupt);
    let result: CallToolResult;
    try {
      result = (await client.callTool({ name: tool, arguments: toolArgs }, CallToolResultSchema, {
        signal: cancel.signal,
        timeout: timeoutMs,
        onprogress: values.quiet
          ? undefined
          : (p) => err(`progress ${p.progress}${p.total ? `/${p.total}` : ""}${p.message ? `: ${p.message}` : ""}\n`),
      })) as CallToolResult;
    } catch (e) {
      if (cancel.signal.aborted) throw new CommandError(`call of ${tool} cancelled`, exitCodes.interrupted);
      throw gatewayError(e, url);
    } finally {
      process.off("SIGINT", onInterrupt);
    }
    if (format === "json" || format === "yaml") out(formatDocument(result, format));
    else if (!result.isError) out(contentText(result));
    if (result.isError) {
      // The tool ran and failed: its message is the error.
      throw new CommandError(`tool ${tool} failed: ${contentText(result).trim()}`);
    }
    return 0;
  } finally {
    // The command's outcome is already printed and stands; a connection that fails to close is said on
    // stderr (not with -q), as the other notes of a run are, and changes nothing.
    await client.close().catch((e: unknown) => {
      if (!values.quiet) err(`note: closing the connection to ${url} failed: ${(e as Error)?.message ?? e}\n`);
    });
  }
}

/** The result as a person reads it: structured content as JSON, else its text parts. */
function contentText(result: CallToolResult): string {
  const texts = result.content.map((c) => (c.type === "text" ? c.text : `[${c.type} content]`));
  if (texts.length === 0 && result.structuredContent) return `${JSON.stringify(result.structuredContent, null, 2)}\n`;
  return texts.map((t) => (t.endsWith("\n") ? t : `${t}\n`)).join("");
}

function gatewayError(e: unknown, url: URL): Error {
  if (e instanceof McpError) return new CommandError(`the gateway refused the call: ${e.message}`);
  if (e instanceof StreamableHTTPError && e.code === 401) {
    return new CommandError(`the gateway at ${url} needs a valid bearer token (--token or $CONDUCTOR_TOKEN)`);
  }
  return new CommandError(`cannot reach the gateway at ${url}: ${(e as Error).message}`);
}
