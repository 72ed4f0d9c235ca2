/**
 * Certificates for TLS tests, made with `openssl` in a temporary directory:
 * a cluster CA, node certificates it signs, and the bad ones — signed by
 * another CA, expired, or issued for another host. EC P-256 keys (fast).
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { beamTempDir } from "./_beam.ts";

function which(cmd: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], {
      encoding: "utf8",
    }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The skip reason for tests that make certificates, or false. */
export const noOpenssl: string | false = which("openssl")
  ? false
  : "openssl not found: install openssl to run the TLS tests";

/** A certificate and its key, as file paths. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** How a node certificate is made. */
export interface CertSpec {
  /** Sign it with the other CA (one peers do not trust). */
  untrusted?: boolean;
  /** Valid in 2020 only. */
  expired?: boolean;
}

/** A directory of test certificates. */
export interface TestPki {
  dir: string;
  /** A path under `dir` as the BEAM under test sees it (chroot or not). */
  beamPath(path: string): string;
  /** The cluster CA's certificate (the file for `tls.ca`). */
  ca: string;
  /** The other CA's certificate. */
  otherCa: string;
  /** A certificate for `hosts` (DNS names or IP addresses, IPs also as DNS). */
  issue(name: string, hosts: string[], spec?: CertSpec): CertFiles;
  /** Removes the directory. */
  remove(): void;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

/** Makes the two CAs in a new temporary directory. */
export function makePki(): TestPki {
  // Where a BEAM in a chroot (the OTP matrix) can read the files too.
  const tmp = beamTempDir("noderl-pki-");
  const dir = tmp.host;
  for (const ca of ["ca", "other-ca"]) {
    openssl([
      "req",
      "-x509",
      ...EC,
      "-days",
      "30",
      "-subj",
      `/CN=noderl test ${ca}`,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.pem`,
    ], dir);
  }
  mkdirSync(join(dir, "db"));
  writeFileSync(join(dir, "db", "index.txt"), "");
  writeFileSync(join(dir, "db", "serial"), "1000\n");
  writeFileSync(
    join(dir, "ca.cnf"),
    `[ca]\ndefault_ca = c\n[c]\ndatabase = db/index.txt\nnew_certs_dir = db\n` +
      `serial = db/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n` +
      `unique_subject = no\n[p]\ncommonName = supplied\n`,
  );
  return {
    dir,
    beamPath: (path) => tmp.beam + path.slice(dir.length),
    ca: join(dir, "ca.pem"),
    otherCa: join(dir, "other-ca.pem"),
    issue(name, hosts, spec = {}) {
      const san = hosts.flatMap((h) =>
        isIP(h) ? [`IP:${h}`, `DNS:${h}`] : [`DNS:${h}`]
      ).join(",");
      openssl([
        "req",
        ...EC,
        "-subj",
        `/CN=${name}`,
        "-addext",
        `subjectAltName=${san}`,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
      ], dir);
      const ca = spec.untrusted ? "other-ca" : "ca";
      openssl([
        "ca",
        "-batch",
        "-notext",
        "-config",
        "ca.cnf",
        "-cert",
        `${ca}.pem`,
        "-keyfile",
        `${ca}.key`,
        "-in",
        `${name}.csr`,
        "-out",
        `${name}.pem`,
        ...(spec.expired
          ? ["-startdate", "20200101000000Z", "-enddate", "20210101000000Z"]
          : ["-days", "30"]),
      ], dir);
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
    remove: tmp.remove,
  };
}

/**
 * Writes an `-ssl_dist_optfile` for `erl -proto_dist inet_tls` (and
 * noderl's `--tls-optfile`) using `files` both ways and trusting `ca`; the
 * paths in it pass through `map` (e.g. `pki.beamPath` for a chroot BEAM).
 */
export function writeOptfile(
  path: string,
  files: CertFiles,
  ca: string,
  map: (path: string) => string = (p) => p,
  verify = true,
): string {
  const common = `{certfile, ${JSON.stringify(map(files.cert))}}, ` +
    `{keyfile, ${JSON.stringify(map(files.key))}}, {cacertfile, ${
      JSON.stringify(map(ca))
    }}, {verify, ${verify ? "verify_peer" : "verify_none"}}`;
  writeFileSync(
    path,
    `[{server, [${common}, {fail_if_no_peer_cert, ${verify}}]},\n` +
      ` {client, [${common}]}].\n`,
  );
  return path;
}
