/**
 * `conductor`: the operator's command line for MCP Conductor, also a kubectl
 * plugin (`kubectl conductor …`, through the `kubectl-conductor` bin).
 *
 *   conductor up | agents | tasks | whatif | call TOOL | describe task NAME
 *
 * Output and exit codes follow kubectl: tables by default, `-o json|yaml`,
 * 0 on success, 1 when what was asked failed (not found, a failed call, an
 * unreachable cluster), 2 when the command line is wrong; messages on stderr.
 */
import { callUsage, runCall } from "./call.ts";
import { connectedServer } from "./connect.ts";
import { describeUsage, runDescribe } from "./describe.ts";
import { describeError, exitCodes, UsageError } from "./errors.ts";
import { listedKinds, listUsage, runList } from "./list.ts";
import { runUp } from "./up.ts";
import { runWhatIf, whatifUsage } from "./whatif.ts";

export const usage = `conductor: the command line of MCP Conductor (also \`kubectl conductor\`)

Commands:
  up                    run the conductor (a local control plane when no cluster answers)
  agents                list Agents, as kubectl shows them
  tasks                 list Tasks, as kubectl shows them
  whatif                ask the scheduler where a task would go, and why
  call TOOL             call a tool through the MCP gateway
  describe task NAME    a Task's timeline from its conditions and Events

Run \`conductor COMMAND --help\` for a command's flags. Commands that read the
cluster take --kubeconfig (default $KUBECONFIG, ~/.kube/config) and -n NAMESPACE.`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /**
   * For commands that run until the user stops them (`--watch`): resolves on
   * Ctrl-C or SIGTERM. Only those commands ask, so Ctrl-C ends any other at once.
   */
  untilStopped: () => Promise<void>;
}

/** Runs one command line and returns its exit code; never throws. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.err(`${usage}\n`);
        return exitCodes.usage;
      case "-h":
      case "--help":
      case "help":
        io.out(`${usage}\n`);
        return exitCodes.ok;
      case "up":
        return await runUp(rest);
      case "agents":
      case "tasks":
        return await runList(listedKinds[command] as (typeof listedKinds)[string], rest, io.out, io.untilStopped);
      case "whatif":
        return await runWhatIf(rest, io.out);
      case "call":
        return await runCall(rest, io.out, io.err);
      case "describe":
        return await runDescribe(rest, io.out);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    const { message, code } = describeError(err, connectedServer());
    io.err(`error: ${message}\n`);
    if (code === exitCodes.usage) io.err(`${hint(command)}\n`);
    return code;
  }
}

/** Where to read more after a usage error. */
function hint(command: string | undefined): string {
  const usages: Record<string, string> = {
    agents: listUsage("agents"),
    tasks: listUsage("tasks"),
    whatif: whatifUsage,
    call: callUsage,
    describe: describeUsage,
  };
  const first = command ? usages[command]?.split("\n")[0] : undefined;
  return first ? `${first}\nRun 'conductor ${command} --help' for more.` : "Run 'conductor --help' for the commands.";
}

if (import.meta.main) {
  const { run } = await import("./bin.ts");
  await run();
}
