/**
 * Certificates for a local control plane: a CA, the apiserver's serving
 * certificate, client certificates for any identity (CN = user, O = groups,
 * as the apiserver reads them), and the service-account signing key. Made
 * with the openssl command, which every Debian-like machine has.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface KeyPair {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  const res = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (res.exitCode !== 0) {
    throw new Error(`openssl ${args[0]} failed (exit ${res.exitCode}): ${res.stderr.toString().trim()}`);
  }
}

function readPair(dir: string, name: string): KeyPair {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  return { certPath, keyPath, cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A CA on disk that signs serving and client certificates. */
export class LocalPki {
  readonly ca: KeyPair;
  private serial = 1;

  private constructor(readonly dir: string) {
    this.ca = readPair(dir, "ca");
  }

  static create(dir: string): LocalPki {
    mkdirSync(dir, { recursive: true });
    openssl(
      [
        "req",
        "-x509",
        ...ecKey,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3650",
        "-subj",
        "/CN=mcp-conductor-local-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
      ],
      dir,
    );
    return new LocalPki(dir);
  }

  private sign(name: string, subject: string, ext: string): KeyPair {
    writeFileSync(join(this.dir, `${name}.ext`), ext);
    openssl(["req", "-new", ...ecKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], this.dir);
    openssl(
      [
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        String(++this.serial + Date.now()),
        "-days",
        "365",
        "-out",
        `${name}.crt`,
        "-extfile",
        `${name}.ext`,
      ],
      this.dir,
    );
    return readPair(this.dir, name);
  }

  /** The apiserver's certificate, valid for loopback and the in-cluster names. */
  servingCert(name: string, ips: string[], dnsNames: string[]): KeyPair {
    const san = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((d) => `DNS:${d}`)].join(",");
    return this.sign(
      name,
      `/CN=${dnsNames[0] ?? ips[0]}`,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    );
  }

  /** A client certificate: the apiserver authenticates it as `user` in `groups`. */
  clientCert(user: string, groups: string[] = []): KeyPair {
    const safe = (s: string) => s.replace(/[/\\=+,]/g, "\\$&");
    const subject = `/CN=${safe(user)}${groups.map((g) => `/O=${safe(g)}`).join("")}`;
    const file = `client-${user.replace(/[^A-Za-z0-9_.-]/g, "_")}-${++this.serial}`;
    return this.sign(
      file,
      subject,
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    );
  }

  /** An RSA key pair for signing and verifying service-account tokens. */
  serviceAccountKey(): { keyPath: string; pubPath: string } {
    openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], this.dir);
    openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], this.dir);
    return { keyPath: join(this.dir, "sa.key"), pubPath: join(this.dir, "sa.pub") };
  }
}
