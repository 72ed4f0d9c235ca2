/**
 * A hand-driven distribution peer for hostile tests: it completes (or
 * half-completes) a handshake over a raw socket and then writes whatever
 * bytes the test wants, reading only when told to.
 *
 * @module
 */
import { connect as tcpConnect, type Socket } from "node:net";
import { DFLAG_NODERL } from "../node/_dist.ts";
import { Secret } from "../node/_secret.ts";
import { initiateHandshake } from "../node/handshake.ts";

/** A connected raw socket. */
export function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

/** A 2-byte framed handshake message. */
export function framed2(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + body.length);
  out[0] = body.length >> 8;
  out[1] = body.length & 0xff;
  out.set(body, 2);
  return out;
}

/** A send_name message `'N' flags:64 creation:32 nlen:16 name`. */
export function sendName(name: string, flags = DFLAG_NODERL): Uint8Array {
  const n = new TextEncoder().encode(name);
  const b = new Uint8Array(15 + n.length);
  const v = new DataView(b.buffer);
  b[0] = 78;
  v.setUint32(1, Number(flags >> 32n));
  v.setUint32(5, Number(flags & 0xffffffffn));
  v.setUint32(9, 1);
  v.setUint16(13, n.length);
  b.set(n, 15);
  return framed2(b);
}

/** Reads the next 2-byte framed message (resolves undefined on close). */
export function readFramed2(s: Socket): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    let buf = new Uint8Array(0);
    const onData = (d: Uint8Array) => {
      const next = new Uint8Array(buf.length + d.length);
      next.set(buf);
      next.set(d, buf.length);
      buf = next;
      if (buf.length >= 2) {
        const len = buf[0] << 8 | buf[1];
        if (buf.length >= 2 + len) {
          done();
          resolve(buf.slice(2, 2 + len));
        }
      }
    };
    const onEnd = () => {
      done();
      resolve(undefined);
    };
    const done = () => {
      s.off("data", onData);
      s.off("close", onEnd);
      s.off("end", onEnd);
    };
    s.on("data", onData);
    s.on("close", onEnd);
    s.on("end", onEnd);
  });
}

/**
 * A peer named `name` that completes the handshake with the node at
 * `port` (named `nodeName`) and then leaves the socket to the test.
 */
export async function handshakenPeer(
  port: number,
  name: string,
  nodeName: string,
  cookie: string,
  flags: bigint = DFLAG_NODERL,
): Promise<Socket> {
  const s = await rawSocket(port);
  s.on("error", () => {});
  await initiateHandshake(
    s,
    { name, creation: 1, flags, cookie: new Secret(cookie) },
    nodeName,
    5000,
  );
  return s;
}

/** A 4-byte framed distribution packet. */
export function packet(body: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}
