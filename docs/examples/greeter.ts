// docs/examples/greeter.ts: a complete agent with two tools (see docs/agents.md).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAgent } from "../../lib/agent/main.ts";
import { defineTool, ToolError } from "../../lib/agent/tool.ts";

// A pure tool: running it twice does no harm.
const greet = defineTool({
  name: "greet",
  title: "Greet someone",
  description: "Greets someone by name.",
  capability: "greeting",
  inputSchema: {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 100, description: "who to greet" },
      language: { type: "string", enum: ["en", "fr"], default: "en" },
    },
    required: ["name"],
    additionalProperties: false,
  },
  outputSchema: { type: "object", properties: { greeting: { type: "string" } }, required: ["greeting"] },
  handler: async ({ name, language = "en" }: { name: string; language?: "en" | "fr" }) => {
    if (name === "nobody") throw new ToolError("NoSuchPerson", "nobody is not a name"); // Failed, not retried
    return { greeting: language === "fr" ? `Bonjour, ${name} !` : `Hello, ${name}!` };
  },
});

// A tool with a side effect: it writes a card to the outbox at most once per
// attempt, keyed by ctx.idempotencyKey, so a repeated run finds the card it
// already wrote instead of writing a second one.
const outbox = process.env.GREETER_OUTBOX ?? "outbox";
const sendCard = defineTool({
  name: "send_card",
  description: "Writes a greeting card to the outbox.",
  capability: "greeting",
  inputSchema: {
    type: "object",
    properties: { to: { type: "string", minLength: 1, maxLength: 100 } },
    required: ["to"],
  },
  handler: async ({ to }: { to: string }, ctx) => {
    mkdirSync(outbox, { recursive: true });
    const file = join(outbox, `${ctx.idempotencyKey.replace("/", "-")}.txt`);
    try {
      writeFileSync(file, `Dear ${to}, greetings!\n`, { flag: "wx" }); // fails if it exists
      ctx.log.info({ file }, "Wrote card");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err; // retried: a plain Error is retryable
    }
    return { card: file, text: readFileSync(file, "utf8") };
  },
});

await runAgent({ kind: "greeter", tools: [greet, sendCard] });
