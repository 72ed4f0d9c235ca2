/**
 * The receiving half of a distribution connection: cuts 4-byte-length
 * framed packets out of the socket's reads (a packet split across reads
 * grows a buffer as its bytes come, whatever its header declares), joins
 * fragments (`_fragments.ts`), decodes the control term and the message —
 * after the pass-through byte `112` with version bytes, or after the
 * distribution header `131, 68, 0` without — and hands them on. A run of
 * packets with the same control term (messages between the same two
 * processes) is recognised by its bytes and not decoded again. Anything
 * malformed ends the connection with a reason that says what. Internal.
 *
 * @module
 */
import { TermReader } from "./decode.ts";
import { Reassembly } from "./_fragments.ts";
import { TermDecodeError } from "./term_errors.ts";
import { Tuple } from "./terms.ts";

/** Marks a packet that carries no message after its control term. */
export const NO_MESSAGE: unique symbol = Symbol("no message");

/** Initial buffer of a packet that straddles reads; it grows as bytes come. */
const PARTIAL = 64 * 1024;

/**
 * Whether `buf` holds `bytes` at `at`. With `dv` (a view of `buf`), four
 * bytes at a time: `words` are `bytes` read as little-endian 32-bit words.
 */
function sameBytes(
  dv: DataView | undefined,
  buf: Uint8Array,
  at: number,
  bytes: Uint8Array,
  words: Int32Array,
): boolean {
  let i = 0;
  if (dv !== undefined) {
    const nw = words.length;
    for (let k = 0; k < nw; k++) {
      if (dv.getInt32(at + 4 * k, true) !== words[k]) return false;
    }
    i = nw * 4;
  }
  for (; i < bytes.length; i++) {
    if (buf[at + i] !== bytes[i]) return false;
  }
  return true;
}

/** `bytes` as little-endian 32-bit words (a trailing partial word left out). */
function wordsOf(bytes: Uint8Array): Int32Array {
  const words = new Int32Array(bytes.length >> 2);
  for (let i = 0; i < words.length; i++) {
    const p = 4 * i;
    words[i] = bytes[p] | bytes[p + 1] << 8 | bytes[p + 2] << 16 |
      bytes[p + 3] << 24;
  }
  return words;
}

const NO_WORDS = new Int32Array(0);

/** What the reader needs of its connection's limits. */
export interface ReaderLimits {
  /** Largest packet accepted, in bytes. */
  maxPacketSize: number;
  /** Largest message received in fragments. */
  maxMessageSize: number;
}

/** Turns a connection's incoming bytes into control messages. */
export class PacketReader {
  private readonly limits: ReaderLimits;
  private readonly packet: (control: Tuple, message: unknown) => void;
  private readonly error: (reason: string) => void;
  private readonly isOpen: () => boolean;
  private failed = false;
  private readonly reader = new TermReader(new Uint8Array(0), 0, 0);
  private readonly reassembly: Reassembly;
  private lastControlBytes: Uint8Array | undefined;
  /** Its words, once it has repeated (most control messages never do). */
  private lastControlWords: Int32Array = NO_WORDS;
  private lastControl: unknown;
  private partial: Uint8Array | null = null;
  private partialLen = 0;
  /** The size of the partial packet once whole (4 while its header is incomplete). */
  private partialTotal = 0;

  /**
   * `packet` gets each control message (and its payload, or NO_MESSAGE);
   * `error` is called once with the reason a packet was refused; `isOpen`
   * says whether the connection still takes packets (a handler may close
   * it midway through a read).
   */
  constructor(
    limits: ReaderLimits,
    packet: (control: Tuple, message: unknown) => void,
    error: (reason: string) => void,
    isOpen: () => boolean,
  ) {
    this.limits = limits;
    this.packet = packet;
    this.error = error;
    this.isOpen = isOpen;
    this.reassembly = new Reassembly(limits.maxMessageSize);
  }

  /**
   * Takes the bytes of one read. Returns false once the connection must go
   * (the error callback has been called).
   */
  feed(d: Uint8Array): boolean {
    let p = 0;
    if (this.partial !== null) {
      // Complete the packet that straddles chunks, copying only its bytes.
      p = this.fillPartial(d);
      if (p < 0) return !this.failed; // still incomplete, or refused
      const whole = this.partial!;
      this.partial = null;
      this.partialLen = 0;
      this.partialTotal = 0;
      if (
        whole.length > 4 &&
        !this.onPacket(whole, undefined, 4, whole.length)
      ) return false;
      if (!this.isOpen()) return false;
    }
    const end = d.length;
    // A DataView for chunks big enough to be off-heap already: on a small
    // one, reaching its .buffer would first move it off the V8 heap.
    const dv = end >= 4096
      ? new DataView(d.buffer, d.byteOffset, d.byteLength)
      : undefined;
    while (end - p >= 4) {
      const len = (d[p] << 24 | d[p + 1] << 16 | d[p + 2] << 8 | d[p + 3]) >>>
        0;
      if (len > this.limits.maxPacketSize) {
        this.tooBig(len);
        return false;
      }
      if (end - p - 4 < len) break;
      if (len > 0) {
        if (!this.onPacket(d, dv, p + 4, p + 4 + len)) return false;
        if (!this.isOpen()) return false;
      }
      p += 4 + len;
    }
    if (p < end) {
      // Keep the start of the next packet (its header may be incomplete).
      const rest = end - p;
      const total = rest >= 4
        ? 4 + ((d[p] << 24 | d[p + 1] << 16 | d[p + 2] << 8 | d[p + 3]) >>> 0)
        : 4;
      // Memory for what has arrived, not for what the header declares: a
      // peer that declares 100 MB and sends 10 bytes holds 64 KB.
      const have = Math.min(rest, total);
      this.partial = new Uint8Array(Math.min(total, Math.max(have, PARTIAL)));
      this.partial.set(d.subarray(p, p + have));
      this.partialLen = have;
      this.partialTotal = total;
    }
    return true;
  }

  /**
   * Adds bytes from `d` to the partial packet, growing its buffer as they
   * arrive. Returns how many bytes of `d` it used once the packet is whole,
   * or -1 if it needs more data.
   */
  private fillPartial(d: Uint8Array): number {
    let used = 0;
    if (this.partialLen < 4) {
      // The header itself was split.
      const buf = this.partial!;
      const take = Math.min(4 - this.partialLen, d.length);
      buf.set(d.subarray(0, take), this.partialLen);
      this.partialLen += take;
      used = take;
      if (this.partialLen < 4) return -1;
      const len = (buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3]) >>> 0;
      if (len > this.limits.maxPacketSize) {
        this.tooBig(len);
        return -1;
      }
      this.partialTotal = 4 + len;
    }
    const total = this.partialTotal;
    const take = Math.min(total - this.partialLen, d.length - used);
    let buf = this.partial!;
    if (this.partialLen + take > buf.length) {
      const grown = new Uint8Array(
        Math.min(total, Math.max(buf.length * 2, this.partialLen + take)),
      );
      grown.set(buf.subarray(0, this.partialLen));
      this.partial = buf = grown;
    }
    buf.set(d.subarray(used, used + take), this.partialLen);
    this.partialLen += take;
    used += take;
    if (this.partialLen < total) return -1;
    if (buf.length !== total) this.partial = buf.subarray(0, total);
    return used;
  }

  private tooBig(len: number): void {
    this.fail(
      `protocol error: a packet of ${len} bytes exceeds maxPacketSize (${this.limits.maxPacketSize})`,
    );
  }

  private onPacket(
    buf: Uint8Array,
    dv: DataView | undefined,
    start: number,
    end: number,
  ): boolean {
    const b0 = buf[start], b1 = buf[start + 1];
    if (b0 === 112) return this.decodeBody(buf, dv, start + 1, end, false);
    if (b0 === 131 && b1 === 68 && end - start >= 3) {
      if (buf[start + 2] !== 0) {
        this.fail(
          "protocol error: a distribution header with atom cache references (noderl does not negotiate the atom cache)",
        );
        return false;
      }
      return this.decodeBody(buf, dv, start + 3, end, true);
    }
    if (b0 === 131 && (b1 === 69 || b1 === 70)) {
      let whole: Uint8Array | undefined;
      try {
        whole = this.reassembly.take(buf, start, end);
      } catch (e) {
        this.fail(`protocol error: ${(e as Error).message}`);
        return false;
      }
      if (whole === undefined) return true;
      this.reader.owned = true;
      try {
        return this.decodeBody(whole, undefined, 0, whole.length, true);
      } finally {
        this.reader.owned = false;
      }
    }
    this.fail(
      `protocol error: packet starts with ${b0}${
        b0 === 131 ? `, ${b1}` : ""
      }, expected 112 (pass-through) or 131, 68..70 (distribution header)`,
    );
    return false;
  }

  /**
   * Decodes the control term (and the message, if any) in `buf[start,
   * end)` — with version bytes, or `bare` after a distribution header —
   * and hands them to the handler.
   */
  private decodeBody(
    buf: Uint8Array,
    dv: DataView | undefined,
    start: number,
    end: number,
    bare: boolean,
  ): boolean {
    let control: unknown, message: unknown = NO_MESSAGE;
    const r = this.reader;
    r.buf = buf;
    r.end = end;
    r.pos = start;
    try {
      // A run of messages between the same two processes repeats the same
      // control bytes: recognise them instead of decoding them again. (A
      // term's encoding marks its own end, so equal bytes mean an equal term.)
      const cached = this.lastControlBytes;
      if (
        cached !== undefined && end - r.pos >= cached.length &&
        sameBytes(dv, buf, r.pos, cached, this.lastControlWords)
      ) {
        control = this.lastControl;
        r.pos += cached.length;
        if (this.lastControlWords === NO_WORDS) {
          this.lastControlWords = wordsOf(cached);
        }
      } else {
        const at = r.pos;
        control = bare ? r.readBare() : r.readVersioned();
        if (r.pos - at <= 256) {
          this.lastControlBytes = buf.slice(at, r.pos);
          this.lastControlWords = NO_WORDS;
          this.lastControl = control;
        }
      }
      if (r.pos < end) message = bare ? r.readBare() : r.readVersioned();
      if (r.pos !== end) {
        throw new TermDecodeError("bytes left over after the message", r.pos);
      }
    } catch (e) {
      this.fail(`protocol error: bad packet: ${(e as Error).message}`);
      return false;
    }
    if (!(control instanceof Tuple) || typeof control[0] !== "number") {
      this.fail(
        "protocol error: the control message is not a tuple with an operation code",
      );
      return false;
    }
    this.packet(control, message);
    return true;
  }

  private fail(reason: string): void {
    this.failed = true;
    this.error(reason);
  }
}
