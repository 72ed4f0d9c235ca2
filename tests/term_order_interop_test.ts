/**
 * compareTerms against the BEAM: thousands of random terms of every type
 * sorted by noderl and by `lists:sort/2` (term order) and
 * `erts_internal:cmp_term/2` (map-key order) must come out the same.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decode } from "../node/decode.ts";
import { compareTerms } from "../node/term_order.ts";
import { formatTerm } from "../node/format.ts";
import { Atom, Fun, ImproperList } from "../node/terms.ts";
import { beamTempDir, noErl, otpRelease, runErl } from "./_beam.ts";
import { test } from "./_tags.ts";

/** True when `t` holds a map with two or more atom keys, at any depth. */
function hasAtomKeyedMap(t: unknown): boolean {
  if (t instanceof Map) {
    let atoms = 0;
    for (const [k, v] of t) {
      if (
        k instanceof Atom || k === null || typeof k === "boolean"
      ) atoms++;
      if (atoms > 1 || hasAtomKeyedMap(k) || hasAtomKeyedMap(v)) return true;
    }
    return false;
  }
  if (Array.isArray(t)) return t.some(hasAtomKeyedMap);
  if (t instanceof ImproperList) {
    return t.items.some(hasAtomKeyedMap) || hasAtomKeyedMap(t.tail);
  }
  if (t instanceof Fun) return t.freeVars.some(hasAtomKeyedMap);
  return false;
}

function split(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let p = 0; p < buf.length;) {
    const len = view.getUint32(p);
    out.push(buf.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return out;
}

test(
  "term order and map-key order agree with the BEAM on 2,000 random terms",
  { tags: ["beam"], skip: noErl, timeout: 120_000 },
  async () => {
    const dir = beamTempDir("noderl-order-");
    try {
      // NODERL_ORDER_SEED replays a failed run's terms.
      const seed = Number(process.env.NODERL_ORDER_SEED ?? Date.now() % 100000);
      const r = await runErl(
        `noderl_oracle:gen(2000, ${seed}, "${dir.beam}/t.bin"), noderl_oracle:order("${dir.beam}/t.bin", "${dir.beam}/order.txt").`,
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const terms = split(new Uint8Array(readFileSync(join(dir.host, "t.bin"))))
        .map((b) => decode(b));
      const [byTerm, byExact] = readFileSync(
        join(dir.host, "order.txt"),
        "utf8",
      )
        .trim().split("\n").map((l) => l.split(" ").map(Number));
      const indices = terms.map((_, i) => i + 1);
      const sorted = (exact: boolean) =>
        [...indices].sort((a, b) =>
          compareTerms(terms[a - 1], terms[b - 1], { exact })
        );
      const ours = sorted(false), oursExact = sorted(true);
      const firstDiff = (x: number[], y: number[]) => {
        const i = x.findIndex((v, k) => v !== y[k]);
        return i < 0 ? "" : `seed ${seed}: at ${i}: ours ${x[i]}, BEAM ${y[i]}`;
      };
      // Left out where the oracle cannot see: before OTP 27, -0.0 =:= 0.0,
      // so two maps whose keys differ only there compare by their values on
      // the BEAM (noderl orders -0.0 first in map keys, as OTP 27+), in term
      // order and in map-key order alike. And, from OTP 26, cmp_term compares
      // two maps key by key in their internal order, which puts atom keys in
      // atom-table order, not text order (`<` and lists:sort keep term order).
      const otp = Number(otpRelease);
      const zeroBlind = new Set(
        indices.filter((i) =>
          otp < 27 && /-0\.0\b/.test(formatTerm(terms[i - 1]))
        ),
      );
      const blind = new Set([
        ...zeroBlind,
        ...indices.filter((i) => otp >= 26 && hasAtomKeyedMap(terms[i - 1])),
      ]);
      const without = (xs: number[], out: Set<number>) =>
        xs.filter((i) => !out.has(i));
      assert.equal(
        firstDiff(without(ours, zeroBlind), without(byTerm, zeroBlind)),
        "",
        "term order",
      );
      assert.ok(blind.size < indices.length / 5, `${blind.size} left out`);
      assert.equal(
        firstDiff(without(oursExact, blind), without(byExact, blind)),
        "",
        "map-key order",
      );
    } finally {
      dir.remove();
    }
  },
);
