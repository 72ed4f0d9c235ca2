/**
 * Shared reporting for the bench scripts: each figure is measured for
 * noderl and for the BEAM in the same run, and printed with their ratio.
 *
 * @module
 */

/** One measured figure. */
export interface BenchResult {
  name: string;
  unit: string;
  /** noderl's figure. */
  ts: number;
  /** The BEAM's figure, measured in the same run (undefined without erl). */
  beam?: number;
  /** Another reference figure (e.g. a bare socket), with its label. */
  ref?: { label: string; value: number };
  /** Whether a larger figure is better (throughput) or worse (latency). */
  higherIsBetter: boolean;
  note?: string;
}

const fmt = (v: number) =>
  v >= 100 ? Math.round(v).toLocaleString("en") : v.toPrecision(3);

/** Prints a result line with the ratio noderl : BEAM (>1 means noderl wins). */
export function report(r: BenchResult): void {
  let line = `${r.name}: noderl ${fmt(r.ts)} ${r.unit}`;
  if (r.beam !== undefined) {
    const ratio = r.higherIsBetter ? r.ts / r.beam : r.beam / r.ts;
    line += ` | BEAM ${fmt(r.beam)} ${r.unit} | ratio ${ratio.toFixed(2)}x` +
      ` (${
        r.higherIsBetter
          ? "noderl/BEAM"
          : `BEAM/noderl ${/^(ns|µs|ms|s)$/.test(r.unit) ? "time" : r.unit}`
      })`;
  } else {
    line += " | BEAM not measured (erl not found)";
  }
  if (r.ref) {
    line += ` | ${r.ref.label} ${fmt(r.ref.value)} ${r.unit} (noderl = ${
      (r.ts / r.ref.value).toFixed(2)
    }x ${r.ref.label})`;
  }
  if (r.note) line += ` | ${r.note}`;
  console.log(line);
}
