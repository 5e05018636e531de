/**
 * filesystem tools: read, write, list and stat inside one root folder.
 * Every path is resolved inside the root, and the real path of what it
 * reaches (symlinks followed) must stay inside too, so neither "../" nor a
 * symlink pointing out escapes. Reads and writes are capped in size.
 */
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { type AnyTool, defineTool, invalidInput, ToolError } from "../../../lib/agent/tool.ts";

export const capability = "filesystem";

export interface FilesystemLimits {
  root: string;
  maxReadBytes?: number;
  maxWriteBytes?: number;
  maxEntries?: number;
}

const within = (root: string, p: string) => p === root || p.startsWith(root + sep);

/**
 * The absolute path for `userPath` inside the root, after checking that it
 * and the real location of its nearest existing ancestor stay inside.
 */
export async function safePath(rootReal: string, userPath: string): Promise<string> {
  if (typeof userPath !== "string" || userPath.includes("\0")) throw invalidInput("payload.path: is not a valid path");
  const rel = isAbsolute(userPath) ? userPath.replace(/^\/+/, "") : userPath;
  const target = resolve(rootReal, rel);
  if (!within(rootReal, target))
    throw new ToolError("PathOutsideRoot", `payload.path: ${userPath} is outside the root`);
  // Follow symlinks on the part of the path that exists.
  let existing = target;
  for (;;) {
    try {
      const real = await realpath(existing);
      if (!within(rootReal, real))
        throw new ToolError("PathOutsideRoot", `payload.path: ${userPath} leads outside the root through a symlink`);
      return existing === target ? real : join(real, relative(existing, target));
    } catch (err) {
      if (err instanceof ToolError) throw err;
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      const parent = dirname(existing);
      if (parent === existing) throw err;
      existing = parent;
    }
  }
}

function fsError(err: unknown, path: string): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") throw new ToolError("NotFound", `payload.path: ${path} does not exist`);
  if (code === "EISDIR") throw new ToolError("IsADirectory", `payload.path: ${path} is a directory`);
  if (code === "ENOTDIR") throw new ToolError("NotADirectory", `payload.path: ${path} is not a directory`);
  if (code === "EACCES" || code === "EPERM")
    throw new ToolError("PermissionDenied", `payload.path: ${path}: permission denied`);
  if (code === "ELOOP") throw new ToolError("PathOutsideRoot", `payload.path: ${path} is a symlink`);
  throw err;
}

const pathProp = {
  type: "string",
  minLength: 1,
  maxLength: 4096,
  description: "A path inside the agent's root folder",
};

export function filesystemTools(limits: FilesystemLimits): AnyTool[] {
  const maxRead = limits.maxReadBytes ?? 1024 * 1024;
  const maxWrite = limits.maxWriteBytes ?? 1024 * 1024;
  const maxEntries = limits.maxEntries ?? 1000;
  let rootReal: Promise<string> | undefined;
  const root = () => {
    rootReal ??= realpath(limits.root);
    return rootReal;
  };

  const readFile = defineTool({
    name: "read_file",
    title: "Read a file",
    description: `Reads a file inside the root, up to ${maxRead} bytes, as UTF-8 text or base64.`,
    capability,
    inputSchema: {
      type: "object",
      properties: { path: pathProp, encoding: { enum: ["utf8", "base64"], default: "utf8" } },
      required: ["path"],
      additionalProperties: false,
    },
    handler: async ({ path, encoding = "utf8" }: { path: string; encoding?: "utf8" | "base64" }) => {
      const p = await safePath(await root(), path);
      let fh: Awaited<ReturnType<typeof open>> | undefined;
      try {
        fh = await open(p, constants.O_RDONLY | constants.O_NOFOLLOW);
        const info = await fh.stat();
        if (info.isDirectory()) throw Object.assign(new Error(), { code: "EISDIR" });
        if (info.size > maxRead)
          throw new ToolError("FileTooLarge", `payload.path: ${path} is ${info.size} bytes; the limit is ${maxRead}`);
        const buf = Buffer.alloc(info.size);
        await fh.read(buf, 0, info.size, 0);
        return { path, size: info.size, encoding, content: buf.toString(encoding) };
      } catch (err) {
        if (err instanceof ToolError) throw err;
        fsError(err, path);
      } finally {
        await fh?.close();
      }
    },
  });

  const writeFile = defineTool({
    name: "write_file",
    title: "Write a file",
    description: `Writes a file inside the root (at most ${maxWrite} bytes), creating folders when asked.`,
    capability,
    inputSchema: {
      type: "object",
      properties: {
        path: pathProp,
        content: { type: "string" },
        encoding: { enum: ["utf8", "base64"], default: "utf8" },
        createDirs: { type: "boolean", default: false },
      },
      required: ["path", "content"],
      additionalProperties: false,
    },
    handler: async ({
      path,
      content,
      encoding = "utf8",
      createDirs = false,
    }: {
      path: string;
      content: string;
      encoding?: "utf8" | "base64";
      createDirs?: boolean;
    }) => {
      const data = Buffer.from(content, encoding);
      if (data.length > maxWrite)
        throw new ToolError("FileTooLarge", `payload.content: ${data.length} bytes; the limit is ${maxWrite}`);
      const p = await safePath(await root(), path);
      try {
        if (createDirs) {
          await mkdir(dirname(p), { recursive: true });
          // the folders just made must not have opened a way out
          await safePath(await root(), path);
        }
        // O_NOFOLLOW: a symlink planted at the target is refused, not followed.
        const fh = await open(
          p,
          constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
          0o644,
        );
        try {
          await fh.write(data, 0, data.length, 0);
        } finally {
          await fh.close();
        }
        return { path, size: data.length };
      } catch (err) {
        if (err instanceof ToolError) throw err;
        fsError(err, path);
      }
    },
  });

  const listDir = defineTool({
    name: "list_dir",
    title: "List a folder",
    description: `Lists a folder inside the root (at most ${maxEntries} entries), with each entry's type and size.`,
    capability,
    inputSchema: { type: "object", properties: { path: { ...pathProp, default: "." } }, additionalProperties: false },
    handler: async ({ path = "." }: { path?: string }) => {
      const p = await safePath(await root(), path);
      try {
        const names = (await readdir(p)).sort();
        const entries = [];
        for (const name of names.slice(0, maxEntries)) {
          const info = await lstat(join(p, name));
          const type = info.isSymbolicLink()
            ? "symlink"
            : info.isDirectory()
              ? "directory"
              : info.isFile()
                ? "file"
                : "other";
          entries.push({ name, type, size: info.size });
        }
        return { path, entries, truncated: names.length > maxEntries };
      } catch (err) {
        fsError(err, path);
      }
    },
  });

  const statPath = defineTool({
    name: "stat",
    title: "Describe a path",
    description: "Tells the type, size, mode and modification time of a path inside the root.",
    capability,
    inputSchema: { type: "object", properties: { path: pathProp }, required: ["path"], additionalProperties: false },
    handler: async ({ path }: { path: string }) => {
      const p = await safePath(await root(), path);
      try {
        const info = await stat(p);
        return {
          path,
          type: info.isDirectory() ? "directory" : info.isFile() ? "file" : "other",
          size: info.size,
          mode: (info.mode & 0o777).toString(8),
          modified: info.mtime.toISOString(),
        };
      } catch (err) {
        fsError(err, path);
      }
    },
  });

  return [readFile, writeFile, listDir, statPath];
}
