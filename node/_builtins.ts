/**
 * The modules every node defines for remote callers, as a BEAM node has
 * them: `erlang:node/0`, `nodes/0`, `self/0`, `apply/3`, `Elixir.Kernel`'s
 * `node/0`, and printing through the caller's group leader with
 * `io:format/1,2`, `io:put_chars/1`, `Elixir.IO.puts/1`, `write/1`.
 * Internal.
 *
 * @module
 */
import { A } from "./_atoms.ts";
import { withArity } from "./arity.ts";
import { chardataToString, ioLibFormat } from "./io_format.ts";
import type { Node } from "./node.ts";
import { Atom } from "./terms.ts";

/** Defines the built-in modules on `n`. */
export function installBuiltins(n: Node): void {
  n.defineModule("erlang", {
    node: () => Atom.of(n.name),
    nodes: () => n.nodes().map((x) => Atom.of(x)),
    self: () => n.current().pid,
    apply: (m: unknown, f: unknown, a: unknown) =>
      n.apply(String(m), String(f), Array.isArray(a) ? a : []),
  });
  n.defineModule("Elixir.Kernel", {
    node: () => Atom.of(n.name),
  });
  const print = (text: string) => {
    n.io.putChars(n.current(), text);
    return A.ok;
  };
  n.defineModule("io", {
    format: withArity(
      [1, 2],
      (fmt: unknown, args: unknown = []) =>
        print(ioLibFormat(fmt, args, n.name)),
    ),
    put_chars: (chars: unknown) => print(chardataToString(chars)),
  });
  n.defineModule("Elixir.IO", {
    puts: (chars: unknown) => print(`${chardataToString(chars)}\n`),
    write: (chars: unknown) => print(chardataToString(chars)),
  });
}
