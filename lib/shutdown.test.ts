import { expect, test } from "bun:test";
import { join } from "node:path";

test("the first SIGTERM runs the stop once, a second during it does not, and the process exits 0", async () => {
  const script = `
    import { stopOnSignal } from ${JSON.stringify(join(import.meta.dir, "shutdown.ts"))};
    import { createLogger } from ${JSON.stringify(join(import.meta.dir, "log.ts"))};
    stopOnSignal(createLogger({ service: "t", level: "silent" }), async () => {
      console.log("stop");
      await Bun.sleep(300);
    });
    console.log("ready");
    setInterval(() => {}, 1000);`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe" });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("ready")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  proc.kill("SIGTERM");
  await Bun.sleep(100);
  proc.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  expect(await proc.exited).toBe(0);
  expect(out.trim().split("\n")).toEqual(["ready", "stop"]);
});
