// Attacks on the sandbox, run from a non-root agent as the shipped pod runs
// it (uid 65532; when the tests run as root, the runner is started under that
// uid). Each "cannot" first shows the same thing working where it is allowed:
// the agent itself reads the secret, connects, forks, sees its processes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Language, RunResult, SandboxLimits } from "./sandbox.ts";
import {
  probeSandbox,
  readCapped,
  runSnippet,
  SandboxUnavailableError,
  sandboxArgs,
  useSandboxBinaries,
} from "./sandbox.ts";

const agentUid = 65532;
const asRoot = process.getuid?.() === 0;
const sandboxModule = join(import.meta.dir, "sandbox.ts");
const limits: SandboxLimits = { cpuSeconds: 2, memoryMb: 128, wallMs: 5_000, maxOutputBytes: 16_384, maxProcesses: 8 };

interface Job {
  language: Language;
  code: string;
  limits?: Partial<SandboxLimits>;
}

/** Runs snippets through runSnippet in a process of the agent's uid; returns their results. */
async function asAgent(jobs: Job[], prelude = ""): Promise<RunResult[]> {
  const script = `
    import { runSnippet } from ${JSON.stringify(sandboxModule)};
    const jobs = ${JSON.stringify(jobs)};
    ${prelude}
    const out = [];
    for (const j of jobs) out.push(await runSnippet(j.language, j.code, "", { ...${JSON.stringify(limits)}, ...j.limits }));
    console.log(JSON.stringify(out));
  `;
  const drop = asRoot ? ["setpriv", `--reuid=${agentUid}`, `--regid=${agentUid}`, "--clear-groups"] : [];
  const proc = Bun.spawn([...drop, process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text()];
  if ((await proc.exited) !== 0) throw new Error(`the agent process failed: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "[]");
}

/** A plain process of the agent's uid, outside any sandbox: what the agent itself can do. */
async function agentItself(code: string): Promise<{ stdout: string; stderr: string }> {
  const drop = asRoot ? ["setpriv", `--reuid=${agentUid}`, `--regid=${agentUid}`, "--clear-groups"] : [];
  const r = Bun.spawn([...drop, "/usr/bin/python3", "-I", "-S", "-c", code], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(r.stdout).text(), new Response(r.stderr).text()]);
  await r.exited;
  return { stdout, stderr };
}

let dir: string;
let secretPath: string;
let server: Bun.TCPSocketListener<undefined> | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sandbox-test-"));
  chmodSync(dir, 0o755);
  // As a projected service-account token: readable by the agent's uid alone.
  secretPath = join(dir, "token");
  writeFileSync(secretPath, "the-agent-token");
  chmodSync(secretPath, 0o600);
  if (asRoot) chownSync(secretPath, agentUid, agentUid);
  server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data() {},
      open(s) {
        s.end("hello");
      },
    },
  });
});

afterAll(() => {
  server?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

describe("the sandbox, attacked from a snippet", () => {
  test("runs a snippet as a non-root agent at all", async () => {
    const [r] = await asAgent([{ language: "python", code: "print(6 * 7)" }]);
    expect(r).toMatchObject({ exitCode: 0, stdout: "42\n", timedOut: false });
  });

  test("the agent's credentials: the agent reads them, a snippet finds nothing there", async () => {
    expect((await agentItself(`print(open(${JSON.stringify(secretPath)}).read())`)).stdout).toBe("the-agent-token\n");
    const [py, js] = await asAgent([
      { language: "python", code: `print(open(${JSON.stringify(secretPath)}).read())` },
      {
        language: "javascript",
        code: `console.log(require("fs").readFileSync(${JSON.stringify(secretPath)}, "utf8"))`,
      },
    ]);
    expect(py?.stdout).not.toContain("the-agent-token");
    expect(py?.stderr).toContain("FileNotFoundError");
    expect(js?.stdout).not.toContain("the-agent-token");
    expect(js?.stderr).toContain("ENOENT");
    // Nor the pod's service-account folder, nor the agent's code.
    const [paths] = await asAgent([
      {
        language: "python",
        code: `import os\nprint([p for p in ["/var/run/secrets", "/run/secrets", ${JSON.stringify(sandboxModule)}, "/app", "/etc/passwd"] if os.path.exists(p)])`,
      },
    ]);
    expect(paths?.stdout).toBe("[]\n");
  });

  test("the network: the agent connects, a snippet cannot even open an internet socket", async () => {
    const port = server?.port;
    const connect = `import socket\ns = socket.create_connection(("127.0.0.1", ${port}), timeout=2)\nprint(s.recv(5).decode())`;
    expect((await agentItself(connect)).stdout).toBe("hello\n");
    const [r, unix] = await asAgent([
      { language: "python", code: connect },
      // AF_UNIX stays (interpreters use socketpairs); it reaches nothing outside the sandbox.
      { language: "python", code: "import socket\na, b = socket.socketpair()\na.send(b'x')\nprint(b.recv(1))" },
    ]);
    expect(r?.stdout).toBe("");
    expect(r?.stderr).toContain("PermissionError");
    expect(unix?.stdout).toBe("b'x'\n");
  });

  test("the network namespace is empty: nothing but a loopback that is down", async () => {
    const [r] = await asAgent([
      {
        language: "python",
        code: "import os\nprint(sorted(os.listdir('/sys/class/net')) if os.path.exists('/sys/class/net') else open('/proc/net/dev').read().count(':'))",
      },
    ]);
    // /proc is the container's, but /proc/net follows the reader's network namespace: only lo.
    expect(r?.stdout.trim()).toBe("1");
  });

  test("processes: it forks up to its own limit, counted apart from the agent's other processes", async () => {
    // The agent's uid already runs more processes than a snippet may: a per-uid count would refuse every fork.
    const prelude = `const sleepers = Array.from({ length: 12 }, () => Bun.spawn(["sleep", "30"], { stdout: "ignore", stderr: "ignore" }));
      for (const s of sleepers) s.unref();
      process.on("exit", () => { for (const s of sleepers) s.kill(); });`;
    const forkN = (n: number) =>
      `import os, time\nkids = []\nfor i in range(${n}):\n    try:\n        pid = os.fork()\n    except OSError as e:\n        print('refused at', i, e.errno); break\n    if pid == 0:\n        time.sleep(2); os._exit(0)\n    kids.append(pid)\nprint('forked', len(kids))`;
    const [few, many] = await asAgent(
      [
        { language: "python", code: forkN(5) },
        { language: "python", code: forkN(50) },
      ],
      prelude,
    );
    expect(few?.stdout).toBe("forked 5\n");
    expect(many?.stdout).toMatch(/^refused at \d+ 11\n/);
    const at = Number(/refused at (\d+)/.exec(many?.stdout ?? "")?.[1]);
    // exactly its limit: the snippet and its children, bubblewrap's own process aside
    expect(at + 1).toBe(limits.maxProcesses);
  }, 30_000);

  test("other processes: the agent's are out of sight and out of reach", async () => {
    const [r] = await asAgent([
      {
        language: "python",
        code: `import os\nprint(os.getpid())\ntry:\n    os.kill(${process.pid}, 0); print('signalled')\nexcept OSError as e:\n    print('kill', e.errno)\ntry:\n    open('/proc/1/environ').read(); print('read environ')\nexcept OSError as e:\n    print('environ', e.errno)`,
      },
    ]);
    const [pid, kill, environ] = (r?.stdout ?? "").trim().split("\n");
    // Its own PID namespace: it is one of the first few processes there.
    expect(Number(pid)).toBeLessThan(10);
    expect(kill).toBe("kill 3"); // ESRCH: no such process in its namespace
    expect(environ).toBe("environ 13"); // EACCES: another user namespace's process
  });

  test("seccomp: ptrace, namespaces, mounts, keyrings and io_uring are refused", async () => {
    const calls = {
      ptrace: [101, 0, 0, 0, 0],
      unshare: [272, 0x10000000],
      mount: [165, 0, 0, 0, 0, 0],
      keyctl: [250, 0, 0],
      io_uring_setup: [425, 1, 0],
      getpid: [39],
    };
    const code = `import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfor name, args in ${JSON.stringify(calls)}.items():\n    r = libc.syscall(*args)\n    print(name, r if r >= 0 and name == 'getpid' else ctypes.get_errno() if r < 0 else 'ok')`;
    const [r] = await asAgent([{ language: "python", code }]);
    const seen = Object.fromEntries(
      (r?.stdout ?? "")
        .trim()
        .split("\n")
        .map((l) => l.split(" ")),
    );
    // The allowed call first: the filter lets ordinary calls through.
    expect(Number(seen.getpid)).toBeGreaterThan(0);
    expect(seen).toMatchObject({ ptrace: "1", unshare: "1", mount: "1", keyctl: "1", io_uring_setup: "1" });
  });

  test("the filesystem: it writes its folder and /tmp, nothing else", async () => {
    const [r] = await asAgent([
      {
        language: "python",
        code: "import os\nopen('out.txt','w').write('x'); open('/tmp/t','w').write('y')\nfor p in ['/usr/pwned', '/pwned', '/proc/pwned']:\n    try:\n        open(p, 'w'); print('wrote', p)\n    except OSError as e:\n        print('refused', p)",
      },
    ]);
    expect(r?.stdout).toBe("refused /usr/pwned\nrefused /pwned\nrefused /proc/pwned\n");
    expect(r?.exitCode).toBe(0);
  });

  test("JavaScript gets the same walls", async () => {
    const port = server?.port;
    const [r] = await asAgent([
      {
        language: "javascript",
        code: `const net = require("net");
const s = net.connect(${port}, "127.0.0.1");
s.on("data", (d) => { console.log("got", String(d)); process.exit(0); });
s.on("error", (e) => { console.log("error", e.code); process.exit(0); });`,
      },
    ]);
    expect(r?.stdout).not.toContain("got");
    expect(r?.stdout).toMatch(/^error E(ACCES|PERM)/);
  });
});

describe("sandboxArgs", () => {
  test("binds only /usr, /proc read-only, the working folder and the interpreter; fd 3 carries the filter", () => {
    const args = sandboxArgs({
      bwrap: "/usr/bin/bwrap",
      workDir: "/tmp/code-runner-x/work",
      interpreter: { host: "/opt/bun/bin/bun", inside: "/opt/interpreter/javascript" },
      file: "main.js",
      language: "javascript",
      rlimits: ["--nproc=9"],
    });
    const binds = args.flatMap((a, i) => (a === "--bind" || a === "--ro-bind" ? [`${a} ${args[i + 1]}`] : []));
    expect(binds).toEqual([
      "--ro-bind /usr",
      "--ro-bind /proc",
      "--bind /tmp/code-runner-x/work",
      "--ro-bind /opt/bun/bin/bun",
    ]);
    for (const flag of ["--unshare-user", "--unshare-pid", "--unshare-net", "--die-with-parent"]) {
      expect(args).toContain(flag);
    }
    expect(args.slice(args.indexOf("--seccomp"), args.indexOf("--seccomp") + 2)).toEqual(["--seccomp", "3"]);
    expect(args.slice(args.indexOf("--seccomp") + 3)).toEqual([
      "/usr/bin/prlimit",
      "--nproc=9",
      "--",
      "/opt/interpreter/javascript",
      "run",
      "--smol",
      "/work/main.js",
    ]);
  });
});

describe("the whole command line", () => {
  // Every flag and path, in order: a path not named here does not exist for the snippet, and a
  // flag dropped (a namespace, the read-only remount) is a wall gone.
  const walls =
    "/usr/bin/bwrap --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts --unshare-cgroup-try" +
    " --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64" +
    " --symlink usr/bin /bin --symlink usr/sbin /sbin --ro-bind /proc /proc --dev /dev --tmpfs /tmp" +
    " --bind /tmp/code-runner-x/work /work --chdir /work";
  const commandLine = (language: Language, host: string, inside: string, rlimits: string[]) =>
    sandboxArgs({
      bwrap: "/usr/bin/bwrap",
      workDir: "/tmp/code-runner-x/work",
      interpreter: { host, inside },
      file: language === "python" ? "main.py" : "main.js",
      language,
      rlimits,
    }).join(" ");

  test("Python from /usr: no interpreter bound apart, isolated mode, no site", () => {
    expect(commandLine("python", "/usr/bin/python3", "/usr/bin/python3", ["--cpu=2", "--nproc=5"])).toBe(
      `${walls} --remount-ro / --seccomp 3 -- /usr/bin/prlimit --cpu=2 --nproc=5 -- /usr/bin/python3 -I -S /work/main.py`,
    );
  });

  test("JavaScript from outside /usr: its interpreter bound read-only at a fixed path", () => {
    expect(commandLine("javascript", "/opt/bun/bin/bun", "/opt/interpreter/javascript", [])).toBe(
      `${walls} --ro-bind /opt/bun/bin/bun /opt/interpreter/javascript --remount-ro / --seccomp 3 --` +
        " /usr/bin/prlimit -- /opt/interpreter/javascript run --smol /work/main.js",
    );
  });
});

describe("runSnippet in this process", () => {
  const python = (code: string) => runSnippet("python", code, "", limits);
  afterAll(() => useSandboxBinaries({}));

  test("the snippet's environment is the few variables given, nothing inherited", async () => {
    process.env.SECRET_FOR_TEST = "inherited";
    try {
      const r = await python("import os\nprint(sorted(os.environ.items()))\nprint(oct(os.stat('.').st_mode & 0o777))");
      expect(r.stdout).toBe(
        "[('HOME', '/work'), ('LANG', 'C.UTF-8'), ('NO_COLOR', '1'), ('PATH', '/usr/local/bin:/usr/bin:/bin'), ('PWD', '/work'), ('PYTHONDONTWRITEBYTECODE', '1'), ('TMPDIR', '/tmp')]\n0o700\n",
      );
      expect(r).toMatchObject({ exitCode: 0, signal: null, stderr: "", timedOut: false, outputTruncated: false });
    } finally {
      delete process.env.SECRET_FOR_TEST;
    }
  });

  test.if(asRoot)(
    "an agent running as root runs each concurrent snippet under a uid of its own, given back after",
    async () => {
      const uid = "import os, time\ntime.sleep(0.3)\nprint(os.getuid(), os.getgid(), os.getgroups())";
      const both = await Promise.all([0, 1].map(() => python(uid)));
      expect(both.map((r) => r.stdout).sort()).toEqual(["61000 61000 []\n", "61001 61001 []\n"]);
      const again = await python(uid);
      expect(again.stdout).toBe("61000 61000 []\n");
      // its folder and file are its own, so it can write there
      const w = await python(
        "open('out.txt', 'w').write('x')\nopen('main.py', 'a').write('#')\nprint(open('main.py').read()[:6])",
      );
      expect(w).toMatchObject({ exitCode: 0, stdout: "open('\n" });
    },
  );

  test("an abort kills the run at once; the wall-clock limit too, and says so", async () => {
    const abort = new AbortController();
    const started = Date.now();
    const running = runSnippet("python", "import time\ntime.sleep(30)", "", limits, abort.signal);
    setTimeout(() => abort.abort(), 200);
    const r = await running;
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(r).toMatchObject({ exitCode: null, signal: "SIGKILL", timedOut: false });
    const late = await runSnippet("python", "import time\ntime.sleep(30)", "", { ...limits, wallMs: 300 });
    expect(late).toMatchObject({ exitCode: null, signal: "SIGKILL", timedOut: true });
    expect(late.durationMs).toBeGreaterThanOrEqual(300);
  });

  test("output past the cap is cut where the cap is, once, and the rest drained", async () => {
    const chunks = ["abc", "def", "ghi"].map((t) => new TextEncoder().encode(t));
    let overflows = 0;
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of chunks) c.enqueue(chunk);
        c.close();
      },
    });
    expect(await readCapped(stream, 4, () => overflows++)).toEqual({ text: "abcd", truncated: true });
    expect(overflows).toBe(1);
    const exact = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("abcd"));
        c.close();
      },
    });
    expect(await readCapped(exact, 4, () => overflows++)).toEqual({ text: "abcd", truncated: false });
    expect(overflows).toBe(1);
  });

  test("bubblewrap's own failure is the sandbox's, not the snippet's: SandboxUnavailable, retryable", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fake-bwrap-"));
    chmodSync(dir, 0o755);
    const fake = join(dir, "bwrap");
    writeFileSync(
      fake,
      "#!/bin/sh\necho >&2\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n",
      { mode: 0o755 },
    );
    // a snippet that fails on its own, with words of its own on stderr, is the snippet's failure
    const own = await python("import sys\nprint('x\\nnot bwrap: mine', file=sys.stderr)\nsys.exit(1)");
    expect(own.exitCode).toBe(1);
    // and one that succeeds, whatever it writes, is the snippet's success
    const fine = await python("import sys\nprint('bwrap: words of its own', file=sys.stderr)");
    expect(fine).toMatchObject({ exitCode: 0, stderr: "bwrap: words of its own\n" });
    try {
      useSandboxBinaries({ bwrap: fake });
      const err = await python("print(1)").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SandboxUnavailableError);
      expect((err as SandboxUnavailableError).message).toBe(
        "the sandbox could not be made: bwrap: Creating new namespace failed: Operation not permitted",
      );
      expect((err as SandboxUnavailableError).retryable).toBe(true);
      expect((err as SandboxUnavailableError).reason).toBe("SandboxUnavailable");
      expect(await probeSandbox()).toBe(
        "the sandbox could not be made: bwrap: Creating new namespace failed: Operation not permitted",
      );
    } finally {
      useSandboxBinaries({});
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the start-up probe: nothing to say when a snippet runs, what it printed when it runs wrong", async () => {
    expect(await probeSandbox()).toBeUndefined();
    useSandboxBinaries({ python: "/usr/bin/echo" });
    expect(await probeSandbox()).toBe('a trivial snippet printed "-I -S /work/main.py\\n"');
  });

  test("the configured bubblewrap, when it is not there, gives way to the one installed", async () => {
    useSandboxBinaries({ bwrap: "/nonexistent/bwrap" });
    expect((await python("print(1)")).stdout).toBe("1\n");
  });

  test("a JavaScript snippet is a .js file; runs leave no descriptor open", async () => {
    const fds = () => readdirSync("/proc/self/fd").length;
    const before = fds();
    const r = await runSnippet("javascript", "console.log(require('node:path').basename(__filename))", "", limits);
    expect(r.stdout).toBe("main.js\n");
    for (let i = 0; i < 3; i++) await python("print(1)");
    expect(fds()).toBe(before);
  });
});
