/**
 * `conductor agents` and `conductor tasks`: what `kubectl get` shows for
 * them, the same columns, optionally across namespaces, and with `--watch`
 * a row for every change after the first table, as `kubectl get -w` does.
 */
import { type McpClients, mcpClients } from "../../lib/api/resources.ts";
import { Informer, objectKey } from "../../lib/kube/informer.ts";
import type { KubeObject, ResourceClient } from "../../lib/kube/resource-client.ts";
import { helpOption, kubeOptions, outputFormat, outputOption, parse } from "./args.ts";
import { connect } from "./connect.ts";
import { UsageError } from "./errors.ts";
import { columnWidths, formatDocument, formatRow, formatTable } from "./output.ts";
import { resourceTable } from "./printer-columns.ts";

export interface ListedKind {
  command: "agents" | "tasks";
  kind: "Agent" | "Task";
  client: (c: McpClients) => ResourceClient<KubeObject>;
}

export const listedKinds: Record<string, ListedKind> = {
  agents: { command: "agents", kind: "Agent", client: (c) => c.agents as unknown as ResourceClient<KubeObject> },
  tasks: { command: "tasks", kind: "Task", client: (c) => c.tasks as unknown as ResourceClient<KubeObject> },
};

export const listUsage = (command: string) => `usage: conductor ${command} [flags]

Lists ${command} with the columns \`kubectl get ${command}\` shows.

Flags:
  -n, --namespace NS        the domain namespace (default: the kubeconfig's, else mcp-system)
  -A, --all-namespaces      list every namespace
  -l, --selector SELECTOR   a label selector
      --field-selector SEL  a field selector (status.phase, ${command === "tasks" ? "status.assignedAgent" : "…"})
  -w, --watch               after the table, print a row each time one changes (Ctrl-C stops)
  -o, --output FORMAT       json, yaml or wide (default: a table)
      --kubeconfig PATH     the kubeconfig (default: $KUBECONFIG, ~/.kube/config)`;

export async function runList(
  what: ListedKind,
  args: string[],
  out: (s: string) => void,
  untilStopped: () => Promise<void>,
): Promise<number> {
  const { values, positionals } = parse(what.command, args, {
    ...kubeOptions,
    ...outputOption,
    ...helpOption,
    "all-namespaces": { type: "boolean", short: "A", default: false },
    selector: { type: "string", short: "l" },
    "field-selector": { type: "string" },
    watch: { type: "boolean", short: "w", default: false },
  });
  if (values.help) {
    out(`${listUsage(what.command)}\n`);
    return 0;
  }
  const format = outputFormat(what.command, values.output, ["json", "yaml", "wide"]);
  if (positionals.length > 0) {
    throw new UsageError(`${what.command}: unexpected argument "${positionals[0]}"`);
  }
  const target = connect(values);
  const client = what.client(mcpClients(target.conn));
  const namespace = values["all-namespaces"] ? undefined : target.namespace;
  const selectors = { labelSelector: values.selector, fieldSelector: values["field-selector"] };
  const list = await client.listAll(namespace, selectors);
  const table = resourceTable(what.kind, { wide: format === "wide", withNamespace: namespace === undefined });

  let widths: number[] = [];
  if (format === "json" || format === "yaml") {
    if (!values.watch) {
      out(
        formatDocument(
          { apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" }, items: list.items },
          format,
        ),
      );
      return 0;
    }
    for (const item of list.items) out(formatWatched(item, format));
  } else if (list.items.length === 0 && !values.watch) {
    // kubectl's wording, on stderr, so stdout stays empty for scripts.
    process.stderr.write(
      namespace === undefined ? "No resources found\n" : `No resources found in ${namespace} namespace.\n`,
    );
    return 0;
  } else {
    const now = Date.now();
    const rows = list.items.map((i) => table.row(i, now));
    widths = columnWidths([table.headers, ...rows]);
    out(`${formatTable(table.headers, rows).join("\n")}\n`);
  }
  if (!values.watch) return 0;

  // Watch from here on with the repo's informer, which relists and re-watches
  // on its own; a row is printed only when an object differs from the last
  // one printed, so the informer's own first list adds nothing.
  const printed = new Map<string, string | undefined>(
    list.items.map((i) => [objectKey(i), i.metadata.resourceVersion]),
  );
  const print = (obj: KubeObject) => {
    if (format === "json" || format === "yaml") return out(formatWatched(obj, format));
    // Later rows keep the first table's alignment, widening only when they must.
    const row = table.row(obj);
    widths = columnWidths([row], widths);
    out(`${formatRow(row, widths)}\n`);
  };
  const show = (obj: KubeObject) => {
    const key = objectKey(obj);
    if (printed.get(key) === obj.metadata.resourceVersion) return;
    printed.set(key, obj.metadata.resourceVersion);
    print(obj);
  };
  const informer = new Informer(client, { namespace, ...selectors }).on({
    add: show,
    update: show,
    delete: (obj) => {
      printed.delete(objectKey(obj));
      print(obj);
    },
  });
  await informer.start();
  await untilStopped();
  await informer.stop();
  return 0;
}

/** Watched objects: one JSON line each (easy to read in a loop), or YAML documents. */
function formatWatched(obj: KubeObject, format: "json" | "yaml"): string {
  return format === "json" ? `${JSON.stringify(obj)}\n` : `---\n${formatDocument(obj, "yaml")}`;
}
