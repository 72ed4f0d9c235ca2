/**
 * Codec bench: encode + decode of a realistic mix of distribution messages,
 * against the BEAM's term_to_binary/binary_to_term on the same terms.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { decode } from "../node/decode.ts";
import { encode } from "../node/encode.ts";
import { atom, Float, Pid, Ref, tuple } from "../node/terms.ts";
import { beamTempDir, erlPath, runErl } from "./_beam.ts";
import type { BenchResult } from "./_bench.ts";

/** The message mix: what a cluster sends most. */
export function messageMix(): unknown[] {
  const pid = new Pid("alex@localhost", 118, 0, 1763700000);
  const ref = new Ref("alex@localhost", 1763700000, [12345, 67890, 13579]);
  const kv = (i: number) =>
    tuple(atom("put"), `bucket-${i}`, `key-${i}`, i * 3);
  return [
    tuple(atom("$gen_call"), tuple(pid, ref), kv(1)),
    tuple(ref, tuple(atom("ok"), pid)),
    tuple(atom("hi"), pid),
    atom("sup?"),
    tuple(
      atom("io_request"),
      pid,
      ref,
      tuple(atom("put_chars"), atom("unicode"), "Hi, my name is Kate\n"),
    ),
    tuple(6, pid, atom(""), atom("Elixir.Chat.TaskSupervisor")),
    new Map<unknown, unknown>([[atom("name"), "kate"], [atom("age"), 7], [
      atom("tags"),
      ["a", "b"],
    ]]),
    Array.from({ length: 20 }, (_, i) => i * 1000),
    tuple(atom("data"), "x".repeat(1024)),
    tuple(atom("measure"), 3.14159, new Float(2), 2n ** 70n, -42),
    [tuple(atom("a"), 1), tuple(atom("b"), 2), tuple(atom("c"), 3)],
    tuple(atom("EXIT"), pid, atom("noconnection")),
  ];
}

/** Rounds over the mix per timed run. */
const ROUNDS = 10_000;
/** Timed runs on each side; the best one counts, on both sides alike. */
const RUNS = 5;

/** Runs the codec bench; returns the figures. */
export async function benchCodec(): Promise<BenchResult[]> {
  const terms = messageMix();
  const encoded = terms.map((t) => encode(t));
  const once = () => {
    for (const t of terms) decode(encode(t));
  };
  // Warm up (JIT tiers), then take the best of several timed runs.
  for (let r = 0; r < 3000; r++) once();
  let tsMs = Infinity;
  for (let k = 0; k < RUNS; k++) {
    const t0 = performance.now();
    for (let r = 0; r < ROUNDS; r++) once();
    tsMs = Math.min(tsMs, performance.now() - t0);
  }
  const ops = ROUNDS * terms.length;
  const bytes = encoded.reduce((n, b) => n + b.length, 0) * ROUNDS;
  const results: BenchResult[] = [];
  const ts = ops / (tsMs / 1000);
  let beam: number | undefined;
  if (erlPath) {
    const dir = beamTempDir("noderl-bench-");
    try {
      const file = join(dir.host, "mix.bin");
      const parts: number[] = [];
      for (const e of encoded) {
        parts.push(
          e.length >>> 24,
          (e.length >>> 16) & 255,
          (e.length >>> 8) & 255,
          e.length & 255,
          ...e,
        );
      }
      writeFileSync(file, new Uint8Array(parts));
      // The same best-of-RUNS in one VM (the first run warms it up).
      const r = await runErl(
        `[noderl_oracle:bench("${dir.beam}/mix.bin", ${ROUNDS}) || _ <- lists:seq(1, ${RUNS})], halt().`,
        { timeoutMs: 120_000 },
      );
      for (const line of r.stdout.trim().split("\n")) {
        const [n, us] = line.trim().split(/\s+/).map(Number);
        if (n > 0 && us > 0) beam = Math.max(beam ?? 0, n / (us / 1e6));
      }
      if (beam === undefined) {
        throw new Error(`the BEAM bench printed no figures: ${r.stderr}`);
      }
    } finally {
      dir.remove();
    }
  }
  results.push({
    name: "codec: encode+decode of the message mix",
    unit: "terms/s",
    ts,
    beam,
    higherIsBetter: true,
    note: `${(bytes / (tsMs / 1000) / 1e6).toFixed(0)} MB/s, best of ${RUNS}`,
  });
  return results;
}
