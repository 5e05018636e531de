/** The code-runner agent's own settings, besides the runtime's (lib/agent/config.ts). */
import { existsSync } from "node:fs";
import { boolean, type ConfigOf, list, string } from "../../../lib/config/config.ts";
import {
  defaultJavascriptModules,
  defaultPythonModules,
  type PrecheckPolicy,
  type RuleId,
  ruleIds,
} from "./precheck.ts";

const moduleDoc = (language: string) =>
  `${language} modules a snippet may import (a package allows its submodules); * allows any but those of files, processes, the network and loaders, which must be named.`;

const program = (what: string) => (path: string) =>
  path.startsWith("/") && existsSync(path) ? undefined : `must be the absolute path of ${what} on this machine`;

export const codeRunnerSettings = {
  python: string({
    env: "CODE_RUNNER_PYTHON",
    defaultDoc: "/usr/bin/python3, else /usr/local/bin/python3, else python3 on the PATH",
    doc: "The Python that runs snippets; the precheck parses with it too, so it checks the grammar a snippet runs under.",
    check: program("a Python interpreter"),
  }),
  bwrap: string({
    env: "CODE_RUNNER_BWRAP",
    defaultDoc: "/usr/bin/bwrap, else /usr/local/bin/bwrap",
    doc: "The bubblewrap that makes each snippet's sandbox; without one, no snippet runs.",
    check: program("bubblewrap"),
  }),
  precheck: boolean({
    env: "CODE_RUNNER_PRECHECK",
    default: true,
    doc: "Whether a snippet is parsed and checked against the policy (modules, rules) before it runs; a first line, the sandbox holds without it.",
  }),
  pythonModules: list({
    env: "CODE_RUNNER_PYTHON_MODULES",
    default: defaultPythonModules,
    doc: moduleDoc("Python"),
    check: (names) =>
      names.every((n) => n === "*" || /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/.test(n))
        ? undefined
        : "must be module names (a.b) or *",
  }),
  javascriptModules: list({
    env: "CODE_RUNNER_JAVASCRIPT_MODULES",
    default: defaultJavascriptModules,
    doc: moduleDoc("JavaScript"),
    // a package (left-pad, @scope/pkg), a file of one (lodash/fp), a built-in (node:fs, bun:sqlite)
    check: (names) =>
      names.every((n) => n === "*" || /^(?:(?:node|bun):)?(?:@[\w.~-]+\/)?[\w~-][\w.~-]*(?:\/[\w~-][\w.~-]*)*$/.test(n))
        ? undefined
        : "must be module names (name, @scope/name, name/file, node:name) or *",
  }),
  precheckDisabledRules: list({
    env: "CODE_RUNNER_PRECHECK_DISABLED_RULES",
    default: [],
    defaultDoc: "none",
    doc: "Rules of the check not applied, by id.",
    check: (ids) =>
      ids.every((id) => (ruleIds as string[]).includes(id)) ? undefined : `must be rule ids: ${ruleIds.join(", ")}`,
  }),
};

export type CodeRunnerConfig = ConfigOf<typeof codeRunnerSettings>;

/** The precheck's policy, from the settings. */
export const precheckPolicy = (config: CodeRunnerConfig): PrecheckPolicy => ({
  enabled: config.precheck,
  pythonModules: config.pythonModules,
  javascriptModules: config.javascriptModules,
  disabledRules: config.precheckDisabledRules as RuleId[],
});
