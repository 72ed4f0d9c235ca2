/**
 * The distribution handshake (OTP 23+ "version 6", as OTP 25 speaks it):
 * both sides prove they know the cookie without sending it. Internal.
 *
 * Initiator A, acceptor B (every message has a 2-byte length in front — a
 * 4-byte one over TLS, as OTP's `inet_tls_dist` frames it):
 *
 * ```
 * A → B  'N' flags:64 creation:32 nlen:16 name        send_name
 * B → A  's' status                                    ok | ok_simultaneous | nok | not_allowed | alive
 * B → A  'N' flags:64 challenge:32 creation:32 nlen:16 name
 * A → B  'r' challenge:32 md5(cookie ++ B's challenge)
 * B → A  'a' md5(cookie ++ A's challenge)
 * ```
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { DFLAG, DFLAG_MANDATORY_25 } from "./_dist.ts";
import { HandshakeError } from "./errors.ts";
import type { Secret } from "./_secret.ts";

/** Our side of a handshake. */
export interface HandshakeLocal {
  name: string;
  creation: number;
  flags: bigint;
  cookie: Secret;
  /**
   * Size of each handshake message's length prefix: 2 over TCP, 4 over TLS.
   * @default {2}
   */
  lengthBytes?: 2 | 4;
}

/** Largest handshake message read (a name message is under 1.1 KB). */
const MAX_HANDSHAKE_MESSAGE = 4096;

/** What the handshake learned about the peer. */
export interface HandshakePeer {
  name: string;
  flags: bigint;
  creation: number;
  /** Bytes the peer sent after the handshake (already distribution data). */
  rest: Uint8Array;
}

/** The digest a side sends to prove it knows the cookie. */
export function digest(challenge: number, cookie: string): Uint8Array {
  return new Uint8Array(
    createHash("md5").update(cookie + String(challenge >>> 0)).digest(),
  );
}

function newChallenge(): number {
  return randomBytes(4).readUInt32BE(0);
}

const text = new TextEncoder();
const fromUtf8 = new TextDecoder();

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function u64(b: Uint8Array, at: number): bigint {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return (BigInt(v.getUint32(at)) << 32n) | BigInt(v.getUint32(at + 4));
}

function u32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

/** Writes one length-framed handshake message (2- or 4-byte length). */
function send(socket: Socket, body: Uint8Array, lengthBytes = 2): void {
  const out = new Uint8Array(lengthBytes + body.length);
  if (lengthBytes === 4) {
    new DataView(out.buffer).setUint32(0, body.length);
  } else {
    out[0] = body.length >> 8;
    out[1] = body.length & 0xff;
  }
  out.set(body, lengthBytes);
  socket.write(out);
}

function nameMsg(
  tag: number,
  local: HandshakeLocal,
  challenge?: number,
): Uint8Array {
  const name = text.encode(local.name);
  const extra = challenge === undefined ? 0 : 4;
  const b = new Uint8Array(1 + 8 + extra + 4 + 2 + name.length);
  const v = new DataView(b.buffer);
  b[0] = tag;
  v.setUint32(1, Number(local.flags >> 32n));
  v.setUint32(5, Number(local.flags & 0xffffffffn));
  let p = 9;
  if (challenge !== undefined) {
    v.setUint32(p, challenge);
    p += 4;
  }
  v.setUint32(p, local.creation);
  v.setUint16(p + 4, name.length);
  b.set(name, p + 6);
  return b;
}

function statusMsg(status: string): Uint8Array {
  return text.encode(`s${status}`);
}

/** The peer closed (or reset) the connection: no protocol error of its own. */
class PeerClosed extends Error {}

/**
 * Reads length-framed messages (2- or 4-byte lengths) from a socket during
 * the handshake, with a deadline. Detaches its listeners when done.
 */
class HandshakeReader {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly onData = (d: Uint8Array) => {
    this.chunks.push(d);
    this.size += d.length;
    this.wake?.();
  };
  private readonly onEnd = () => {
    this.failure ??= new PeerClosed("the peer closed the connection");
    this.wake?.();
  };
  private readonly onError = (e: Error) => {
    const code = (e as { code?: string }).code;
    this.failure ??= code === "ECONNRESET" || code === "EPIPE"
      ? new PeerClosed(`the peer closed the connection (${code})`)
      : e;
    this.wake?.();
  };
  private readonly timer: ReturnType<typeof setTimeout>;
  private timedOut = false;

  constructor(
    private socket: Socket,
    timeoutMs: number,
    private lengthBytes = 2,
  ) {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onEnd);
    socket.on("error", this.onError);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.failure ??= new Error(`no answer within ${timeoutMs} ms`);
      this.wake?.();
    }, timeoutMs);
  }

  private flat(): Uint8Array {
    if (this.chunks.length > 1) {
      const all = new Uint8Array(this.size);
      let p = 0;
      for (const c of this.chunks) {
        all.set(c, p);
        p += c.length;
      }
      this.chunks = [all];
    }
    return this.chunks[0] ?? new Uint8Array(0);
  }

  async next(): Promise<Uint8Array> {
    for (;;) {
      const n = this.lengthBytes;
      if (this.size >= n) {
        const b = this.flat();
        const len = n === 4 ? u32(b, 0) : u16(b, 0);
        if (n === 2 && b[0] === 0x16 && b[1] === 0x03) {
          throw new Error(
            "the peer speaks TLS (a TLS handshake record arrived): start this node with the same tls options as its peers",
          );
        }
        if (len > MAX_HANDSHAKE_MESSAGE) {
          throw new Error(
            `the peer announced a ${len}-byte handshake message (at most ${MAX_HANDSHAKE_MESSAGE}): it does not speak the distribution handshake${
              n === 4 ? " over TLS" : " (is it a TLS node?)"
            }`,
          );
        }
        if (b.length >= n + len) {
          const msg = b.slice(n, n + len);
          const rest = b.subarray(n + len);
          this.chunks = rest.length ? [rest] : [];
          this.size = rest.length;
          return msg;
        }
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }

  /** Stops reading; returns any bytes received after the last message. */
  finish(): Uint8Array {
    clearTimeout(this.timer);
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("close", this.onEnd);
    this.socket.off("error", this.onError);
    return this.size ? this.flat().slice() : new Uint8Array(0);
  }

  get expired(): boolean {
    return this.timedOut;
  }
}

function parseName(
  msg: Uint8Array,
  withChallenge: boolean,
  peer: string,
): { flags: bigint; challenge: number; creation: number; name: string } {
  const min = 1 + 8 + (withChallenge ? 4 : 0) + 4 + 2;
  if (msg.length < min || msg[0] !== 78 /* N */) {
    if (msg[0] === 110 /* n */) {
      throw new HandshakeError(
        peer,
        "the peer uses the pre-OTP-23 handshake ('n'); noderl speaks the OTP 23+ handshake only",
      );
    }
    throw new HandshakeError(
      peer,
      `expected a name message ('N', at least ${min} bytes), got ${msg.length} bytes starting with ${
        msg[0]
      }`,
    );
  }
  const flags = u64(msg, 1);
  let p = 9;
  let challenge = 0;
  if (withChallenge) {
    challenge = u32(msg, p);
    p += 4;
  }
  const creation = u32(msg, p);
  const nlen = u16(msg, p + 4);
  if (msg.length !== p + 6 + nlen) {
    throw new HandshakeError(
      peer,
      `the name message's length (${msg.length}) does not match its name length (${nlen})`,
    );
  }
  const name = fromUtf8.decode(msg.subarray(p + 6));
  if (!/^[^@\s]+@[^@\s]+$/.test(name)) {
    throw new HandshakeError(
      peer,
      `the peer's name ${JSON.stringify(name)} is not name@host`,
    );
  }
  if ((flags & DFLAG_MANDATORY_25) !== DFLAG_MANDATORY_25) {
    throw new HandshakeError(
      name,
      `the peer lacks capabilities OTP 25 requires (flags 0x${
        flags.toString(16)
      })`,
    );
  }
  return { flags, challenge, creation, name };
}

/**
 * Runs the handshake as the initiator over a connected socket. Resolves
 * with the peer; rejects with a {@linkcode HandshakeError} that names the
 * peer and says what went wrong.
 */
export async function initiateHandshake(
  socket: Socket,
  local: HandshakeLocal,
  peerName: string,
  timeoutMs: number,
  stillPending: () => boolean = () => true,
): Promise<HandshakePeer> {
  const reader = new HandshakeReader(socket, timeoutMs, local.lengthBytes);
  const sendMsg = (s: Socket, b: Uint8Array) => send(s, b, local.lengthBytes);
  let stage = "sending our name";
  try {
    sendMsg(socket, nameMsg(78, local));
    stage = "waiting for the status";
    const status = fromUtf8.decode(await reader.next());
    switch (status) {
      case "sok":
      case "sok_simultaneous":
        break;
      case "salive": {
        // The peer has a connection to us. As OTP does: go on (and let it
        // replace that connection) only while this attempt is still ours
        // to make — not once a connection to the peer is up here.
        const goOn = stillPending();
        sendMsg(socket, statusMsg(goOn ? "true" : "false"));
        if (!goOn) {
          throw new HandshakeError(
            peerName,
            "alive: already connected to the peer (simultaneous connect)",
          );
        }
        break;
      }
      case "snok":
        throw new HandshakeError(
          peerName,
          "nok: the peer is connecting to us at the same time and its attempt wins",
        );
      case "snot_allowed":
        throw new HandshakeError(
          peerName,
          "not_allowed: the peer does not accept connections from this node",
        );
      default:
        throw new HandshakeError(
          peerName,
          `unexpected status ${JSON.stringify(status)}`,
        );
    }
    stage = "waiting for the challenge";
    const ch = parseName(await reader.next(), true, peerName);
    if (ch.name !== peerName) {
      throw new HandshakeError(
        peerName,
        `the node at that port is ${ch.name}, not ${peerName}`,
      );
    }
    const ours = newChallenge();
    const reply = new Uint8Array(1 + 4 + 16);
    reply[0] = 114; // r
    new DataView(reply.buffer).setUint32(1, ours);
    reply.set(digest(ch.challenge, local.cookie.reveal()), 5);
    sendMsg(socket, reply);
    stage = "waiting for the challenge ack";
    let ack: Uint8Array;
    try {
      ack = await reader.next();
    } catch (e) {
      if (reader.expired) throw e;
      throw new HandshakeError(
        peerName,
        "the peer closed the connection after our challenge reply: the cookies differ (check --cookie, NODERL_COOKIE or ~/.erlang.cookie on both nodes)",
      );
    }
    if (ack.length !== 17 || ack[0] !== 97 /* a */) {
      throw new HandshakeError(peerName, "malformed challenge ack");
    }
    if (!equalBytes(ack.subarray(1), digest(ours, local.cookie.reveal()))) {
      throw new HandshakeError(
        peerName,
        "the peer's challenge ack does not match our cookie: the cookies differ",
      );
    }
    return {
      name: ch.name,
      flags: ch.flags,
      creation: ch.creation,
      rest: reader.finish(),
    };
  } catch (e) {
    reader.finish();
    if (e instanceof HandshakeError) throw e;
    throw new HandshakeError(
      peerName,
      `${(e as Error).message} (while ${stage})`,
    );
  }
}

/** How the acceptor answers a peer's name: a status, decided by the node. */
export type AcceptDecision =
  | "ok"
  | "ok_simultaneous"
  | "nok"
  | "not_allowed"
  | "alive";

/**
 * Runs the handshake as the acceptor. `decide` is asked, once the peer's
 * name is known, whether to go on (it resolves simultaneous connects). When
 * it said `alive` and the peer wants to go on, `replaceOld` is awaited once
 * the peer has proved it knows the cookie, before the ack: only then may
 * the old connection go (an unauthenticated peer can never tear down an
 * established connection by claiming its name).
 */
export async function acceptHandshake(
  socket: Socket,
  local: HandshakeLocal,
  timeoutMs: number,
  decide: (peer: string, creation: number) => AcceptDecision,
  replaceOld: (peer: string) => Promise<void>,
): Promise<HandshakePeer> {
  const address = `${socket.remoteAddress}:${socket.remotePort}`;
  const reader = new HandshakeReader(socket, timeoutMs, local.lengthBytes);
  const sendMsg = (s: Socket, b: Uint8Array) => send(s, b, local.lengthBytes);
  let peerLabel = `a peer at ${address}`;
  try {
    const sn = parseName(await reader.next(), false, peerLabel);
    peerLabel = sn.name;
    const status = decide(sn.name, sn.creation);
    sendMsg(socket, statusMsg(status));
    if (status === "nok" || status === "not_allowed") {
      throw new HandshakeError(sn.name, `refused (${status})`);
    }
    if (status === "alive") {
      const answer = fromUtf8.decode(await reader.next());
      if (answer !== "strue") {
        throw new HandshakeError(sn.name, "the peer kept its old connection");
      }
    }
    const ours = newChallenge();
    sendMsg(socket, nameMsg(78, local, ours));
    const reply = await reader.next();
    if (reply.length !== 21 || reply[0] !== 114 /* r */) {
      throw new HandshakeError(sn.name, "malformed challenge reply");
    }
    if (!equalBytes(reply.subarray(5), digest(ours, local.cookie.reveal()))) {
      throw new HandshakeError(
        sn.name,
        "connection attempt refused: wrong cookie (the challenge reply does not match our cookie)",
      );
    }
    if (status === "alive") await replaceOld(sn.name);
    const ack = new Uint8Array(17);
    ack[0] = 97;
    ack.set(digest(u32(reply, 1), local.cookie.reveal()), 1);
    sendMsg(socket, ack);
    return {
      name: sn.name,
      flags: sn.flags,
      creation: sn.creation,
      rest: reader.finish(),
    };
  } catch (e) {
    reader.finish();
    if (e instanceof HandshakeError) throw e;
    throw new HandshakeError(
      peerLabel,
      (e as Error).message,
      e instanceof PeerClosed,
    );
  }
}

/** True when the peer's flags include `flag`. */
export function hasFlag(flags: bigint, flag: bigint): boolean {
  return (flags & flag) !== 0n;
}

export { DFLAG };
