/**
 * Static bearer tokens from a folder, one file per client, named after the
 * client and holding its token: a mounted Secret in a cluster. The folder is
 * read again when it changes, without a restart: the kubelet updates a
 * mounted Secret by swapping its ..data symlink to a new folder, which gives
 * every file a new inode; a plain folder edited in place changes a file's
 * mtime or size. A check is at most one readdir and a stat per file per
 * `checkMs`. Token comparison is constant-time.
 */
import { timingSafeEqual } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../../lib/log.ts";
import type { TokenVerifier, Verdict } from "./types.ts";

/** Client identity → token. */
export type TokenTable = Map<string, string>;

/** The tokens of a folder; entries starting with "." (..data and friends of a projected volume) are skipped. */
export function readTokenDir(dir: string): TokenTable {
  const table: TokenTable = new Map();
  for (const name of readdirSync(dir)) {
    if (name.startsWith(".")) continue;
    const token = readFileSync(join(dir, name), "utf8").trim();
    if (token) table.set(name, token);
  }
  return table;
}

/** The client a token belongs to; every entry is compared, in constant time, so timing says nothing. */
export function identify(table: TokenTable, token: string): string | undefined {
  const given = Buffer.from(token);
  let found: string | undefined;
  for (const [client, t] of table) {
    const want = Buffer.from(t);
    if (want.length === given.length && timingSafeEqual(want, given)) found = client;
  }
  return found;
}

/** What changes when the folder's content may have: names, inodes, mtimes, sizes, and the ..data link. */
function fingerprint(dir: string): string {
  const parts: string[] = [];
  try {
    const data = lstatSync(join(dir, "..data"));
    parts.push(`..data:${data.ino}:${data.mtimeMs}`);
  } catch {
    // not a projected volume
  }
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith(".")) continue;
    try {
      const s = statSync(join(dir, name));
      parts.push(`${name}:${s.ino}:${s.mtimeMs}:${s.size}`);
    } catch {
      parts.push(`${name}:gone`);
    }
  }
  return parts.join("|");
}

export type StaticTokensSource = { table: TokenTable } | { dir: string; checkMs?: number; log?: Logger };

export class StaticTokens implements TokenVerifier {
  readonly name = "static";
  private table: TokenTable;
  private readonly dir: string | undefined;
  private readonly checkMs: number;
  private readonly log: Logger | undefined;
  private checkedAt = 0;
  private seen = "";

  constructor(source: StaticTokensSource) {
    if ("table" in source) {
      this.table = source.table;
      this.checkMs = Number.POSITIVE_INFINITY;
    } else {
      this.dir = source.dir;
      this.checkMs = source.checkMs ?? 1000;
      this.log = source.log;
      this.table = new Map();
      this.reload(true);
    }
  }

  /** How many tokens are known now. */
  get size(): number {
    this.maybeReload();
    return this.table.size;
  }

  async verify(token: string): Promise<Verdict> {
    this.maybeReload();
    const client = identify(this.table, token);
    return client ? { identity: { client, method: "static", groups: [], scopes: [] } } : undefined;
  }

  private maybeReload(): void {
    if (this.dir === undefined || Date.now() - this.checkedAt < this.checkMs) return;
    this.reload(false);
  }

  /** Reads the folder again if it changed; an unreadable folder means no tokens (never every caller). */
  private reload(first: boolean): void {
    const dir = this.dir as string;
    this.checkedAt = Date.now();
    let print: string;
    try {
      print = fingerprint(dir);
      if (!first && print === this.seen) return;
      this.table = readTokenDir(dir);
    } catch (err) {
      if (this.seen !== "unreadable")
        this.log?.error({ dir, err }, "Cannot read the tokens folder: no static token is accepted");
      this.seen = "unreadable";
      this.table = new Map();
      return;
    }
    this.seen = print;
    if (!first) this.log?.info({ dir, clients: this.table.size }, "Reloaded the static tokens");
    if (this.table.size === 0) this.log?.warn({ dir }, "The tokens folder holds no token: no static token is accepted");
  }
}
