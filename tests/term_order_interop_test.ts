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
import { beamTempDir, noErl, otpRelease, runErl } from "./_beam.ts";
import { test } from "./_tags.ts";

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
      const seed = Date.now() % 100000;
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
      assert.equal(firstDiff(ours, byTerm), "", "term order");
      // Before OTP 27, -0.0 =:= 0.0; noderl orders -0.0 first, as OTP 27+.
      const negZero = new Set(
        indices.filter((i) => /-0\.0\b/.test(formatTerm(terms[i - 1]))),
      );
      const comparable = (xs: number[]) =>
        Number(otpRelease) >= 27 ? xs : xs.filter((i) => !negZero.has(i));
      assert.equal(
        firstDiff(comparable(oursExact), comparable(byExact)),
        "",
        "map-key order",
      );
    } finally {
      dir.remove();
    }
  },
);
