/**
 * The noderl side of the PubSub bench (tests/bench_pubsub.ts), loaded into
 * a peer node: the same workloads as tests/beam/noderl_pubsub.ex's bench
 * functions, through noderl's PubSub.
 *
 * @module
 */
import {
  atom,
  type Node,
  type Pid,
  receive,
  self,
  Tuple,
  tuple,
} from "../node/mod.ts";
import { PubSub } from "../pubsub/mod.ts";

const DONE = atom("done"), ACK = atom("ack"), MSG = atom("msg");
const yieldNow = () => new Promise((r) => setImmediate(r));

export default function setup(node: Node): void {
  node.defineModule("PubSubBench", {
    start: async (name: unknown) => {
      await PubSub.start(node, { name: String(name) });
    },
    connect: (peer: unknown) => node.connect(String(peer)),
    // Resolves once `peer`'s adapter of `name` is in the group here.
    wait_adapter: (name: unknown, peer: unknown) =>
      PubSub.of(String(name), { node }).whenConnected(String(peer), 30_000),
    // `k` counting subscribers of `topic`, as start_counters/3 in Elixir.
    start_counters: (name: unknown, topic: string, k: number) => {
      const ps = PubSub.of(String(name), { node });
      const pids: Pid[] = [];
      for (let j = 0; j < k; j++) {
        pids.push(node.spawn(async () => {
          ps.subscribe(topic);
          let c = 0;
          for (;;) {
            const m = await receive();
            if (m instanceof Tuple && m[0] === DONE) {
              node.send(m[1] as Pid, tuple(ACK, c));
              c = 0;
            } else c++;
          }
        }));
      }
      return pids;
    },
    // Broadcasts `n` small messages then {done, self()}; waits for `k`
    // acks; returns broadcasts per second (as bench/4 in Elixir).
    async bench(name: unknown, topic: string, n: number, k: number) {
      const ps = PubSub.of(String(name), { node });
      const t0 = performance.now();
      for (let i = 1; i <= n;) {
        // Yield now and then, as a preemptive scheduler lets the
        // connection write meanwhile.
        const end = Math.min(n, i + 2_048 - 1);
        for (; i <= end; i++) ps.broadcast(topic, tuple(MSG, i));
        await yieldNow();
      }
      ps.broadcast(topic, tuple(DONE, self()));
      for (let j = 0; j < k; j++) {
        const a = await receive(
          (m) => m instanceof Tuple && m[0] === ACK,
          60_000,
        ) as Tuple;
        if (a[1] !== n) throw new Error(`a subscriber counted ${a[1]} of ${n}`);
      }
      return n / ((performance.now() - t0) / 1000);
    },
  });
}
