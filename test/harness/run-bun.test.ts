import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { procStatFields } from "../../lib/control-plane/processes.ts";
import { descendantsOf, runBun } from "./run-bun.ts";

/** Alive: its /proc entry is there and it is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  const state = procStatFields(pid)?.[0];
  return state !== undefined && state !== "Z";
}

describe("runBun", () => {
  test("a script killed for hanging takes the processes it started with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "run-bun-test-"));
    try {
      const script = join(dir, "hangs.ts");
      const pidFile = join(dir, "sleeper.pid");
      writeFileSync(
        script,
        `const sleeper = Bun.spawn(["sleep", "300"], { stdout: "ignore", stderr: "ignore" });
await Bun.write(${JSON.stringify(pidFile)}, String(sleeper.pid));
await new Promise(() => {});
`,
      );
      const run = runBun([script], 3_000);
      while (!existsSync(pidFile) || readFileSync(pidFile, "utf8") === "") await Bun.sleep(20);
      const sleeper = Number(readFileSync(pidFile, "utf8"));
      // Running: the sleeper is alive and below this test's process.
      expect([alive(sleeper), descendantsOf(process.pid).includes(sleeper)]).toEqual([true, true]);
      const { code } = await run;
      expect(code).not.toBe(0);
      // Killed with the script, not left to run on.
      for (let i = 0; i < 50 && alive(sleeper); i++) await Bun.sleep(20);
      expect(alive(sleeper)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 15_000);
});
