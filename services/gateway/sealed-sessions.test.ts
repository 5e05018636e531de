import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  claimsFor,
  parseKeyMaterial,
  sealSessionId,
  sessionKey,
  sessionKeyId,
  unsealSessionId,
} from "./sealed-sessions.ts";
import { sessionLabelValue } from "./task-calls.ts";

const key = sessionKey(randomBytes(32));
const params = {
  protocolVersion: "2025-11-25",
  clientInfo: { name: "test-client", version: "1.0.0" },
  capabilities: { roots: { listChanged: true }, elicitation: {} },
};
const claims = claimsFor("alice", params, 3600, 1_000_000_000_000);
const now = 1_000_000_000_000 + 1000;

describe("sealed session ids", () => {
  test("round-trip the claims of the initialize", () => {
    const id = sealSessionId(key, "domain-a", claims);
    expect(unsealSessionId(key, "domain-a", id, now)).toEqual(claims);
    expect(claims).toMatchObject({ v: 1, client: "alice", ...params, exp: claims.iat + 3600 });
    expect(sessionKeyId(id)).toBe(key.kid);
  });

  test("are visible ASCII, unique, and their first 63 characters are a valid label value", () => {
    const ids = Array.from({ length: 200 }, () => sealSessionId(key, "domain-a", claims));
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.map(sessionLabelValue)).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[\x21-\x7e]+$/);
      expect(sessionLabelValue(id)).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])$/);
    }
  });

  test("a changed character, another key, another domain or an expired id opens nothing", () => {
    const id = sealSessionId(key, "domain-a", claims);
    for (let i = 0; i < id.length; i++) {
      const c = id[i] === "a" ? "b" : "a";
      expect(unsealSessionId(key, "domain-a", id.slice(0, i) + c + id.slice(i + 1), now)).toBeUndefined();
    }
    expect(unsealSessionId(sessionKey(randomBytes(32)), "domain-a", id, now)).toBeUndefined();
    expect(unsealSessionId(key, "domain-b", id, now)).toBeUndefined();
    expect(unsealSessionId(key, "domain-a", id, (claims.exp + 1) * 1000)).toBeUndefined();
    for (const junk of ["", "nope", "x".repeat(4000), `${key.kid}.${"0".repeat(56)}.`, `${id}x`.repeat(40)])
      expect(unsealSessionId(key, "domain-a", junk, now)).toBeUndefined();
  });

  test("outsized client info and capabilities are cut down, not carried whole", () => {
    const big = claimsFor(
      "bob",
      {
        protocolVersion: "2025-06-18",
        clientInfo: { name: "n", version: "1", description: "x".repeat(5000) },
        capabilities: { sampling: {}, experimental: { blob: "y".repeat(5000) } },
      },
      60,
    );
    expect(big.clientInfo).toEqual({ name: "n", version: "1" });
    expect(big.capabilities).toEqual({ sampling: {} });
    expect(sealSessionId(key, "d", big).length).toBeLessThan(600);
  });

  test("key material is 32 bytes, raw or as hex or base64 text", () => {
    const raw = randomBytes(32);
    expect(parseKeyMaterial(raw)).toEqual(raw);
    expect(parseKeyMaterial(raw.toString("hex"))).toEqual(raw);
    expect(parseKeyMaterial(`${raw.toString("hex")}\n`)).toEqual(raw);
    expect(parseKeyMaterial(raw.toString("base64"))).toEqual(raw);
    expect(() => parseKeyMaterial("too short")).toThrow("32 bytes");
    // the key id follows the material, so replicas with one key agree on it
    expect(sessionKey(raw).kid).toBe(sessionKey(Buffer.from(raw)).kid);
    expect(sessionKey(raw).kid).toMatch(/^[0-9a-f]{8}$/);
  });
});
