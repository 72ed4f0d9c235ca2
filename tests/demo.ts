/**
 * `npm run demo`: a tour of what noderl does today, on one machine.
 *
 * @module
 */
import process from "node:process";
import { atom, decode, encode, Float, tuple } from "../mod.ts";
import { erlPath, runErl } from "./_beam.ts";

function section(title: string): void {
  console.log(`\n== ${title}`);
}

section("External Term Format: encode in TypeScript, decode on the BEAM");
const term = tuple(atom("hi"), "Kate", [1, 2, 3], new Float(1), 2n ** 70n);
const bytes = encode(term);
console.log("term:", term);
console.log("bytes:", Array.from(bytes).join(","));
if (erlPath) {
  const r = await runErl(
    `io:format("erl sees: ~p~n", [binary_to_term(<<${
      Array.from(bytes).join(",")
    }>>)]), io:format("~w~n", [term_to_binary({ok, self(), make_ref(), 1.0, <<"héllo"/utf8>>, 'Elixir.Kate'})]), halt().`,
  );
  const [seen, erlBytes] = r.stdout.trim().split("\n");
  console.log(seen);
  section("…and the other way: erl encodes, TypeScript decodes");
  const fromErl = new Uint8Array(
    erlBytes.replace(/[<>]/g, "").split(",").map(Number),
  );
  console.log("TypeScript sees:", decode(fromErl));
} else {
  console.log("(erl not found: install erlang-base to see the BEAM side)");
}
process.exit(0);
