import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decode, encode, Float } from "../node/mod.ts";
import { beamTempDir, noErl, runErl } from "./_beam.ts";
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

function join32(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + 4 + p.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let p = 0;
  for (const part of parts) {
    view.setUint32(p, part.length);
    out.set(part, p + 4);
    p += 4 + part.length;
  }
  return out;
}

test(
  "BEAM → TS → BEAM is exact for 3,000 random terms of every type",
  { tags: ["beam"], skip: noErl, timeout: 120_000 },
  async () => {
    // Files the BEAM under test reads and writes (in its chroot, if any).
    const dir = beamTempDir("noderl-codec-");
    try {
      const orig = join(dir.host, "orig.bin"),
        back = join(dir.host, "back.bin");
      const [origB, backB] = [`${dir.beam}/orig.bin`, `${dir.beam}/back.bin`];
      // NODERL_ORDER_SEED replays a failed run's terms.
      const seed = Number(
        process.env.NODERL_ORDER_SEED ?? Date.now() % 100000,
      );
      const gen = await runErl(
        `noderl_oracle:gen(3000, ${seed}, "${origB}"), halt().`,
      );
      assert.equal(gen.code, 0, gen.stderr + gen.stdout);
      const terms = split(readFileSync(orig));
      assert.equal(terms.length, 3000);
      const reencoded = terms.map((t) => encode(decode(t)));
      writeFileSync(back, join32(reencoded));
      const check = await runErl(
        `noderl_oracle:check("${origB}", "${backB}").`,
      );
      assert.equal(
        check.code,
        0,
        `seed ${seed}: ${check.stdout}${check.stderr}`,
      );
      assert.match(check.stdout, /^ok 3000/);

      // The oracle itself must notice a difference: turn one float 1.0 into 1.
      writeFileSync(orig, join32([encode(new Float(1))]));
      writeFileSync(back, join32([encode(1)]));
      const neg = await runErl(
        `noderl_oracle:check("${origB}", "${backB}").`,
      );
      assert.equal(neg.code, 1, "the checker must catch 1.0 =/= 1");
    } finally {
      dir.remove();
    }
  },
);
