/**
 * The images a local node runs, built on this machine (no registry is
 * needed): the conductor's, from the repository's Dockerfile, and the pod
 * sandbox's (hack/images/build.sh), and CoreDNS's, wrapped around the binary
 * hack/node/build.sh makes. Each is an image archive, cached by its inputs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { nodeAddonsDir, repoRoot, runBuildStep } from "./binaries.ts";
import { corednsImage } from "./node.ts";

export interface BuiltImages {
  /** Image archives to import into the node, each in docker save format. */
  archives: string[];
  /** The conductor's image as containerd names it once imported. */
  conductor: string;
  /** [imported reference, further name]: tags to add after import (the kustomize base's image name). */
  aliases: [string, string][];
}

/** Docker's normalisation: a name without a registry is Docker Hub's, without a path `library/`. */
export function normalizeImageRef(ref: string): string {
  const [first, ...rest] = ref.split("/");
  const hasRegistry = rest.length > 0 && first !== undefined && /[.:]|^localhost$/.test(first);
  const named = hasRegistry ? ref : `docker.io/${rest.length ? ref : `library/${ref}`}`;
  return /:[^/]+$/.test(named) || named.includes("@") ? named : `${named}:latest`;
}

/** The image the kustomize base names (`images:` newName:newTag): what the README's install pulls. */
export function kustomizeImage(): string {
  const k = parse(readFileSync(join(repoRoot, "kustomize", "base", "kustomization.yaml"), "utf8")) as {
    images?: { name: string; newName?: string; newTag?: string }[];
  };
  const image = k.images?.find((i) => i.name === "mcp-conductor");
  if (!image?.newName || !image.newTag) throw new Error("kustomize/base names no mcp-conductor image");
  return `${image.newName}:${image.newTag}`;
}

/**
 * Runs hack/images/build.sh for `targets` (its default set when none) and
 * returns its `REF=ARCHIVE` lines as reference → archive.
 */
export function buildImageArchives(...targets: string[]): Map<string, string> {
  const refs = new Map<string, string>();
  for (const line of runBuildStep(["bash", join(repoRoot, "hack", "images", "build.sh"), ...targets]).split("\n")) {
    const eq = line.lastIndexOf("=");
    if (eq > 0) refs.set(line.slice(0, eq), line.slice(eq + 1));
  }
  if (refs.size === 0) throw new Error(`hack/images/build.sh ${targets.join(" ")} printed no image archives`);
  return refs;
}

/** Builds (or reuses) every image a node with the conductor needs. */
export function buildImages(): BuiltImages {
  const refs = buildImageArchives();
  const conductorRef = [...refs.keys()].find((r) => !r.includes("pause"));
  if (!conductorRef || refs.size < 2) throw new Error(`hack/images/build.sh printed no image archives`);
  const coredns = join(nodeAddonsDir(), "coredns.tar");
  if (!existsSync(coredns)) {
    runBuildStep([
      process.execPath,
      join(repoRoot, "hack", "images", "wrap-binary.ts"),
      `--binary=${join(nodeAddonsDir(), "coredns")}`,
      `--ref=${corednsImage}`,
      `--out=${coredns}`,
      "--path=/coredns",
      "--user=65532:65532",
      "--expose=53/udp",
      "--expose=53/tcp",
    ]);
  }
  const conductor = normalizeImageRef(conductorRef);
  return {
    archives: [...refs.values(), coredns],
    conductor,
    aliases: [[conductor, normalizeImageRef(kustomizeImage())]],
  };
}
