import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { callTool, toolError } from "../../../lib/agent/testing.ts";
import type { ToolDefinition } from "../../../lib/agent/tool.ts";
import { filesystemTools } from "./tools.ts";

let root: string;
let outside: string;
let tool: (name: string) => ToolDefinition;

beforeAll(() => {
  const base = mkdtempSync(join(tmpdir(), "fs-agent-"));
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
  const tools = filesystemTools({ root, maxReadBytes: 1024, maxWriteBytes: 1024, maxEntries: 3 });
  tool = (name) => tools.find((t) => t.name === name) as ToolDefinition;
});

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
