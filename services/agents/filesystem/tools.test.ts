import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { callTool, toolError } from "../../../lib/agent/testing.ts";
import type { ToolDefinition } from "../../../lib/agent/tool.ts";
import { filesystemTools, safePath } from "./tools.ts";

let base: string;
let root: string;
let outside: string;
let tool: (name: string) => ToolDefinition;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "fs-agent-"));
  root = join(base, "root");
  outside = join(base, "outside");
  mkdirSync(join(root, "docs"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, "docs", "hello.txt"), "hello");
  writeFileSync(join(root, "big.bin"), Buffer.alloc(2048));
  writeFileSync(join(outside, "secret.txt"), "top secret");
  symlinkSync(join(outside, "secret.txt"), join(root, "link-to-secret"));
  symlinkSync(outside, join(root, "link-to-outside"));
  symlinkSync(join(root, "docs", "hello.txt"), join(root, "inner-link"));
  symlinkSync(join(base, "nowhere"), join(root, "zz-dangling"));
  const tools = filesystemTools({ root, maxReadBytes: 1024, maxWriteBytes: 1024, maxEntries: 3 });
  tool = (name) => tools.find((t) => t.name === name) as ToolDefinition;
});

afterAll(() => rmSync(base, { recursive: true, force: true })); // a mutation run makes one per mutant

describe("filesystem tools", () => {
  test("read, write, list and stat inside the root", async () => {
    expect(await callTool(tool("read_file"), { path: "docs/hello.txt" })).toMatchObject({ content: "hello", size: 5 });
    expect(await callTool(tool("write_file"), { path: "new/dir/note.txt", content: "hi", createDirs: true })).toEqual({
      path: "new/dir/note.txt",
      size: 2,
    });
    expect(readFileSync(join(root, "new", "dir", "note.txt"), "utf8")).toBe("hi");
    expect(await callTool(tool("read_file"), { path: "/docs/hello.txt", encoding: "base64" })).toMatchObject({
      content: "aGVsbG8=",
    });
    expect(await callTool(tool("stat"), { path: "docs" })).toMatchObject({ type: "directory" });
    const listing = (await callTool(tool("list_dir"), { path: "." })) as {
      entries: { name: string; type: string }[];
      truncated: boolean;
    };
    expect(listing.entries.map((e) => `${e.name}:${e.type}`)).toEqual([
      "big.bin:file",
      "docs:directory",
      "inner-link:symlink",
    ]);
    expect(listing.truncated).toBe(true); // capped at 3 entries
  });

  test("a symlink that stays inside the root is followed for stat", async () => {
    expect(await callTool(tool("stat"), { path: "inner-link" })).toMatchObject({ type: "file", size: 5 });
  });

  test.each([
    {
      name: "dot-dot traversal",
      tool: "read_file",
      input: { path: "../outside/secret.txt" },
      reason: "PathOutsideRoot",
    },
    {
      name: "deep traversal",
      tool: "read_file",
      input: { path: "docs/../../outside/secret.txt" },
      reason: "PathOutsideRoot",
    },
    {
      name: "symlink to a file outside",
      tool: "read_file",
      input: { path: "link-to-secret" },
      reason: "PathOutsideRoot",
    },
    {
      name: "symlinked folder outside",
      tool: "read_file",
      input: { path: "link-to-outside/secret.txt" },
      reason: "PathOutsideRoot",
    },
    {
      name: "write through a symlinked folder",
      tool: "write_file",
      input: { path: "link-to-outside/pwned.txt", content: "x" },
      reason: "PathOutsideRoot",
    },
    {
      name: "write over a symlink",
      tool: "write_file",
      input: { path: "link-to-secret", content: "x" },
      reason: "PathOutsideRoot",
    },
    { name: "list outside", tool: "list_dir", input: { path: "../" }, reason: "PathOutsideRoot" },
    { name: "NUL byte", tool: "stat", input: { path: "docs\u0000/../../x" }, reason: "InvalidInput" },
    { name: "a file over the read limit", tool: "read_file", input: { path: "big.bin" }, reason: "FileTooLarge" },
    {
      name: "content over the write limit",
      tool: "write_file",
      input: { path: "x.txt", content: "y".repeat(2000) },
      reason: "FileTooLarge",
    },
    { name: "a missing file", tool: "read_file", input: { path: "nope.txt" }, reason: "NotFound" },
    { name: "reading a folder", tool: "read_file", input: { path: "docs" }, reason: "IsADirectory" },
    { name: "a missing path", tool: "stat", input: {}, reason: "InvalidInput" },
  ])("rejects $name ($reason)", async ({ tool: name, input, reason }) => {
    const err = await toolError(callTool(tool(name), input));
    expect(err.reason).toBe(reason);
    expect(err.message).toContain("payload.");
  });

  test("nothing outside the root was touched", () => {
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("top secret");
    expect(() => readFileSync(join(outside, "pwned.txt"))).toThrow();
  });
});

describe("safePath", () => {
  const rootReal = () => realpathSync(root);
  const refusal = async (userPath: string) => {
    try {
      return await safePath(rootReal(), userPath);
    } catch (e) {
      const err = e as { reason?: string; code?: string; message: string };
      return { reason: err.reason, code: err.code, message: err.message };
    }
  };

  test("paths inside: relative, absolute (any number of leading slashes), through folders not made yet", async () => {
    const r = rootReal();
    expect(await safePath(r, "docs/hello.txt")).toBe(join(r, "docs", "hello.txt"));
    expect(await safePath(r, "//docs/hello.txt")).toBe(join(r, "docs", "hello.txt"));
    expect(await safePath(r, "/")).toBe(r);
    expect(await safePath(r, "docs/new/deeper/x.txt")).toBe(join(r, "docs", "new", "deeper", "x.txt"));
    expect(await safePath(r, "inner-link")).toBe(join(r, "docs", "hello.txt"));
  });

  test("each refusal says why", async () => {
    expect(await refusal("docs\u0000x")).toEqual({
      reason: "InvalidInput",
      code: undefined,
      message: "payload.path: is not a valid path",
    });
    expect(await refusal(42 as unknown as string)).toMatchObject({ reason: "InvalidInput" });
    expect(await refusal("../outside/secret.txt")).toEqual({
      reason: "PathOutsideRoot",
      code: undefined,
      message: "payload.path: ../outside/secret.txt is outside the root",
    });
    expect(await refusal("link-to-outside/new.txt")).toEqual({
      reason: "PathOutsideRoot",
      code: undefined,
      message: "payload.path: link-to-outside/new.txt leads outside the root through a symlink",
    });
  });

  test("an error other than a missing path is not walked around", async () => {
    expect(await refusal("docs/hello.txt/x")).toMatchObject({ reason: undefined, code: "ENOTDIR" });
  });
});

describe("filesystem errors", () => {
  test("listing a file: NotADirectory", async () => {
    const err = await toolError(callTool(tool("list_dir"), { path: "docs/hello.txt" }));
    expect([err.reason, err.message]).toEqual(["NotADirectory", "payload.path: docs/hello.txt is not a directory"]);
  });

  test("writing over a dangling symlink: refused, not followed", async () => {
    const err = await toolError(callTool(tool("write_file"), { path: "zz-dangling", content: "x" }));
    expect([err.reason, err.message]).toEqual(["PathOutsideRoot", "payload.path: zz-dangling is a symlink"]);
  });

  // Root is refused nothing by permissions, but an immutable file (chattr +i, where the filesystem has it) refuses even root.
  const immutable = (path: string, on: boolean) =>
    Bun.spawnSync(["chattr", on ? "+i" : "-i", path], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  afterAll(() => {
    immutable(join(root, "locked.txt"), false);
  });
  test("writing where even root may not: PermissionDenied", async () => {
    const locked = join(root, "locked.txt");
    writeFileSync(locked, "keep");
    let err: Awaited<ReturnType<typeof toolError>> | undefined;
    try {
      if (!immutable(locked, true)) return; // no chattr, or a filesystem without the attribute: nothing to check
      err = await toolError(callTool(tool("write_file"), { path: "locked.txt", content: "x" }));
    } finally {
      immutable(locked, false);
    }
    expect([err?.reason, err?.message]).toEqual(["PermissionDenied", "payload.path: locked.txt: permission denied"]);
    expect(readFileSync(locked, "utf8")).toBe("keep");
  });

  test("reading a folder: IsADirectory", async () => {
    const err = await toolError(callTool(tool("read_file"), { path: "docs" }));
    expect(err.message).toBe("payload.path: docs is a directory");
  });
});
