/**
 * One established distribution connection: 4-byte-length framed packets
 * `[len:32]['p'][131 control][131 message]`, zero-length ticks, writes
 * coalesced per event-loop turn. Internal.
 *
 * Every control message noderl sends is built here, by one method per wire
 * operation (`send`, `regSend`, `aliasSend`, `link`, `unlink`,
 * `unlinkIdAck`, `exit`, `exit2`, `monitor`, `demonitor`, `monitorExit`,
 * `spawnRequest`, `spawnReply`), which also picks the variant the peer's
 * flags allow (SEND_SENDER or SEND, PAYLOAD_EXIT or EXIT, UNLINK_ID or
 * UNLINK). Incoming packets are cut, reassembled and decoded by
 * `_packet_reader.ts` and go to the handler as `(control tuple, message)`.
 *
 * @module
 */
import type { Socket } from "node:net";
import { TermWriter } from "./encode.ts";
import { TermEncodeError } from "./term_errors.ts";
import { keepPolling } from "./_busy_wait.ts";
import { DFLAG, OP } from "./_dist.ts";
import { FRAGMENT_SIZE } from "./_fragments.ts";
import { NO_MESSAGE, PacketReader } from "./_packet_reader.ts";
import { Atom, Pid, type Ref, type Tuple, tuple } from "./terms.ts";

const EMPTY_ATOM = Atom.of("");
/** The distribution header with no atom cache references. */
const DIST_HEADER = new Uint8Array([131, 68, 0]);
const EMPTY_BODY = new Uint8Array(0);

/** The pass-through byte that starts packets to peers without fragments. */
const PASS_THROUGH = new Uint8Array([112]);

/** Receives the packets of a connection. */
export interface ConnectionHandler {
  /** A control message (and its payload, or NO_MESSAGE) arrived. */
  packet(conn: Connection, control: Tuple, message: unknown): void;
  /** The connection is gone; `reason` says why. */
  closed(conn: Connection, reason: string): void;
}

const SLAB = 256 * 1024;
/** Bytes queued that trigger a write at once rather than at the end of the turn. */
const FLUSH_AT = 128 * 1024;
const TICK = new Uint8Array(4);

/** A send buffer and the socket writes not yet done with it. */
interface Slab {
  buf: Uint8Array;
  writes: number;
  /** Set once nothing more is written into it. */
  retired: boolean;
}

/** Limits of a connection. */
export interface ConnectionLimits {
  /** Largest packet accepted, in bytes. */
  maxPacketSize: number;
  /**
   * Output queued (encoded, not yet taken by the operating system) past
   * which the connection is busy and senders are suspended, as the BEAM's
   * `dist_buf_busy_limit`.
   */
  busyLimit: number;
  /** Output queued past which the connection is dropped (a peer that does not read). */
  maxOutputBuffer: number;
  /** Largest message sent, or received in fragments. */
  maxMessageSize: number;
}

/**
 * A large message on its way out in fragments, or (`packet`) a whole
 * packet from the same sender queued behind one so as not to overtake it.
 */
interface Outgoing {
  /** A complete packet (length included) to write as is. */
  packet?: Uint8Array;
  seq: number;
  /** The control term and message, no version bytes. */
  body: Uint8Array;
  /** Bytes of `body` sent so far. */
  off: number;
  /** Fragments still to send: the FragId of the next one. */
  left: number;
}

/**
 * An established connection to one peer node.
 *
 * @internal
 */
export class Connection {
  /** The peer's node name. */
  readonly peer: string;
  /** The peer's capability flags. */
  readonly flags: bigint;
  /** The peer's creation. */
  readonly creation: number;
  private readonly senderFlag: boolean;
  /** The peer takes exit reasons as payloads (PAYLOAD_EXIT & co.). */
  private readonly exitPayload: boolean;
  /** The peer speaks the UNLINK_ID protocol. */
  private readonly unlinkId: boolean;
  /**
   * The peer takes fragments (DFLAG_FRAGMENTS): every packet then starts
   * with the distribution header `131, 68, 0` and its terms have no version
   * bytes; large messages go in fragments. Otherwise packets are
   * pass-through: `112, 131 control, 131 message`.
   */
  private readonly distHeader: boolean;
  /** Bytes handed to the socket and not yet taken by the operating system. */
  private inFlight = 0;
  /**
   * Output is past `busyLimit`: processes that send on this connection are
   * suspended until it drains (see {@linkcode Connection.drained}).
   */
  busy = false;
  private drainPromise: Promise<void> | undefined;
  private resolveDrain: (() => void) | undefined;
  /**
   * Large messages being sent in fragments, by sender (a local pid's key),
   * with the packets that sender queued after them: senders take turns, and
   * a sender's later signals never overtake its earlier ones (the BEAM's
   * signal order between two processes). The map's order is the turn order.
   */
  private readonly lanes = new Map<string, Outgoing[]>();
  private seq = 0;
  private pumping = false;
  private readonly pumpNow = () => this.pump();
  /** Whether the connection is open. */
  open = true;
  /** Set once close() was called: nothing more is sent. */
  private closing = false;
  /** Resolves once the connection is closed. */
  readonly closed: Promise<void>;
  private markClosed!: () => void;
  /** Set while we are closing it on purpose (reason to report). */
  private closeReason: string | undefined;

  private readonly socket: Socket;
  private readonly handler: ConnectionHandler;
  /** The receiving half: framing, fragments, decoding. */
  private readonly packets: PacketReader;
  private readonly limits: ConnectionLimits;
  private readonly w = new TermWriter(SLAB);
  private flushFrom = 0;
  /** The slab `w` writes into, and how many socket writes still use it. */
  private slab: Slab = { buf: this.w.buf, writes: 0, retired: false };
  /** Slabs whose writes have completed, ready for reuse. */
  private readonly pool: Uint8Array[] = [];
  private scheduled = false;
  private readonly flushNow = () => this.flush();

  // Send side: the encoded control of the last SEND, reused for the same pair.
  private sendFrom: unknown;
  private sendTo: unknown;
  private sendControl: Uint8Array | undefined;
  // The same for REG_SEND: the last sender and name.
  private regFrom: unknown;
  private regName: unknown;
  private regControl: Uint8Array | undefined;

  /** Ticks: traffic seen since the last tick interval. */
  private sentSinceTick = false;
  private receivedSinceTick = true;
  private silentIntervals = 0;

  constructor(
    socket: Socket,
    peer: string,
    flags: bigint,
    creation: number,
    handler: ConnectionHandler,
    limits: ConnectionLimits,
  ) {
    this.socket = socket;
    this.peer = peer;
    this.flags = flags;
    this.creation = creation;
    this.handler = handler;
    this.limits = limits;
    this.senderFlag = (flags & DFLAG.SEND_SENDER) !== 0n;
    this.exitPayload = (flags & DFLAG.EXIT_PAYLOAD) !== 0n;
    this.unlinkId = (flags & DFLAG.UNLINK_ID) !== 0n;
    this.distHeader = (flags & DFLAG.FRAGMENTS) !== 0n;
    this.packets = new PacketReader(
      limits,
      (control, message) => this.handler.packet(this, control, message),
      (reason) => this.destroy(reason),
      () => this.open,
    );
    this.closed = new Promise((r) => (this.markClosed = r));
    socket.setNoDelay(true);
    socket.on("data", (d: Uint8Array) => this.onData(d));
    socket.on("error", (e: Error) => {
      this.closeReason ??= `connection error: ${e.message}`;
    });
    // The distribution protocol has no half-closed connections: the peer's
    // FIN (after its last bytes, all delivered) means it is gone — as the
    // BEAM takes a read of 0 bytes. Without this, the connection stayed up
    // until our next write failed (a peer's orderly stop seen late).
    socket.on("end", () => this.destroy("connection closed by peer"));
    socket.on("close", () => this.onClose());
  }

  /** Feeds bytes that arrived before the connection took the socket over. */
  start(rest: Uint8Array): void {
    if (rest.length) this.onData(rest);
  }

  /**
   * Queues a packet: the control tuple's elements, and a message unless it
   * is NO_MESSAGE. Encoding errors throw before anything is queued.
   */
  private writePacket(control: readonly unknown[], message: unknown): void {
    if (!this.open || this.closing) return;
    const w = this.w;
    if (w.buf.length - w.pos < 1024 && this.flushFrom > 0) this.rebase();
    const start = w.pos;
    try {
      w.ensure(9);
      const b = w.buf;
      let p = start + 4;
      if (this.distHeader) {
        b[p++] = 131;
        b[p++] = 68;
        b[p++] = 0;
      } else {
        b[p++] = 112;
        b[p++] = 131;
      }
      const n = control.length;
      b[p++] = 104;
      b[p++] = n;
      w.pos = p;
      for (let i = 0; i < n; i++) w.writeTerm(control[i]);
      if (message !== NO_MESSAGE) {
        if (this.distHeader) w.writeBare(message);
        else w.writeVersioned(message);
      }
      this.finish(start, control);
    } catch (e) {
      w.reset(); // clears the writer's nesting state
      w.pos = start;
      throw e;
    }
    this.queued();
  }

  /**
   * Completes the packet that starts at `start`: writes its length, or —
   * a message larger than a fragment, to a peer that takes fragments —
   * takes it out of the buffer to be sent in fragments.
   */
  private finish(start: number, sender: Pid | readonly unknown[]): void {
    const w = this.w;
    const len = w.pos - start - 4;
    if (len > this.limits.maxMessageSize) {
      throw new RangeError(
        `a message of ${len} bytes to ${this.peer} exceeds maxMessageSize (${this.limits.maxMessageSize} bytes): send it in parts, or raise maxMessageSize on both nodes`,
      );
    }
    if (!this.distHeader || len - 3 <= FRAGMENT_SIZE) {
      w.u32At(start, len);
      if (this.lanes.size > 0) {
        // Behind a message of the same sender still going out in
        // fragments: wait for it.
        const lane = this.lanes.get(this.senderKey(sender));
        if (lane !== undefined) {
          lane.push({
            packet: w.buf.slice(start, w.pos),
            seq: 0,
            body: EMPTY_BODY,
            off: 0,
            left: 0,
          });
          w.pos = start;
        }
      }
      return;
    }
    const from = start + 7, to = w.pos;
    let body: Uint8Array;
    if (w.buf.length > 2 * SLAB) {
      // The writer grew for this message: its buffer becomes the message's
      // (no copy); what was queued before it moves to a fresh slab.
      body = w.buf.subarray(from, to);
      w.pos = start;
      this.rebase();
    } else {
      body = w.buf.slice(from, to);
      w.pos = start;
    }
    const m = {
      seq: ++this.seq,
      body,
      off: 0,
      left: Math.ceil(body.length / FRAGMENT_SIZE),
    };
    const key = this.senderKey(sender);
    const lane = this.lanes.get(key);
    if (lane !== undefined) lane.push(m);
    else this.lanes.set(key, [m]);
    if (!this.pumping) {
      this.pumping = true;
      setImmediate(this.pumpNow);
    }
  }

  /**
   * Writes fragments of the large messages in progress (taking turns) up
   * to the busy limit, then yields to the event loop, so that other
   * messages, ticks and incoming traffic go on meanwhile; waits while the
   * output is busy.
   */
  private pump(): void {
    this.pumping = false;
    if (!this.open || this.closing) return;
    const limit = this.limits.busyLimit;
    // One writev for the whole batch.
    this.socket.cork();
    while (
      this.lanes.size > 0 &&
      this.inFlight + this.w.pos - this.flushFrom < limit
    ) {
      const [key, lane] = this.lanes.entries().next().value!;
      const m = lane[0];
      if (m.packet !== undefined) this.writeWhole(m.packet);
      else this.writeFragment(m);
      if (m.left === 0) lane.shift();
      this.lanes.delete(key);
      if (lane.length > 0) this.lanes.set(key, lane); // its next turn
    }
    this.flush();
    this.socket.uncork();
    if (this.inFlight >= limit) this.busy = true;
    // More to send: next turn if the output has room, else once it drains.
    if (this.lanes.size > 0 && !this.busy) {
      this.pumping = true;
      setImmediate(this.pumpNow);
    }
  }

  /**
   * The lane of a packet's sender: `sender` is the pid, or the control
   * tuple's elements, whose first local pid is the sender (`From` of SEND,
   * LINK, EXIT, MONITOR_P_EXIT…; the new process of SPAWN_REPLY).
   */
  private senderKey(sender: Pid | readonly unknown[]): string {
    if (sender instanceof Pid) return sender.key;
    for (const x of sender) {
      if (x instanceof Pid && x.node !== this.peer) return x.key;
    }
    return "";
  }

  /** Writes a packet that waited behind a fragmented message. */
  private writeWhole(packet: Uint8Array): void {
    this.flush();
    const n = packet.length;
    this.inFlight += n;
    this.socket.write(packet, () => this.dataWritten(n));
    this.sentSinceTick = true;
  }

  /** Writes the next fragment of `m`: `131, 69|70, SeqId:64, FragId:64, [0,] data`. */
  private writeFragment(m: Outgoing): void {
    const w = this.w;
    const first = m.off === 0;
    const n = Math.min(FRAGMENT_SIZE, m.body.length - m.off);
    const head = first ? 19 : 18;
    if (w.buf.length - w.pos < 4 + head) this.flush();
    const b = w.buf, start = w.pos;
    w.u32At(start, head + n);
    let p = start + 4;
    b[p++] = 131;
    b[p++] = first ? 69 : 70;
    w.u32At(p, 0);
    w.u32At(p + 4, m.seq);
    w.u32At(p + 8, 0);
    w.u32At(p + 12, m.left);
    p += 16;
    if (first) b[p++] = 0;
    w.pos = p;
    // The header goes from the slab; the data straight from the message's
    // own buffer (it never changes once encoded): no copy.
    this.flush();
    const data = m.body.subarray(m.off, m.off + n);
    this.inFlight += n;
    this.socket.write(data, () => this.dataWritten(n));
    m.off += n;
    m.left--;
    this.sentSinceTick = true;
  }

  private dataWritten(n: number): void {
    this.inFlight -= n;
    if (
      this.busy &&
      this.inFlight + this.w.pos - this.flushFrom < this.limits.busyLimit
    ) this.unbusy();
  }

  /**
   * Resolves once the output is below the busy limit again (or the
   * connection is gone): what a suspended sender waits for.
   */
  drained(): Promise<void> {
    if (!this.busy || !this.open) return Promise.resolve();
    return this.drainPromise ??= new Promise<void>((r) => {
      this.resolveDrain = r;
    });
  }

  /** The output went below the busy limit (or the connection closed). */
  private unbusy(): void {
    this.busy = false;
    const r = this.resolveDrain;
    this.drainPromise = this.resolveDrain = undefined;
    r?.();
    if (this.lanes.size > 0 && !this.pumping && this.open) {
      this.pumping = true;
      setImmediate(this.pumpNow);
    }
  }

  /** After a packet is queued: flush at the end of this turn, or now if much is waiting. */
  private queued(): void {
    this.sentSinceTick = true;
    const pending = this.w.pos - this.flushFrom;
    if (pending >= FLUSH_AT) {
      this.flush();
    } else {
      if (!this.busy && this.inFlight + pending >= this.limits.busyLimit) {
        this.busy = true;
      }
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(this.flushNow);
      }
    }
  }

  // ------------------------------------------------------------ wire operations

  /**
   * SEND_SENDER `{22, From, To}` (SEND `{2, '', To}` for peers without
   * DFLAG_SEND_SENDER) + message: a message to a pid. Repeated sends between
   * the same two pids reuse the encoded control message.
   */
  send(from: Pid, to: Pid, message: unknown): void {
    if (!this.open || this.closing) return;
    let prefix = this.sendControl;
    if (prefix === undefined || this.sendFrom !== from || this.sendTo !== to) {
      prefix = this.prefixOf(
        this.senderFlag
          ? tuple(OP.SEND_SENDER, from, to)
          : tuple(OP.SEND, EMPTY_ATOM, to),
      );
      this.sendControl = prefix;
      this.sendFrom = from;
      this.sendTo = to;
    }
    this.writeWithPrefix(prefix, message, from);
  }

  /**
   * REG_SEND `{6, From, '', ToName}` + message: a message to a registered
   * name. Repeated sends from one pid to one name reuse the encoded control
   * message.
   */
  regSend(from: Pid, name: Atom, message: unknown): void {
    if (!this.open || this.closing) return;
    let prefix = this.regControl;
    if (
      prefix === undefined || this.regFrom !== from || this.regName !== name
    ) {
      prefix = this.prefixOf(tuple(OP.REG_SEND, from, EMPTY_ATOM, name));
      this.regControl = prefix;
      this.regFrom = from;
      this.regName = name;
    }
    this.writeWithPrefix(prefix, message, from);
  }

  /** Everything between a packet's length and its message: the header and the control term. */
  private prefixOf(control: Tuple): Uint8Array {
    const tmp = new TermWriter(128);
    if (this.distHeader) {
      tmp.bytes(DIST_HEADER);
      tmp.writeBare(control);
    } else {
      tmp.bytes(PASS_THROUGH);
      tmp.writeVersioned(control);
    }
    return tmp.buf.slice(0, tmp.pos);
  }

  /** A packet of an encoded prefix (header and control term) and `message`. */
  private writeWithPrefix(
    prefix: Uint8Array,
    message: unknown,
    from: Pid,
  ): void {
    const w = this.w;
    if (w.buf.length - w.pos < 1024 && this.flushFrom > 0) this.rebase();
    const start = w.pos;
    try {
      w.ensure(4 + prefix.length);
      w.buf.set(prefix, start + 4);
      w.pos = start + 4 + prefix.length;
      if (this.distHeader) w.writeBare(message);
      else w.writeVersioned(message);
      this.finish(start, from);
    } catch (e) {
      w.reset();
      w.pos = start;
      throw e;
    }
    this.queued();
  }

  /** ALIAS_SEND `{33, From, Alias}` + message: a message to an alias. */
  aliasSend(from: Pid, alias: Ref, message: unknown): void {
    this.writePacket([OP.ALIAS_SEND, from, alias], message);
  }

  /** LINK `{1, From, To}`. */
  link(from: Pid, to: Pid): void {
    this.writePacket([OP.LINK, from, to], NO_MESSAGE);
  }

  /**
   * UNLINK_ID `{35, Id, From, To}` (UNLINK `{4, From, To}` for peers
   * without DFLAG_UNLINK_ID).
   */
  unlink(id: number, from: Pid, to: Pid): void {
    this.writePacket(
      this.unlinkId ? [OP.UNLINK_ID, id, from, to] : [OP.UNLINK, from, to],
      NO_MESSAGE,
    );
  }

  /** UNLINK_ID_ACK `{36, Id, From, To}`: the answer to an UNLINK_ID. */
  unlinkIdAck(id: unknown, from: Pid, to: Pid): void {
    this.writePacket([OP.UNLINK_ID_ACK, id, from, to], NO_MESSAGE);
  }

  /**
   * PAYLOAD_EXIT `{24, From, To}` + reason (EXIT `{3, From, To, Reason}`
   * for older peers): the exit signal of a broken link.
   */
  exit(from: Pid, to: Pid, reason: unknown): void {
    encodable(reason, (r) => {
      if (this.exitPayload) this.writePacket([OP.PAYLOAD_EXIT, from, to], r);
      else this.writePacket([OP.EXIT, from, to, r], NO_MESSAGE);
    });
  }

  /**
   * PAYLOAD_EXIT2 `{26, From, To}` + reason (EXIT2 `{8, From, To, Reason}`
   * for older peers): `exit(Pid, Reason)` sent to a process.
   */
  exit2(from: Pid, to: Pid, reason: unknown): void {
    if (this.exitPayload) {
      this.writePacket([OP.PAYLOAD_EXIT2, from, to], reason);
    } else this.writePacket([OP.EXIT2, from, to, reason], NO_MESSAGE);
  }

  /** MONITOR_P `{19, From, ToPidOrName, Ref}`. */
  monitor(from: Pid, to: Pid | Atom, ref: Ref): void {
    this.writePacket([OP.MONITOR_P, from, to, ref], NO_MESSAGE);
  }

  /** DEMONITOR_P `{20, From, ToPidOrName, Ref}`. */
  demonitor(from: Pid, to: Pid | Atom, ref: Ref): void {
    this.writePacket([OP.DEMONITOR_P, from, to, ref], NO_MESSAGE);
  }

  /**
   * PAYLOAD_MONITOR_P_EXIT `{28, FromPidOrName, To, Ref}` + reason
   * (MONITOR_P_EXIT `{21, From, To, Ref, Reason}` for older peers): a
   * monitored process ended.
   */
  monitorExit(from: Pid | Atom, to: Pid, ref: Ref, reason: unknown): void {
    encodable(reason, (r) => {
      if (this.exitPayload) {
        this.writePacket([OP.PAYLOAD_MONITOR_P_EXIT, from, to, ref], r);
      } else {
        this.writePacket([OP.MONITOR_P_EXIT, from, to, ref, r], NO_MESSAGE);
      }
    });
  }

  /**
   * SPAWN_REQUEST `{29, ReqId, From, GroupLeader, {M, F, Arity}, Opts}` +
   * args: spawn `mod:fun(args…)` on the peer.
   */
  spawnRequest(
    reqId: Ref,
    from: Pid,
    groupLeader: Pid,
    mod: Atom,
    fun: Atom,
    args: readonly unknown[],
    opts: readonly unknown[],
  ): void {
    this.writePacket([
      OP.SPAWN_REQUEST,
      reqId,
      from,
      groupLeader,
      tuple(mod, fun, args.length),
      opts,
    ], args);
  }

  /**
   * SPAWN_REPLY `{31, ReqId, To, Flags, Result}`: the new pid (flags say
   * whether it is linked and monitored) or an error reason.
   */
  spawnReply(reqId: Ref, to: Pid, flags: number, result: unknown): void {
    this.writePacket([OP.SPAWN_REPLY, reqId, to, flags, result], NO_MESSAGE);
  }

  /** Moves unflushed bytes to a fresh buffer (flushed bytes may still be in flight). */
  private rebase(): void {
    const w = this.w;
    const from = this.flushFrom, to = w.pos;
    const old = this.slab;
    const next = this.takeSlab(Math.max(SLAB, (to - from) * 2));
    next.set(w.buf.subarray(from, to));
    this.retire(old);
    w.buf = next;
    w.pos = to - from;
    this.flushFrom = 0;
  }

  /** Writes everything queued, as one socket write. */
  flush(): void {
    this.scheduled = false;
    const w = this.w;
    if (!this.open || w.pos === this.flushFrom) return;
    keepPolling(w.pos - this.flushFrom); // an answer may come back soon
    if (w.buf !== this.slab.buf) {
      // The writer grew into a bigger buffer: the old slab is done with.
      this.retire(this.slab);
      this.slab = { buf: w.buf, writes: 0, retired: false };
    }
    const slab = this.slab;
    slab.writes++;
    const size = w.pos - this.flushFrom;
    this.inFlight += size;
    if (this.inFlight >= this.limits.busyLimit) {
      this.busy = true;
      if (this.inFlight > this.limits.maxOutputBuffer) {
        this.destroy(
          `output buffer over maxOutputBuffer (${this.limits.maxOutputBuffer} bytes): the peer does not read`,
        );
        return;
      }
    }
    this.socket.write(
      w.buf.subarray(this.flushFrom, w.pos),
      () => this.written(slab, size),
    );
    if (w.buf.length - w.pos < 64 * 1024) {
      // The written region now belongs to the socket; start a new slab.
      w.buf = this.takeSlab(SLAB);
      this.retire(slab);
      w.pos = 0;
      this.flushFrom = 0;
    } else {
      this.flushFrom = w.pos;
    }
  }

  /**
   * A slab to write into: a recycled one whose writes have all completed,
   * else a new one (allocating fresh memory for every 256 KB sent costs
   * page faults and zeroing, measurably so on Deno).
   */
  private takeSlab(size: number): Uint8Array {
    const buf = size === SLAB && this.pool.length > 0
      ? this.pool.pop()!
      : new Uint8Array(size);
    this.slab = { buf, writes: 0, retired: false };
    return buf;
  }

  /** `slab` takes no more bytes; recycle it once its writes are done. */
  private retire(slab: Slab): void {
    slab.retired = true;
    if (slab.writes === 0) this.recycle(slab.buf);
  }

  private written(slab: Slab, size: number): void {
    if (--slab.writes === 0 && slab.retired) this.recycle(slab.buf);
    this.inFlight -= size;
    if (
      this.busy &&
      this.inFlight + this.w.pos - this.flushFrom < this.limits.busyLimit
    ) this.unbusy();
  }

  private recycle(buf: Uint8Array): void {
    if (buf.length === SLAB && this.pool.length < 4 && this.open) {
      this.pool.push(buf);
    }
  }

  /** Called every tick interval by the node; false means the peer is silent too long. */
  tick(): boolean {
    if (!this.open) return true;
    if (!this.sentSinceTick) {
      this.flush();
      this.socket.write(TICK);
    }
    this.sentSinceTick = false;
    if (this.receivedSinceTick) this.silentIntervals = 0;
    else this.silentIntervals++;
    this.receivedSinceTick = false;
    return this.silentIntervals < 4;
  }

  /** Closes the connection; the handler's `closed` is called with `reason`. */
  close(reason: string): void {
    if (!this.open || this.closing) return;
    this.closeReason ??= reason;
    this.flush();
    this.closing = true;
    this.socket.end();
    // Do not wait for a peer that does not answer the FIN.
    setTimeout(() => this.socket.destroy(), 1000).unref?.();
  }

  /** Drops the connection at once. */
  destroy(reason: string): void {
    this.closeReason ??= reason;
    this.socket.destroy();
  }

  private onClose(): void {
    if (!this.open) return;
    this.open = false;
    this.lanes.clear();
    this.unbusy();
    try {
      this.handler.closed(
        this,
        this.closeReason ?? "connection closed by peer",
      );
    } finally {
      this.markClosed();
    }
  }

  private onData(d: Uint8Array): void {
    this.receivedSinceTick = true;
    keepPolling(d.length, true);
    this.packets.feed(d);
  }
}

/**
 * Writes an exit signal with `reason`, or — when a process ended with a
 * reason that has no Erlang term (a function, `NaN` …: a remote call's
 * result can be one) — with `{noderl_unencodable_reason, Why}`, so the
 * watcher still learns of the exit and the node never throws from there.
 */
function encodable(reason: unknown, write: (reason: unknown) => void): void {
  try {
    write(reason);
  } catch (e) {
    if (!(e instanceof TermEncodeError)) throw e;
    write(tuple(Atom.of("noderl_unencodable_reason"), e.message));
  }
}
