/**
 * Codec bench: encode + decode of a realistic mix of distribution messages,
 * against the BEAM's term_to_binary/binary_to_term on the same terms.
 *
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { atom, decode, encode, Float, Pid, Ref, tuple } from "../node/mod.ts";
import { erlPath, runErl } from "./_beam.ts";
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

/** Runs the codec bench; returns the figures. */
export async function benchCodec(): Promise<BenchResult[]> {
  const terms = messageMix();
  const encoded = terms.map((t) => encode(t));
  const rounds = 20_000;
  // Warm up, then measure.
  for (let r = 0; r < 2000; r++) for (const t of terms) decode(encode(t));
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (const t of terms) decode(encode(t));
  const tsMs = performance.now() - t0;
  const ops = rounds * terms.length;
  const bytes = encoded.reduce((n, b) => n + b.length, 0) * rounds;
  const results: BenchResult[] = [];
  const ts = ops / (tsMs / 1000);
  let beam: number | undefined;
  if (erlPath) {
    const dir = mkdtempSync(join(tmpdir(), "noderl-bench-"));
    try {
      const file = join(dir, "mix.bin");
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
      const r = await runErl(
        `noderl_oracle:bench("${file}", ${rounds}), halt().`,
        { timeoutMs: 120_000 },
      );
      const [n, us] = r.stdout.trim().split(/\s+/).map(Number);
      beam = n / (us / 1e6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  results.push({
    name: "codec: encode+decode of the message mix",
    unit: "terms/s",
    ts,
    beam,
    higherIsBetter: true,
    note: `${(bytes / (tsMs / 1000) / 1e6).toFixed(0)} MB/s`,
  });
  return results;
}
