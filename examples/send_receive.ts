/**
 * Responding to messages, as the seed's `{:hi, self()}` → `:sup?`: alex
 * spawns a process on kate that waits for a greeting and answers the pid
 * it carries.
 *
 *   deno run -A examples/send_receive.ts
 *   node --import tsx examples/send_receive.ts
 *
 * @module
 */
// In your project: from "noderl" (npm) or "jsr:@noderl/noderl" (Deno).
import {
  atom,
  type Pid,
  receive,
  self,
  send,
  startNode,
  startRegistry,
  Tuple,
  tuple,
} from "../mod.ts";

await using registry = await startRegistry({ port: 0 });
const options = { cookie: "secret", registryPort: registry.port };
// The first node started is the script's: `self()`, `send` and `receive`
// at the top level act as alex's shell process.
await using alex = await startNode({ name: "alex@localhost", ...options });
await using kate = await startNode({ name: "kate@localhost", ...options });

kate.defineModule("Kate", {
  // receive do {:hi, from} -> send(from, :sup?) end
  async wait_hi() {
    const [, from] = await receive((m) =>
      m instanceof Tuple && m[0] === atom("hi")
    ) as Tuple;
    send(from as Pid, atom("sup?"));
  },
});

const pid = await alex.spawnLink("kate@localhost", "Kate", "wait_hi", []);
console.log(`spawned ${pid} on ${pid.node}`);
send(pid, tuple(atom("hi"), self()));
const answer = await receive((m) => m === atom("sup?"), 5000);
console.log(`kate answered ${String(answer)}`);
