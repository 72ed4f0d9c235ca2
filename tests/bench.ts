/**
 * `npm run bench`: every noderl figure beside the BEAM's, measured in the
 * same run, with ratios. `--only NAME` runs one suite (codec, registry,
 * transport, tasks, large, pubsub, tls, genserver, user).
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { report } from "./_bench.ts";
import { benchCodec } from "./bench_codec.ts";
import { benchLarge } from "./bench_large.ts";
import { benchPubsub } from "./bench_pubsub.ts";
import { benchRegistry } from "./bench_registry.ts";
import { benchGen } from "./bench_gen.ts";
import { benchTasks } from "./bench_tasks.ts";
import { benchTls } from "./bench_tls.ts";
import { benchTransport } from "./bench_transport.ts";
import { benchUser } from "./bench_user.ts";

const suites: Record<
  string,
  () => Promise<import("./_bench.ts").BenchResult[]>
> = {
  codec: benchCodec,
  registry: benchRegistry,
  transport: benchTransport,
  tasks: benchTasks,
  large: benchLarge,
  pubsub: benchPubsub,
  tls: benchTls,
  genserver: benchGen,
  user: benchUser,
};
// Lines printed after a suite's figures.
const footnotes: Record<string, string> = {
  user:
    "user: registry lookups vs epmd (goal ≥ 1×) are the registry suite's figures: `--only registry` (tests/bench_registry.ts)",
};

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { only: { type: "string", multiple: true } },
});
const names = values.only ?? Object.keys(suites);
for (const n of names) {
  if (!suites[n]) {
    console.error(
      `unknown bench suite ${n}; known: ${Object.keys(suites).join(", ")}`,
    );
    process.exit(2);
  }
}
const runtime = "Deno" in globalThis ? "Deno" : `Node ${process.version}`;
console.log(`noderl bench on ${runtime}`);
for (const n of names) {
  for (const r of await suites[n]()) report(r);
  if (footnotes[n]) console.log(footnotes[n]);
}
