import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { type AuthEnv, authenticate } from "./authenticator.ts";
import { StaticTokens } from "./static-tokens.ts";
import type { TokenVerifier } from "./types.ts";

const tokenOf = async (v: StaticTokens, token: string) => {
  const verdict = await v.verify(token);
  return verdict && "identity" in verdict ? verdict.identity.client : undefined;
};

/** A folder laid out as the kubelet lays out a mounted Secret: files linked through ..data. */
function projected(dir: string, files: Record<string, string>, generation: number) {
  const ts = join(dir, `..2025_${generation}`);
  mkdirSync(ts);
  for (const [name, value] of Object.entries(files)) writeFileSync(join(ts, name), value);
  symlinkSync(`..2025_${generation}`, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data")); // the atomic swap
  for (const name of Object.keys(files)) {
    try {
      symlinkSync(join("..data", name), join(dir, name));
    } catch {
      // already linked from an earlier generation
    }
  }
}

describe("static tokens", () => {
  test("a folder edited in place is read again, without a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokens-"));
    const v = new StaticTokens({ dir, checkMs: 0 });
    expect(await tokenOf(v, "token-a")).toBeUndefined();
    writeFileSync(join(dir, "alice"), "token-a\n");
    expect(await tokenOf(v, "token-a")).toBe("alice");
    writeFileSync(join(dir, "alice"), "token-a2\n");
    expect(await tokenOf(v, "token-a")).toBeUndefined();
    expect(await tokenOf(v, "token-a2")).toBe("alice");
    rmSync(join(dir, "alice"));
    expect(await tokenOf(v, "token-a2")).toBeUndefined();
  });

  test("a kubelet-style ..data swap is picked up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokens-"));
    projected(dir, { alice: "old-token" }, 1);
    const v = new StaticTokens({ dir, checkMs: 0 });
    expect(await tokenOf(v, "old-token")).toBe("alice");
    projected(dir, { alice: "new-token" }, 2);
    expect(await tokenOf(v, "old-token")).toBeUndefined();
    expect(await tokenOf(v, "new-token")).toBe("alice");
  });

  test("changes are looked for at most every checkMs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokens-"));
    const v = new StaticTokens({ dir, checkMs: 60_000 });
    writeFileSync(join(dir, "bob"), "token-b");
    expect(await tokenOf(v, "token-b")).toBeUndefined();
  });

  test("a missing folder accepts nothing", async () => {
    const v = new StaticTokens({ dir: join(tmpdir(), "no-such-tokens-folder-xyz"), checkMs: 0 });
    expect(v.size).toBe(0);
    expect(await tokenOf(v, "")).toBeUndefined();
  });
});

describe("fail closed", () => {
  const app = (verifiers: TokenVerifier[], allowUnauthenticated?: boolean) => {
    const a = new Hono<AuthEnv>();
    a.use("/mcp", authenticate({ verifiers, allowUnauthenticated }));
    a.post("/mcp", (c) => c.json(c.get("identity")));
    return a;
  };
  const call = (a: Hono<AuthEnv>, token?: string) =>
    a.request("http://gw/mcp", { method: "POST", headers: token ? { Authorization: `Bearer ${token}` } : {} });

  test("nothing configured → 401 for every request, token or not", async () => {
    const a = app([]);
    expect((await call(a)).status).toBe(401);
    expect((await call(a, "anything")).status).toBe(401);
  });

  test("an empty tokens Secret → 401 (not open)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokens-"));
    const a = app([new StaticTokens({ dir, checkMs: 0 })]);
    expect((await call(a)).status).toBe(401);
    expect((await call(a, "anything")).status).toBe(401);
  });

  test("open mode serves a caller without a token as anonymous", async () => {
    const res = await call(app([], true));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ client: "anonymous", method: "anonymous" });
  });

  test("open mode with tokens configured still refuses a bad token", async () => {
    const a = app([new StaticTokens({ table: new Map([["alice", "token-a"]]) })], true);
    expect((await call(a)).status).toBe(200);
    expect((await call(a, "token-a")).status).toBe(200);
    expect((await call(a, "wrong")).status).toBe(401);
  });
});
