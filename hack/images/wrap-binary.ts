/**
 * Wraps one static executable (and optionally a few more files) into a
 * single-layer container image archive, written directly: no Docker daemon,
 * no registry. The archive holds both layouts that `docker save` (25+) writes,
 * sharing the same blobs: an OCI image layout (oci-layout, index.json,
 * blobs/sha256/...) and Docker's manifest.json, so `ctr images import`,
 * `docker load` and a kubelet node's containerd all accept it. The same input
 * gives the same bytes, and so the same image ID.
 *
 *   bun hack/images/wrap-binary.ts --binary ./coredns --ref mcp-conductor/coredns:local \
 *     --out coredns.tar [--path /coredns] [--entrypoint /coredns] [--user 65532:65532] [--env K=V] \
 *     [--label K=V] [--expose 53/udp] [--workdir /] [--file src:/dest] [-- -conf /etc/coredns/Corefile]
 *
 * --path is where the executable goes in the image (default /<its name>),
 * --entrypoint the entry point (default that path; a JSON array for several
 * words), the words after -- the default arguments (Cmd), --user a numeric uid[:gid]
 * (default 65532:65532: the image has no /etc/passwd to resolve names).
 * Prints the archive's path.
 */
import { createHash } from "node:crypto";
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, posix } from "node:path";
import { parseArgs } from "node:util";

export interface ImageFile {
  /** Absolute path inside the image. */
  path: string;
  data: Uint8Array;
  mode: number;
}

export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  User?: string;
  Env?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
}

export interface ImageArchive {
  /** The image reference, as written into the archive (e.g. mcp-conductor/pause:local). */
  ref: string;
  files: ImageFile[];
  config: ImageConfig;
  /** GOARCH-style architecture; default the running machine's. */
  architecture?: string;
}

const BLOCK = 512;
const encoder = new TextEncoder();

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

/** One ustar header; names up to 255 bytes (split into prefix and name). */
function tarHeader(name: string, size: number, mode: number, type: "0" | "5"): Uint8Array {
  const h = new Uint8Array(BLOCK);
  let prefix = "";
  let short = name;
  if (encoder.encode(name).length > 100) {
    const cut = name.lastIndexOf("/", name.length - 2);
    prefix = name.slice(0, cut);
    short = name.slice(cut + 1);
    if (cut < 0 || encoder.encode(short).length > 100 || encoder.encode(prefix).length > 155) {
      throw new Error(`path too long for a tar header: ${name}`);
    }
  }
  const put = (offset: number, text: string) => h.set(encoder.encode(text), offset);
  put(0, short);
  put(100, octal(mode & 0o7777, 8));
  put(108, octal(0, 8)); // uid
  put(116, octal(0, 8)); // gid
  put(124, octal(size, 12));
  put(136, octal(0, 12)); // mtime: the epoch, for reproducible archives
  put(148, "        "); // checksum placeholder: eight spaces
  put(156, type);
  put(257, "ustar\0");
  put(263, "00");
  put(345, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}

/** A tar archive of the given entries (directories end in "/"), with the two closing zero blocks. */
export function tar(entries: { name: string; data?: Uint8Array; mode: number }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const dir = e.name.endsWith("/");
    const data = e.data ?? new Uint8Array();
    parts.push(tarHeader(e.name, dir ? 0 : data.length, e.mode, dir ? "5" : "0"));
    if (!dir && data.length > 0) {
      parts.push(data);
      const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (pad) parts.push(new Uint8Array(pad));
    }
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The layer: every parent folder (mode 0755) once, then the files, in path order. */
function layerTar(files: ImageFile[]): Uint8Array {
  const dirs = new Set<string>();
  const entries: { name: string; data?: Uint8Array; mode: number }[] = [];
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    if (!f.path.startsWith("/") || f.path.endsWith("/")) throw new Error(`not an absolute file path: ${f.path}`);
    const rel = posix.normalize(f.path).slice(1);
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = `${parts.slice(0, i).join("/")}/`;
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ name: d, mode: 0o755 });
      }
    }
    entries.push({ name: rel, data: f.data, mode: f.mode });
  }
  return tar(entries);
}

/** Docker's normalization: mcp-conductor:dev is docker.io/library/mcp-conductor:dev. */
export function normalizeRef(ref: string): string {
  if (ref.includes("@")) throw new Error(`a tag, not a digest, is needed: ${ref}`);
  const slash = ref.indexOf("/");
  const first = slash < 0 ? "" : ref.slice(0, slash);
  const hasDomain = first !== "" && (first.includes(".") || first.includes(":") || first === "localhost");
  let name = hasDomain ? ref : `docker.io/${slash < 0 ? `library/${ref}` : ref}`;
  if (!/:[\w][\w.-]{0,127}$/.test(name.slice(name.lastIndexOf("/")))) name += ":latest";
  return name;
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

function goArch(): string {
  const map: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" };
  return map[process.arch] ?? process.arch;
}

/** The archive's bytes, and the image ID (the config's digest). */
export function imageArchive(image: ImageArchive): { bytes: Uint8Array; id: string } {
  const full = normalizeRef(image.ref);
  const layer = layerTar(image.files);
  const layerDigest = sha256(layer);
  const architecture = image.architecture ?? goArch();
  const epoch = "1970-01-01T00:00:00Z";
  const config = encoder.encode(
    JSON.stringify({
      created: epoch,
      architecture,
      os: "linux",
      config: image.config,
      rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created: epoch, created_by: `wrap-binary ${image.files.map((f) => f.path).join(" ")}` }],
    }),
  );
  const configDigest = sha256(config);
  const manifest = encoder.encode(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: `sha256:${configDigest}`,
        size: config.length,
      },
      layers: [
        { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${layerDigest}`, size: layer.length },
      ],
    }),
  );
  const manifestDigest = sha256(manifest);
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: `sha256:${manifestDigest}`,
        size: manifest.length,
        platform: { architecture, os: "linux" },
        annotations: {
          "io.containerd.image.name": full,
          "org.opencontainers.image.ref.name": full.slice(full.lastIndexOf(":") + 1),
        },
      },
    ],
  };
  const dockerManifest = [
    { Config: `blobs/sha256/${configDigest}`, RepoTags: [image.ref], Layers: [`blobs/sha256/${layerDigest}`] },
  ];
  const json = (v: unknown) => encoder.encode(JSON.stringify(v));
  const blobs = [
    { digest: configDigest, data: config },
    { digest: layerDigest, data: layer },
    { digest: manifestDigest, data: manifest },
  ].sort((a, b) => (a.digest < b.digest ? -1 : 1));
  const bytes = tar([
    { name: "blobs/", mode: 0o755 },
    { name: "blobs/sha256/", mode: 0o755 },
    ...blobs.map((b) => ({ name: `blobs/sha256/${b.digest}`, data: b.data, mode: 0o644 })),
    { name: "index.json", data: json(index), mode: 0o644 },
    { name: "manifest.json", data: json(dockerManifest), mode: 0o644 },
    { name: "oci-layout", data: json({ imageLayoutVersion: "1.0.0" }), mode: 0o644 },
  ]);
  return { bytes, id: `sha256:${configDigest}` };
}

/** Writes the archive atomically (a temporary file renamed into place). */
export function writeImageArchive(image: ImageArchive, out: string): string {
  const { bytes, id } = imageArchive(image);
  const tmp = `${out}.tmp.${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, out);
  return id;
}

function parseEntrypoint(value: string): string[] {
  if (value.trimStart().startsWith("[")) {
    const parsed: unknown = JSON.parse(value);
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === "string")) {
      throw new Error(`--entrypoint: not a JSON array of strings: ${value}`);
    }
    return parsed;
  }
  return [value];
}

function keyValues(list: string[] | undefined, flag: string): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new Error(`${flag} wants KEY=VALUE, got ${kv}`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      binary: { type: "string" },
      ref: { type: "string" },
      out: { type: "string" },
      path: { type: "string" },
      entrypoint: { type: "string" },
      user: { type: "string", default: "65532:65532" },
      env: { type: "string", multiple: true },
      label: { type: "string", multiple: true },
      expose: { type: "string", multiple: true },
      workdir: { type: "string" },
      file: { type: "string", multiple: true },
      arch: { type: "string" },
    },
    strict: true,
  });
  if (!values.binary || !values.ref || !values.out) {
    throw new Error("usage: wrap-binary.ts --binary FILE --ref IMAGE:TAG --out ARCHIVE.tar [options]");
  }
  if (!/^\d+(:\d+)?$/.test(values.user)) throw new Error(`--user must be numeric uid[:gid], got ${values.user}`);
  const target = values.path ?? `/${basename(values.binary)}`;
  const files: ImageFile[] = [{ path: target, data: readFileSync(values.binary), mode: 0o755 }];
  for (const spec of values.file ?? []) {
    const colon = spec.lastIndexOf(":");
    if (colon <= 0) throw new Error(`--file wants SRC:/DEST, got ${spec}`);
    const src = spec.slice(0, colon);
    files.push({ path: spec.slice(colon + 1), data: readFileSync(src), mode: statSync(src).mode & 0o777 });
  }
  const config: ImageConfig = {
    Entrypoint: values.entrypoint ? parseEntrypoint(values.entrypoint) : [target],
    User: values.user,
    Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ...(values.env ?? [])],
  };
  if (positionals.length) config.Cmd = positionals;
  if (values.workdir) config.WorkingDir = values.workdir;
  const labels = keyValues(values.label, "--label");
  if (labels) config.Labels = labels;
  if (values.expose?.length) config.ExposedPorts = Object.fromEntries(values.expose.map((p) => [p, {}]));
  if (!statSync(dirname(values.out)).isDirectory()) throw new Error(`no folder for ${values.out}`);
  const id = writeImageArchive({ ref: values.ref, files, config, architecture: values.arch }, values.out);
  console.error(`${values.ref} (${id}) -> ${values.out}`);
  console.log(values.out);
}

if (import.meta.main) {
  try {
    main(Bun.argv.slice(2));
  } catch (err) {
    console.error(`wrap-binary: ${(err as Error).message}`);
    process.exit(2);
  }
}
