// The container images that hack/images/build.sh builds (or finds in its cache)
// for a local Kubernetes node: the conductor image from the Dockerfile on the
// local Bun base, run by the Docker daemon as a pod would run it (non-root,
// read-only root filesystem, no network); the pause image, which must stop on
// SIGTERM and reap orphans, and import into a containerd; and wrap-binary's
// archives. Needs root, Docker (dockerd, docker) and containerd (containerd, ctr).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { imageArchive, normalizeRef, writeImageArchive } from "../../hack/images/wrap-binary.ts";
import { repoRoot } from "../../lib/control-plane/binaries.ts";

const needed = ["docker", "dockerd", "ctr", "containerd"];
const missing = needed.filter((b) => !Bun.which(b));
if (missing.length > 0) {
  console.warn(`images.test.ts skipped: ${missing.join(", ")} not found (apt-get install docker.io containerd)`);
}

const conductor = "mcp-conductor:dev";
const pause = "mcp-conductor/pause:local";
const images = join(repoRoot, "hack", "images");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string[], timeoutMs = 60_000): Promise<Result> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore", timeout: timeoutMs });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout: stdout.trim(), stderr: stderr.trim() };
}

async function ok(cmd: string[], timeoutMs?: number): Promise<string> {
  const res = await run(cmd, timeoutMs);
  if (res.code !== 0) throw new Error(`${cmd.join(" ")} exited ${res.code}: ${res.stderr}`);
  return res.stdout;
}

/** The image ID recorded in a docker-save archive's manifest.json. */
async function archiveImageId(archive: string): Promise<string> {
  const manifest = JSON.parse(await ok(["tar", "-xOf", archive, "manifest.json"])) as { Config: string }[];
  const config = manifest[0]?.Config ?? "";
  return `sha256:${config.replace(/^blobs\/sha256\//, "").replace(/\.json$/, "")}`;
}

/** Loads an archive into the Docker daemon unless the tag already holds its image. */
async function ensureLoaded(ref: string, archive: string): Promise<void> {
  const have = await run(["docker", "image", "inspect", "-f", "{{.Id}}", ref]);
  if (have.code === 0 && have.stdout === (await archiveImageId(archive))) return;
  await ok(["docker", "load", "-i", archive], 300_000);
}

const dockerRun = (args: string[]) => run(["docker", "run", "--rm", "--network", "none", ...args]);
const pinnedBun = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { devDependencies: { bun: string } }
).devDependencies.bun;

let archives: Map<string, string>;
// Each test starts a few containers: seconds each on a busy machine.
const containerTestTimeout = 60_000;

describe.skipIf(missing.length > 0)("container images", () => {
  beforeAll(async () => {
    // A cold build (debootstrap, then docker build with bun install and apt-get) takes a few minutes.
    const out = await ok(["bash", join(images, "build.sh")], 1_200_000);
    archives = new Map(
      out
        .split("\n")
        .filter((l) => /^[^=\s]+=\//.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as [string, string]),
    );
    await ok(["bash", join(images, "dockerd.sh")]);
    for (const [ref, archive] of archives) await ensureLoaded(ref, archive);
  }, 1_500_000);

  test(
    "build.sh names an archive for each image, and a second run reuses them",
    async () => {
      expect([...archives.keys()].sort()).toEqual([conductor, pause].sort());
      const again = await run(["bash", join(images, "build.sh")]);
      expect(again.code).toBe(0);
      expect(again.stderr).toBe("");
      expect(again.stdout.split("\n").slice(-2)).toEqual([...archives].map(([r, a]) => `${r}=${a}`));
    },
    containerTestTimeout,
  );

  test(
    "the conductor image runs the pinned Bun as uid 65532",
    async () => {
      const version = await dockerRun(["--user", "65532", conductor, "bun", "--version"]);
      expect(version).toMatchObject({ code: 0, stdout: pinnedBun });
      const id = await dockerRun([conductor, "id", "-u"]);
      expect(id).toMatchObject({ code: 0, stdout: "65532" });
    },
    containerTestTimeout,
  );

  test(
    "the conductor image holds the services, the stdio bridge and the tools, and no tests",
    async () => {
      const script = [
        "test -d /app/services/gateway && test -f /app/services/gateway/main.ts",
        "test -x /app/bin/mcp-stdio-bridge",
        "test -d /app/node_modules/@modelcontextprotocol/sdk && test -f /app/deploy/crds/mcp.io_tasks.yaml",
        "command -v python3 prlimit setsid >/dev/null",
        "find /app -name '*.test.ts' -not -path '/app/node_modules/*'",
      ].join(" && ");
      const res = await dockerRun([conductor, "sh", "-c", script]);
      expect(res).toMatchObject({ code: 0, stdout: "" });
    },
    containerTestTimeout,
  );

  test(
    "the conductor image runs with a read-only root filesystem",
    async () => {
      const one = await dockerRun(["--read-only", conductor, "bun", "-e", "console.log(1)"]);
      expect(one).toMatchObject({ code: 0, stdout: "1" });
      // TypeScript from /app with a dependency from node_modules, nothing written to disk.
      const log = await dockerRun([
        "--read-only",
        conductor,
        "bun",
        "-e",
        'const { createLogger } = await import("/app/lib/log.ts"); createLogger({ service: "t" }).info("read-only")',
      ]);
      expect(log.code).toBe(0);
      expect(JSON.parse(log.stdout)).toMatchObject({ service: "t", msg: "read-only" });
    },
    containerTestTimeout,
  );

  test(
    "pause stops at once on SIGTERM and reaps the orphans of its process namespace",
    async () => {
      const name = `images-test-pause-${process.pid}`;
      await ok(["docker", "run", "-d", "--name", name, "--network", "none", pause]);
      try {
        expect(await ok(["docker", "inspect", "-f", "{{.State.Running}} {{.Config.User}}", name])).toBe(
          "true 65535:65535",
        );
        // A process whose parent exits is handed to PID 1, the pause process: it must be reaped when it ends.
        const script = [
          "sh -c 'sleep 0.5 & echo $! > /tmp/orphan'",
          "sleep 0.2",
          "pid=$(cat /tmp/orphan)",
          "awk '/^PPid/ { print $2 }' /proc/$pid/status",
          "sleep 1",
          "if [ -e /proc/$pid ]; then awk '/^State/ { print $2 }' /proc/$pid/status; else echo reaped; fi",
        ].join("; ");
        const res = await dockerRun(["--pid", `container:${name}`, conductor, "sh", "-c", script]);
        expect(res).toMatchObject({ code: 0, stdout: "1\nreaped" });
        const started = performance.now();
        await ok(["docker", "stop", "-t", "10", name]);
        expect(performance.now() - started).toBeLessThan(5_000);
        expect(await ok(["docker", "inspect", "-f", "{{.State.ExitCode}}", name])).toBe("0");
      } finally {
        await run(["docker", "rm", "-f", name]);
      }
    },
    containerTestTimeout,
  );

  describe("in a throwaway containerd", () => {
    let dir: string;
    let containerd: ReturnType<typeof Bun.spawn>;
    let address: string;
    const ctr = (args: string[]) => ok(["ctr", "--address", address, "-n", "k8s.io", ...args]);

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "images-test-"));
      address = join(dir, "containerd.sock");
      await Bun.write(join(dir, "config.toml"), 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
      const flags = { config: join(dir, "config.toml"), root: join(dir, "root"), state: join(dir, "state"), address };
      containerd = Bun.spawn(["containerd", ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v])], {
        stdout: "ignore",
        stderr: Bun.file(join(dir, "containerd.log")),
      });
      for (let i = 0; i < 100 && (await run(["ctr", "--address", address, "version"])).code !== 0; i++) {
        await Bun.sleep(100);
      }
    }, 30_000);

    afterAll(async () => {
      containerd?.kill("SIGTERM");
      await containerd?.exited;
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test(
      "imports the pause archive unpacked under the name a node uses",
      async () => {
        await ctr(["images", "import", archives.get(pause) ?? ""]);
        expect((await ctr(["images", "ls", "-q"])).split("\n")).toContain(normalizeRef(pause));
        const check = await ctr(["images", "check", `name==${normalizeRef(pause)}`]);
        expect(check).toMatch(/complete \(2\/2\).* true$/m);
      },
      containerTestTimeout,
    );

    test(
      "imports an archive of wrap-binary with its entry point, arguments, user and labels",
      async () => {
        const binary = join(dirname(archives.get(pause) ?? ""), "pause");
        const ref = "example.test/wrapped:1";
        const image = {
          ref,
          files: [{ path: "/usr/local/bin/wrapped", data: readFileSync(binary), mode: 0o755 }],
          config: { Entrypoint: ["/usr/local/bin/wrapped"], Cmd: ["--version"], User: "1000:1000", Labels: { a: "b" } },
        };
        // The same input makes the same bytes, so the same image ID.
        expect(imageArchive(image).bytes).toEqual(imageArchive(image).bytes);
        const archive = join(dir, "wrapped.tar");
        const id = writeImageArchive(image, archive);
        await ctr(["images", "import", archive]);
        expect(await ctr(["images", "ls", "-q"])).toContain(ref);
        // Docker reads the same archive: the config is what was asked for, and the binary runs.
        await ok(["docker", "load", "-i", archive]);
        try {
          const config = JSON.parse(await ok(["docker", "image", "inspect", "-f", "{{json .Config}}", ref]));
          expect(config).toMatchObject({
            Entrypoint: ["/usr/local/bin/wrapped"],
            User: "1000:1000",
            Labels: { a: "b" },
          });
          expect(await ok(["docker", "image", "inspect", "-f", "{{.Id}}", ref])).toBe(id);
          expect(await dockerRun([ref])).toMatchObject({ code: 0, stdout: "pause (mcp-conductor)" });
        } finally {
          await run(["docker", "rmi", ref]);
        }
      },
      containerTestTimeout,
    );
  });
});

test("image references are normalized as Docker and containerd do", () => {
  expect(normalizeRef("mcp-conductor:dev")).toBe("docker.io/library/mcp-conductor:dev");
  expect(normalizeRef("mcp-conductor/pause:local")).toBe("docker.io/mcp-conductor/pause:local");
  expect(normalizeRef("registry.k8s.io/pause:3.10")).toBe("registry.k8s.io/pause:3.10");
  expect(normalizeRef("localhost:5000/coredns")).toBe("localhost:5000/coredns:latest");
  expect(normalizeRef("coredns/coredns")).toBe("docker.io/coredns/coredns:latest");
});
