/**
 * The modules the distributed tests load into their peer nodes (see
 * node/peer.ts): Kate's module from the seeds, plus a few helpers.
 *
 * @module
 */
import process from "node:process";
import {
  atom,
  type Node,
  type Pid,
  puts,
  receive,
  send,
  Tuple,
} from "../node/mod.ts";

export default function setup(node: Node): void {
  node.defineModule("Kate", {
    // Runs on the peer, prints through the caller's group leader.
    say_name: () => puts("Hi, my name is Kate"),
    // The seed's {:hi, pid} -> :sup? exchange.
    wait_hi: async () => {
      const m = await receive((m) =>
        m instanceof Tuple && m[0] === atom("hi")
      ) as Tuple;
      send(m[1] as Pid, atom("sup?"));
    },
    add: (a: number, b: number) => a + b,
    boom: () => {
      throw new TypeError("kate exploded");
    },
    // Waits for any message; a process to link or monitor.
    wait: () => receive(),
    os_pid: () => process.pid,
    node_name: () => node.name,
    // A call from this peer to another node: peer-to-peer across processes.
    relay: (peer: unknown, mod: unknown, fun: unknown, args: unknown[]) =>
      node.call(String(peer), String(mod), String(fun), args, 10_000),
    // Writes to the peer's own standard output (for waitForOutput).
    log: (text: string) => {
      console.log(text);
    },
  });
}
