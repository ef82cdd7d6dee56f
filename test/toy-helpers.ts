/** Shared helpers for the toy-world tests: batch statistics and small worlds that exercise every mechanism. */
import type { WorldConfigInput } from "../src/toy/config.js";
import type { WorldBatch } from "../src/toy/types.js";

/** Per-feature counts, magnitude sums and sums of squares, and a pairwise co-fire counter. */
export interface BatchStats {
  n: number;
  count: Float64Array;
  sum: Float64Array;
  sumSq: Float64Array;
  /** Returns how many samples have every listed feature active. */
  together(...features: number[]): number;
  /** Returns how many samples have `child` active while `parent` is silent. */
  orphans(child: number, parent: number): number;
}

/** Returns statistics of one batch (kept as a dense active-set per sample for pair queries). */
export function batchStats(b: WorldBatch): BatchStats {
  const nf = b.nFeatures;
  const count = new Float64Array(nf);
  const sum = new Float64Array(nf);
  const sumSq = new Float64Array(nf);
  const active = new Uint8Array(b.batch * nf);
  const f = b.features;
  for (let r = 0; r < b.batch; r++) {
    for (let e = f.rowPtr[r]!; e < f.rowPtr[r + 1]!; e++) {
      const c = f.colIdx[e]!;
      const v = f.values[e]!;
      count[c]!++;
      sum[c]! += v;
      sumSq[c]! += v * v;
      active[r * nf + c] = 1;
    }
  }
  return {
    n: b.batch,
    count,
    sum,
    sumSq,
    together(...features) {
      let k = 0;
      for (let r = 0; r < b.batch; r++) if (features.every((c) => active[r * nf + c])) k++;
      return k;
    },
    orphans(child, parent) {
      let k = 0;
      for (let r = 0; r < b.batch; r++) if (active[r * nf + child] && !active[r * nf + parent]) k++;
      return k;
    },
  };
}

/** Returns |observed rate - p| in standard errors of a binomial proportion over n trials. */
export function zScore(count: number, n: number, p: number): number {
  const se = Math.sqrt(Math.max(p * (1 - p), 1e-12) / n);
  return Math.abs(count / n - p) / se;
}

/** Returns the two-sample z statistic for proportions a/n and b/m. */
export function twoSampleZ(a: number, n: number, b: number, m: number): number {
  const p = a / n;
  const q = b / m;
  const se = Math.sqrt((p * (1 - p)) / n + (q * (1 - q)) / m);
  return se > 0 ? Math.abs(p - q) / se : p === q ? 0 : Infinity;
}

/**
 * A world with every independent-firing mechanism: Zipf profile, dense features, a mutually
 * exclusive group with a grandchild level, a plain group, a second exclusive group, chained
 * co-occurrence rules, child scaling, relu losses (std 0.5 on means 1-2) and compensation.
 */
export const MECHANISMS: WorldConfigInput = {
  nFeatures: 24,
  dModel: 32,
  seed: 7,
  firing: { kind: "zipf", exponent: 1, max: 0.3, min: 0.01 },
  dense: { features: [20, 21], probability: 0.9 },
  magnitude: { mean: { kind: "linear", start: 2, end: 1 }, std: { kind: "constant", value: 0.5 } },
  hierarchy: {
    nodes: [
      { feature: 0, children: [4, 5, 6], mutuallyExclusive: true },
      { feature: 4, children: [10, 11] },
      { feature: 1, children: [7, 8] },
      { feature: 8, children: [22, 23], mutuallyExclusive: true },
    ],
    scaleChildrenByParent: true,
  },
  cooccurrence: [
    { given: 2, feature: 3, probability: 0.6 },
    { given: 3, feature: 15, probability: 0.2 },
  ],
  compensateProbabilities: true,
};
