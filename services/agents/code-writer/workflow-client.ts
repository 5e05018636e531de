/**
 * The client's half of the code workflow (docs/examples/code-workflow.md):
 * runs a Plan manifest's steps through the gateway's conductor__run_plan with
 * the official SDK client, and answers the plan's sampling/createMessage
 * requests as the client's model would. Here the "model" is a stand-in that
 * answers with the program given by --snippet, so the example runs without
 * one; a real client asks its own model.
 *
 *   bun services/agents/code-writer/workflow-client.ts services/agents/code-writer/code-workflow.yaml \
 *     --snippet 'print(sum(range(10)))'
 *
 * --goal replaces the manifest's context.goal; --no-sampling declares no
 * sampling capability (the plan's write step then fails, InputNotSupported).
 * Progress goes to stderr, the plan's summary (JSON) to stdout; the exit
 * code is 0 when the plan succeeded, else 1 (also when the call is refused,
 * with the reason on stderr).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { parse } from "yaml";
import { type CliSettings, cliSettings } from "../../cli/settings.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    snippet: { type: "string", default: "print(sum(range(10)))" },
    goal: { type: "string" },
    "no-sampling": { type: "boolean", default: false },
  },
});
const file = positionals[0];
if (!file) {
  console.error("usage: workflow-client.ts PLAN.yaml [--snippet CODE] [--goal TEXT] [--no-sampling]");
  process.exit(2);
}
const manifest = parse(readFileSync(file, "utf8")) as {
  metadata?: { name?: string };
  spec: { steps: unknown[]; context?: Record<string, unknown> };
};
const context = { ...(manifest.spec.context ?? {}), ...(values.goal ? { goal: values.goal } : {}) };

// the gateway and token as the CLI takes them: CONDUCTOR_GATEWAY and CONDUCTOR_TOKEN, checked
let settings: CliSettings;
try {
  settings = cliSettings("workflow-client", {});
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const url = new URL(settings.gateway);
const token = settings.token;
const sampling = !values["no-sampling"];
const client = new Client(
  { name: "code-workflow-example", version: "1.0.0" },
  { capabilities: sampling ? { sampling: {} } : {} },
);
if (sampling)
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    // a message's content is one block or a list of them
    const asked = req.params.messages
      .flatMap((m) => [m.content].flat())
      .map((b) => (b.type === "text" ? b.text : `[${b.type}]`));
    console.error(`model asked: ${asked.join(" / ")}`);
    return { role: "assistant", model: "stand-in", content: { type: "text", text: values.snippet ?? "" } };
  });
await client.connect(
  new StreamableHTTPClientTransport(url, {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
  }),
);
try {
  const res = await client.callTool(
    {
      name: "conductor__run_plan",
      arguments: { name: manifest.metadata?.name ?? "code-workflow", steps: manifest.spec.steps, context },
    },
    undefined,
    {
      onprogress: (p) => console.error(`${p.progress}/${p.total} ${p.message ?? ""}`),
      // a plan runs as long as its steps, and the model may take its time
      timeout: 10 * 60_000,
      resetTimeoutOnProgress: true,
    },
  );
  console.log(JSON.stringify(res.structuredContent ?? res.content, null, 2));
  process.exitCode = res.isError ? 1 : 0;
} catch (err) {
  // refused before a Plan existed (an unknown tool, a plan that cannot run), or the gateway went away
  console.error(`conductor__run_plan: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await client.close();
}
