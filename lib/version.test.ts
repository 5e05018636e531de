// The version is written in package.json; the install units cannot import it,
// so each place they name the image is checked against it here.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./control-plane/binaries.ts";
import { conductorImage, version } from "./version.ts";

const read = (path: string) => readFileSync(join(repoRoot, path), "utf8");

test("package.json's version is a semantic version", () => {
  expect(version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
});

test.each(["kustomize/base/kustomization.yaml", "kustomize/cluster/authorizer/kustomization.yaml"])(
  "%s tags the conductor's image with package.json's version",
  (path) => {
    const tags = [...read(path).matchAll(/newTag:\s*(\S+)/g)].map((m) => m[1]);
    expect(tags).toEqual([version]);
  },
);

test.each(["kustomize/base/controller-config.yaml", "docs/deployment.md"])(
  "%s names the conductor's image at package.json's version",
  (path) => {
    const named = [...read(path).matchAll(/ghcr\.io\/mcp-conductor\/mcp-conductor:([^\s"`']+)/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(0);
    expect(new Set(named)).toEqual(new Set([version]));
    expect(read(path)).toContain(conductorImage);
  },
);
