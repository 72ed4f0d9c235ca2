/**
 * Fragmented distribution messages (DFLAG_FRAGMENTS, OTP 22+), the
 * receiving half: a message too large for one packet arrives as a first
 * fragment `131, 69, SeqId:64, FragId:64, 0, Data` and follow-ups `131,
 * 70, SeqId:64, FragId:64, Data`, FragId counting down to 1; fragments of
 * different sequences may interleave. The data of all fragments, joined,
 * is the control term and the message, with no version bytes — as after
 * the normal distribution header `131, 68, 0`. (The sending half is in
 * connection.ts.) Internal.
 *
 * @module
 */

/** Bytes of data in each fragment noderl sends (the BEAM's size too). */
export const FRAGMENT_SIZE = 64 * 1024;

/** Most sequences in progress at once on one connection. */
const MAX_SEQUENCES = 1024;

interface Sequence {
  /** The FragId the next fragment must carry. */
  next: number;
  /**
   * The data so far: views into the connection's read chunks, which are
   * fresh for every read and never reused, so no copy is needed until the
   * message is whole.
   */
  chunks: Uint8Array[];
  size: number;
}

/** A fragment that breaks the protocol: the connection must go. */
export class FragmentError extends Error {}

/** The sequences being reassembled on one connection. */
export class Reassembly {
  private readonly sequences = new Map<string, Sequence>();
  /** Bytes held in all sequences. */
  private held = 0;
  private readonly maxBytes: number;

  /** `maxBytes`: the most bytes held for unfinished messages. */
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /**
   * Takes the fragment in `buf[start, end)` (from its 131): returns the
   * joined data once the message is whole, else undefined. Throws a
   * {@linkcode FragmentError} for a fragment out of order, for an unknown
   * sequence, or past the limits.
   */
  take(buf: Uint8Array, start: number, end: number): Uint8Array | undefined {
    const first = buf[start + 1] === 69;
    const head = first ? 19 : 18;
    if (end - start < head) {
      throw new FragmentError(`a fragment of ${end - start} bytes`);
    }
    const key = hex(buf, start + 2);
    const fragId = u64(buf, start + 10);
    const data = buf.subarray(start + head, end);
    let s = this.sequences.get(key);
    if (first) {
      if (buf[start + 18] !== 0) {
        throw new FragmentError(
          "a fragment header with atom cache references (not negotiated)",
        );
      }
      if (s !== undefined) {
        throw new FragmentError(`sequence ${key} started twice`);
      }
      if (fragId < 1) throw new FragmentError("a first fragment numbered 0");
      if (this.sequences.size >= MAX_SEQUENCES) {
        throw new FragmentError(
          `more than ${MAX_SEQUENCES} fragmented messages at once`,
        );
      }
      s = { next: fragId, chunks: [], size: 0 };
      this.sequences.set(key, s);
    } else if (s === undefined) {
      throw new FragmentError(`a fragment of unknown sequence ${key}`);
    }
    if (fragId !== s.next) {
      throw new FragmentError(
        `fragment ${fragId} of sequence ${key} where ${s.next} was due`,
      );
    }
    this.held += data.length;
    if (this.held > this.maxBytes) {
      throw new FragmentError(
        `fragmented messages over maxMessageSize (${this.maxBytes} bytes)`,
      );
    }
    s.chunks.push(data);
    s.size += data.length;
    s.next--;
    if (s.next > 0) return undefined;
    this.sequences.delete(key);
    this.held -= s.size;
    const whole = new Uint8Array(s.size);
    let p = 0;
    for (const c of s.chunks) {
      whole.set(c, p);
      p += c.length;
    }
    return whole;
  }
}

function u64(b: Uint8Array, at: number): number {
  const hi = (b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3]) >>> 0;
  const lo =
    (b[at + 4] << 24 | b[at + 5] << 16 | b[at + 6] << 8 | b[at + 7]) >>> 0;
  return hi * 0x100000000 + lo;
}

function hex(b: Uint8Array, at: number): string {
  let s = "";
  for (let i = 0; i < 8; i++) s += (b[at + i] | 0x100).toString(16).slice(1);
  return s;
}
