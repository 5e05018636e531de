// docs/examples/sdk-client.ts: the official TypeScript SDK against the gateway (see docs/clients.md).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.env.CONDUCTOR_GATEWAY ?? "http://127.0.0.1:8080/mcp");
const token = process.env.CONDUCTOR_TOKEN;
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
});
const client = new Client({ name: "docs-example", version: "1.0.0" });
await client.connect(transport);

const { tools } = await client.listTools();
console.log("tools:", tools.map((t) => t.name).join(", "));

// A plain call: it waits for the Task, with progress as it moves.
const result = await client.callTool({ name: "csv_to_json", arguments: { csv: "city,pop\nOslo,700000" } }, undefined, {
  onprogress: (p) => console.log(`progress ${p.progress}/${p.total}: ${p.message}`),
});
console.log("result:", JSON.stringify(result.structuredContent));

// The same call as an MCP task: the answer comes at once with a taskId (the
// Task's name); the SDK then polls tasks/get and fetches tasks/result.
const stream = client.experimental.tasks.callToolStream(
  { name: "csv_to_json", arguments: { csv: "city,pop\nBergen,290000" } },
  undefined,
  { task: { ttl: 10 * 60_000 } },
);
for await (const message of stream) {
  if (message.type === "taskCreated") console.log("task created:", message.task.taskId);
  else if (message.type === "taskStatus") console.log("task status:", message.task.status);
  else if (message.type === "result") console.log("task result:", JSON.stringify(message.result.structuredContent));
  else throw message.error;
}
const { tasks } = await client.experimental.tasks.listTasks();
console.log(`tasks of this client: ${tasks.length}`);
await client.close();
