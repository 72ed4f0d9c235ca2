/**
 * TLS distribution, as OTP's `inet_tls_dist`: TLS from the first byte of a
 * distribution connection, then the usual handshake — its messages framed
 * with 4-byte lengths instead of 2 — and the usual 4-byte framed packets.
 * The registry stays plain TCP and says nothing about TLS. Internal.
 *
 * This file loads and checks the certificate, key and CA given to
 * `startNode({ tls })` (PEM text or file paths), dials and accepts TLS
 * sockets within the connection deadline, checks that a peer's certificate
 * names the host of the peer's node name (the dialler checks the server's
 * during the TLS handshake; the acceptor checks the client's once the
 * distribution handshake told it the client's name), and turns TLS
 * failures into messages that say what to fix.
 *
 * Node.js (and Deno's `node:tls`) decide on a peer's certificate after the
 * TLS handshake, without sending a TLS alert: a refused peer sees its
 * connection close. So the acceptor refuses a bad client certificate with
 * the distribution handshake's `not_allowed` status (after logging why),
 * which tells a noderl or BEAM dialler that it was refused rather than cut
 * off.
 *
 * @module
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createConnection, isIP, type Socket } from "node:net";
import {
  connect as tlsConnect,
  createSecureContext,
  createServer as tlsCreateServer,
  type SecureContext,
  type Server as TlsServer,
  type TLSSocket,
} from "node:tls";
import { HandshakeError, NoConnectionError } from "./errors.ts";

/** TLS for the distribution (`startNode({ tls })`). */
export interface TlsOptions {
  /**
   * This node's certificate (chain): PEM text, or the path of a PEM file.
   * With `verify`, it must name the host of this node's name (as a DNS
   * name, or for a node named by an IP address, as that address), since
   * peers check that.
   */
  cert: string;
  /** The certificate's private key: PEM text, or the path of a PEM file. */
  key: string;
  /**
   * The certificate authorities that sign peers' certificates: PEM text
   * (one or more certificates), or the path of a PEM file. Required when
   * `verify` is on.
   */
  ca?: string;
  /** The passphrase of an encrypted `key`. */
  passphrase?: string;
  /**
   * Check peers' certificates: signed by `ca`, valid now, and naming the
   * host of the peer's node name. Off, the traffic is still encrypted, but
   * anyone can connect who knows the cookie, and a man in the middle can
   * pose as any node.
   * @default {true}
   */
  verify?: boolean;
  /**
   * The oldest TLS version accepted.
   * @default {"TLSv1.2"}
   */
  minVersion?: "TLSv1.2" | "TLSv1.3";
}

/** Largest PEM file read (a long chain or a CA bundle fits). */
const MAX_PEM = 4 * 1024 * 1024;

/**
 * Reads a PEM option: text containing `-----BEGIN`, else a file path. Throws
 * a TypeError that names the option.
 */
function pem(what: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(
      `tls.${what} must be PEM text or the path of a PEM file, got ${
        value === undefined ? "nothing" : typeof value
      }`,
    );
  }
  if (value.includes("-----BEGIN")) return value;
  let text: string;
  try {
    const bytes = readFileSync(value);
    if (bytes.length > MAX_PEM) {
      throw new Error(`larger than ${MAX_PEM} bytes`);
    }
    text = new TextDecoder().decode(bytes);
  } catch (e) {
    throw new TypeError(
      `tls.${what}: cannot read ${value}: ${(e as Error).message}`,
    );
  }
  if (!text.includes("-----BEGIN")) {
    throw new TypeError(`tls.${what}: ${value} is not a PEM file`);
  }
  return text;
}

/** The private key block of a PEM text. */
function privateKeyBlock(text: string): string {
  const m =
    /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/
      .exec(text);
  if (!m) throw new TypeError("tls.key holds no PEM private key");
  return m[0];
}

/** Every certificate in a PEM text. */
function certificates(what: string, text: string): X509Certificate[] {
  const blocks = text.match(
    /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g,
  ) ?? [];
  if (blocks.length === 0) {
    throw new TypeError(`tls.${what} holds no PEM certificate`);
  }
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new TypeError(
        `tls.${what} holds a certificate that cannot be read: ${
          (e as Error).message
        }`,
      );
    }
  });
}

/** The names a certificate is issued for, for messages. */
function namesOf(cert: { subjectAltName?: string; subject?: string }): string {
  const alt = cert.subjectAltName;
  if (alt) return alt;
  return `no subject alternative names (subject ${cert.subject ?? "?"})`;
}

/**
 * Whether a certificate names `host`: a DNS name (wildcards as browsers
 * match them) or, for an IP address, an IP address entry — or a DNS entry
 * holding the address's text, which is what OTP's `inet_tls_dist` checks
 * (it passes the host as `server_name_indication`).
 */
export function certNamesHost(cert: X509Certificate, host: string): boolean {
  if (isIP(host)) {
    return cert.checkIP(host) !== undefined ||
      (cert.subjectAltName ?? "").split(/,\s*/).some((e) =>
        e.toLowerCase() === `dns:${host.toLowerCase()}`
      );
  }
  return cert.checkHost(host) !== undefined;
}

/** The host part of a node name. */
function hostOf(node: string): string {
  return node.slice(node.indexOf("@") + 1);
}

/** A checked TLS configuration, ready to dial and accept. */
export class TlsTransport {
  /** Length of the handshake messages' length prefix: 4 over TLS. */
  readonly lengthBytes = 4 as const;
  /** Whether peers' certificates are checked. */
  readonly verify: boolean;
  private readonly context: SecureContext;
  private readonly minVersion: "TLSv1.2" | "TLSv1.3";
  private readonly server: TlsServer;
  /** Accepted sockets in their TLS handshake, by TCP socket. */
  private readonly accepting = new Map<
    Socket,
    (s: TLSSocket | undefined, e?: Error) => void
  >();
  /** This node's certificate. */
  readonly cert: X509Certificate;
  /** A problem worth logging once the node runs, if any. */
  readonly warning: string | undefined;

  /**
   * Loads and checks `options` for the node `nodeName`. Throws a TypeError
   * (or a RangeError for an expired certificate) that says what to fix.
   */
  constructor(options: TlsOptions, nodeName: string) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("tls must be an object: { cert, key, ca }");
    }
    this.verify = options.verify ?? true;
    this.minVersion = options.minVersion ?? "TLSv1.2";
    if (this.minVersion !== "TLSv1.2" && this.minVersion !== "TLSv1.3") {
      throw new TypeError(
        `tls.minVersion must be "TLSv1.2" or "TLSv1.3", got ${
          JSON.stringify(options.minVersion)
        }`,
      );
    }
    // A PEM file may hold the certificate and the key (as OTP allows).
    const certText = certificates("cert", pem("cert", options.cert))
      .map((c) => c.toString()).join("\n");
    const keyText = privateKeyBlock(pem("key", options.key));
    const caText = options.ca === undefined ? undefined : pem("ca", options.ca);
    if (this.verify && caText === undefined) {
      throw new TypeError(
        "tls.ca is required to check peers' certificates: give the CA that signs the cluster's certificates (or verify: false to encrypt without checking)",
      );
    }
    const [cert] = certificates("cert", certText);
    this.cert = cert;
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: keyText, passphrase: options.passphrase });
    } catch (e) {
      throw new TypeError(
        `tls.key cannot be read${
          options.passphrase === undefined
            ? " (if it is encrypted, give tls.passphrase)"
            : ""
        }: ${(e as Error).message}`,
      );
    }
    if (!cert.checkPrivateKey(key)) {
      throw new TypeError(
        `tls.key is not the key of tls.cert (${cert.subject}): give the key the certificate was issued for`,
      );
    }
    // With verify off, no certificate is checked, ours included.
    const now = Date.now();
    const from = Date.parse(cert.validFrom), to = Date.parse(cert.validTo);
    if (this.verify && now > to) {
      throw new RangeError(
        `tls.cert (${cert.subject}) expired on ${cert.validTo}: peers would refuse it; renew it`,
      );
    }
    if (this.verify && now < from) {
      throw new RangeError(
        `tls.cert (${cert.subject}) is not valid before ${cert.validFrom}: check this machine's clock or the certificate`,
      );
    }
    const host = hostOf(nodeName);
    if (this.verify && !certNamesHost(cert, host)) {
      throw new TypeError(
        `tls.cert names ${
          namesOf(cert)
        }, not ${host}, the host of this node's name ${nodeName}: peers would refuse it; issue it with subjectAltName ${
          isIP(host) ? `IP:${host},DNS:${host}` : `DNS:${host}`
        }`,
      );
    }
    if (caText !== undefined) {
      const cas = certificates("ca", caText);
      if (this.verify && !cas.some((ca) => cert.checkIssued(ca))) {
        // Not fatal (peers may trust another CA), but almost always a mistake.
        this.warning =
          `tls.cert (${cert.subject}) is not issued by a CA in tls.ca: peers that trust only that CA will refuse this node`;
      }
    }
    try {
      this.context = createSecureContext({
        cert: certText,
        key: keyText,
        passphrase: options.passphrase,
        ca: caText,
        minVersion: this.minVersion,
      });
    } catch (e) {
      throw new TypeError(`tls: ${(e as Error).message}`);
    }
    this.server = tlsCreateServer({
      cert: certText,
      key: keyText,
      passphrase: options.passphrase,
      ca: caText,
      minVersion: this.minVersion,
      requestCert: this.verify,
      // Decided after the handshake (accept), to say why and to answer
      // the peer's name with not_allowed rather than a bare close.
      rejectUnauthorized: false,
    });
    this.server.on("secureConnection", (s: TLSSocket) => {
      this.pending(s)?.(s);
    });
    this.server.on("tlsClientError", (e: Error, s: TLSSocket) => {
      const done = this.pending(s);
      s.destroy();
      done?.(undefined, e);
    });
  }

  /** The accept waiting for the TLS socket made of one of our TCP sockets. */
  private pending(
    s: TLSSocket,
  ): ((s: TLSSocket | undefined, e?: Error) => void) | undefined {
    // The TLS socket wraps the TCP one as `_parent` (Node and Deno); a
    // failed one may have lost its addresses already.
    const parent = (s as unknown as { _parent?: Socket })._parent;
    if (parent !== undefined) return this.accepting.get(parent);
    for (const [raw, done] of this.accepting) {
      if (
        raw.remotePort === s.remotePort && raw.remoteAddress === s.remoteAddress
      ) return done;
    }
    return undefined;
  }

  /**
   * What is wrong with the certificate of the peer at the other end of `s`
   * for a node on `host`: expired or not yet valid, not signed by a CA we
   * trust, not naming `host` — or undefined when it is fine.
   */
  private peerProblem(s: TLSSocket, host: string): string | undefined {
    const raw = s.getPeerCertificate()?.raw;
    if (!raw || raw.length === 0) {
      return "it sent no certificate (give it tls.cert and tls.key)";
    }
    const cert = new X509Certificate(raw);
    // Expiry first, by the certificate's own dates: runtimes differ in the
    // code they report for it.
    const now = Date.now();
    if (now > Date.parse(cert.validTo)) {
      return `its certificate (${cert.subject}) expired on ${cert.validTo} (CERT_HAS_EXPIRED): renew it`;
    }
    if (now < Date.parse(cert.validFrom)) {
      return `its certificate (${cert.subject}) is not valid before ${cert.validFrom} (CERT_NOT_YET_VALID): check the clocks`;
    }
    if (!s.authorized) {
      return describeVerifyCode(
        String(s.authorizationError ?? "") || undefined,
      ) ?? "its certificate was not verified";
    }
    if (!certNamesHost(cert, host)) {
      return `its certificate names ${
        namesOf(cert)
      }, not ${host}, the host of its node name: issue it for ${host}`;
    }
    return undefined;
  }

  /**
   * Dials `node` at `address:port` and runs the TLS handshake, by
   * `deadline` (a `Date.now()` value). Rejects with a
   * {@linkcode NoConnectionError} that says what went wrong.
   */
  connect(
    node: string,
    address: string,
    port: number,
    deadline: number,
  ): Promise<TLSSocket> {
    const host = hostOf(node);
    const where = `${address.includes(":") ? `[${address}]` : address}:${port}`;
    return new Promise<TLSSocket>((resolve, reject) => {
      let settled = false;
      // Our own TCP socket, so that Nagle is off where it matters (a TLS
      // socket's setNoDelay does not reach the TCP socket on every runtime).
      const tcp = createConnection({ host: address, port });
      tcp.setNoDelay(true);
      const s = tlsConnect({
        socket: tcp,
        host: address,
        port,
        secureContext: this.context,
        minVersion: this.minVersion,
        // SNI carries a DNS name only (RFC 6066), as OTP sends it.
        servername: isIP(host) ? undefined : host,
        // Checked on secureConnect (peerProblem), the same way on both
        // runtimes and both sides.
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.destroy();
        tcp.destroy();
        reject(new NoConnectionError(node, `TLS to ${where}: ${why}`));
      };
      tcp.on("error", (e) => fail(e.message));
      const timer = setTimeout(
        () => fail("connect and TLS handshake timed out"),
        Math.max(1, deadline - Date.now()),
      );
      s.once("secureConnect", () => {
        if (settled) return;
        const problem = this.verify ? this.peerProblem(s, host) : undefined;
        if (problem !== undefined) return fail(problem);
        settled = true;
        clearTimeout(timer);
        s.off("error", onError);
        s.setNoDelay(true);
        resolve(s);
      });
      const onError = (e: Error) => fail(describeTlsError(e, "dialler"));
      s.on("error", onError);
      s.once("close", () => fail("the peer closed the connection"));
    });
  }

  /**
   * Runs the server side of the TLS handshake on an accepted socket, within
   * `timeoutMs`. Rejects with an Error that says what went wrong.
   */
  accept(raw: Socket, timeoutMs: number): Promise<TLSSocket> {
    const key = `${raw.remoteAddress}:${raw.remotePort}`;
    const accepting = this.accepting;
    return new Promise<TLSSocket>((resolve, reject) => {
      const timer = setTimeout(() => {
        done(undefined, new Error(`no TLS handshake within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (s: TLSSocket | undefined, e?: Error) => {
        if (accepting.get(raw) !== done) return;
        accepting.delete(raw);
        clearTimeout(timer);
        raw.off("close", onClose);
        if (s) {
          s.setNoDelay(true);
          resolve(s);
        } else {
          raw.destroy();
          reject(
            new Error(
              `TLS handshake with ${key} failed: ${
                describeTlsError(e ?? new Error("closed"), "acceptor")
              }`,
            ),
          );
        }
      };
      // After a tick: a TLS error emitted with the close says more.
      const onClose = () =>
        setImmediate(() =>
          done(
            undefined,
            new Error(
              "the peer closed the connection during the TLS handshake: it may not trust our certificate (noderl nodes close without a TLS alert; the peer's log says why)",
            ),
          )
        );
      raw.on("close", onClose);
      accepting.set(raw, done);
      raw.setNoDelay(true);
      this.server.emit("connection", raw);
    });
  }

  /**
   * Why the accepted peer `peer` must be refused (its certificate is not
   * trusted, or does not name the host of `peer`), or undefined when it may
   * go on.
   */
  refusal(socket: Socket, peer: string): string | undefined {
    if (!this.verify) return undefined;
    const s = socket as TLSSocket;
    const problem = this.peerProblem(s, hostOf(peer));
    return problem === undefined
      ? undefined
      : `refused ${peer} (${s.remoteAddress}): ${problem}`;
  }

  /**
   * A failed handshake over TLS, explained: a TLS alert that arrived during
   * it (TLS 1.3 servers judge the client's certificate after the client
   * finished), or a refusal that, over TLS, is about our certificate.
   */
  explain(e: unknown): unknown {
    if (!(e instanceof HandshakeError)) return e;
    const m = e.message;
    const detail = m.replace(/^handshake with .*? failed: /, "");
    if (/alert|SSL routines|ERR_SSL/i.test(m)) {
      return new HandshakeError(e.peer, describeTlsError(e, "dialler"));
    }
    if (/^not_allowed/.test(detail)) {
      return new HandshakeError(
        e.peer,
        `${detail} — over TLS a noderl node answers so when it does not trust our certificate or it does not name our host; the peer's log says which`,
      );
    }
    if (/closed the connection/.test(detail) && !/cookie/.test(detail)) {
      return new HandshakeError(
        e.peer,
        `${detail} — over TLS this usually means the peer refused our certificate (not signed by a CA it trusts, expired, or not naming our host); the peer's log says which`,
      );
    }
    return e;
  }

  /** Drops the handshakes in progress. */
  close(): void {
    for (const done of [...this.accepting.values()]) {
      done(undefined, new Error("the node stopped"));
    }
    this.server.close();
  }
}

/**
 * A certificate verification code (OpenSSL's) in words; for an unknown
 * one, undefined unless `always`.
 */
function describeVerifyCode(
  code: string | undefined,
  always = true,
): string | undefined {
  switch (code) {
    case undefined:
    case null:
      return undefined;
    case "CERT_HAS_EXPIRED":
      return "its certificate has expired (CERT_HAS_EXPIRED): renew it";
    case "CERT_NOT_YET_VALID":
      return "its certificate is not valid yet (CERT_NOT_YET_VALID): check the clocks";
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "CERT_SIGNATURE_FAILURE":
      return `its certificate is not signed by a CA in tls.ca (${code}): issue it from the cluster's CA, or add its CA to tls.ca`;
    case "CERT_REVOKED":
      return "its certificate is revoked (CERT_REVOKED)";
    default:
      return always ? `its certificate was refused (${code})` : undefined;
  }
}

/**
 * A TLS failure in words: what the peer's certificate lacks, what the peer
 * said of ours (its alert), or that the peer does not speak TLS.
 */
export function describeTlsError(
  e: Error,
  side: "dialler" | "acceptor",
): string {
  const code = (e as { code?: string }).code ?? "";
  const msg = e.message ?? String(e);
  const known = describeVerifyCode(code, false);
  if (known) return known;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return msg;
  const alert = /alert ([a-z_ ]+)/i.exec(msg)?.[1]?.trim().toLowerCase() ??
    /ALERT_([A-Z_]+)/.exec(code)?.[1]?.toLowerCase().replace(/_/g, " ") ??
    // Deno (rustls): "received fatal alert: UnknownCA".
    /alert: ([A-Za-z]+)/.exec(msg)?.[1]?.replace(/([a-z])([A-Z])/g, "$1 $2")
      .toLowerCase();
  if (alert !== undefined) {
    const ours = side === "dialler"
      ? "our certificate"
      : "our certificate (or its own)";
    switch (alert) {
      case "unknown ca":
        return `the peer does not trust ${ours} (TLS alert: unknown CA): its CA file must hold the CA that signed ours`;
      case "certificate expired":
        return `the peer refused ${ours}: expired (TLS alert: certificate expired); renew it`;
      case "certificate required":
        return "the peer requires a client certificate (TLS alert: certificate required)";
      case "bad certificate":
      case "handshake failure":
      case "unsupported certificate":
      case "certificate unknown":
        return `the peer refused the TLS handshake (TLS alert: ${alert}): it may not accept ${ours}, or ours may not name our host`;
      case "protocol version":
        return "the peer and this node share no TLS version (TLS alert: protocol version): check tls.minVersion";
      default:
        return `the peer ended the TLS handshake (TLS alert: ${alert})`;
    }
  }
  if (
    /wrong version number|unknown protocol|packet length too long|http request|record layer failure|invalid ?content ?type|corrupt ?message|InvalidMessage/i
      .test(msg + code)
  ) {
    return `the peer does not speak TLS (${
      code || msg
    }): it runs plain TCP distribution — use TLS on every node of the cluster, or on none`;
  }
  if (/socket hang up|ECONNRESET|disconnected before secure/i.test(msg)) {
    return side === "dialler"
      ? "the peer closed the connection during the TLS handshake (it may not speak TLS, or it refused our certificate)"
      : "the peer closed the connection during the TLS handshake (it may not speak TLS, or it refused our certificate)";
  }
  return msg;
}
