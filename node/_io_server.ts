/**
 * Group-leader I/O, both halves of the BEAM's io protocol. Internal.
 *
 * Every process has a group leader; output goes to it as `{io_request,
 * From, ReplyAs, Request}` and comes back as `{io_reply, ReplyAs, Reply}`.
 * A process spawned from another node keeps the spawner's group leader, so
 * what it prints appears on the spawner's terminal. Each node runs one I/O
 * server (registered as `user`), the group leader of its own processes,
 * answering `{put_chars, Enc, Chars}`, `{put_chars, Enc, io_lib, format,
 * [Fmt, Args]}`, `{put_chars, Chars}` and `{requests, [...]}`; anything else
 * gets `{error, request}`.
 *
 * @module
 */
import { A, isTuple } from "./_atoms.ts";
import { chardataToString, ioLibFormat } from "./io_format.ts";
import type { Node } from "./node.ts";
import type { Process } from "./process.ts";
import { Pid, Tuple, tuple } from "./terms.ts";

/**
 * A node's I/O server and its processes' way to print.
 *
 * @internal
 */
export class IoServer {
  private readonly node: Node;
  private readonly writeOut: (text: string) => void;

  constructor(node: Node, writeOut: (text: string) => void) {
    this.node = node;
    this.writeOut = writeOut;
  }

  /**
   * Prints `text` for process `p` through its group leader: directly when
   * that is this node's I/O server, else with an io request whose reply is
   * dropped on arrival (as `io:put_chars` does not wait for it here).
   */
  putChars(p: Process, text: string): void {
    const n = this.node;
    const gl = p.groupLeader;
    if (gl.equals(n.ioServer.pid)) {
      this.writeOut(text);
      return;
    }
    const ref = n.makeRef();
    (p.ioRefs ??= new Set()).add(ref.key);
    n.sendFrom(
      p,
      gl,
      tuple(A.io_request, p.pid, ref, tuple(A.put_chars, A.unicode, text)),
    );
  }

  /** The I/O server process's handler: one io request, one reply. */
  handle(m: unknown): void {
    if (!isTuple(m, A.io_request, 4)) return;
    const [, from, replyAs, request] = m;
    let reply: unknown;
    try {
      reply = this.serve(request);
    } catch {
      reply = tuple(A.error, A.request);
    }
    if (from instanceof Pid) {
      this.node.sendFrom(
        this.node.ioServer,
        from,
        tuple(A.io_reply, replyAs, reply),
      );
    }
  }

  private serve(req: unknown): unknown {
    if (!(req instanceof Tuple)) return tuple(A.error, A.request);
    if (req[0] === A.put_chars) {
      if (req.length === 3) {
        const enc = req[1] === A.latin1 ? "latin1" : "unicode";
        this.writeOut(chardataToString(req[2], enc));
        return A.ok;
      }
      if (req.length === 2) {
        this.writeOut(chardataToString(req[1], "latin1"));
        return A.ok;
      }
      if (req.length === 5 && req[2] === A.io_lib && req[3] === A.format) {
        const fa = req[4];
        if (!Array.isArray(fa) || fa.length !== 2) {
          return tuple(A.error, A.request);
        }
        this.writeOut(ioLibFormat(fa[0], fa[1], this.node.name));
        return A.ok;
      }
    }
    if (req[0] === A.requests && Array.isArray(req[1])) {
      let last: unknown = A.ok;
      for (const r of req[1]) {
        last = this.serve(r);
        if (isTuple(last, A.error)) return last;
      }
      return last;
    }
    return tuple(A.error, A.request);
  }
}
