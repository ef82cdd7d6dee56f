import { describe, expect, it } from "vitest";
import { Rng } from "../src/tensor/rng.js";
import { greedyAssignment, linearSumAssignment } from "../src/metrics/hungarian.js";
import { bestMatches, ClassificationAccumulator, featureUniqueness, meanCorrelationCoefficient } from "../src/metrics/recovery.js";
import { cosineMatrix } from "../src/metrics/cosine.js";
import { sparseFromDense } from "./helpers/hand-world.js";

/** Minimum total cost over all one-to-one matchings of the smaller side, by enumeration. */
function bruteForce(cost: number[], rows: number, cols: number): number {
  const small = Math.min(rows, cols);
  const big = Math.max(rows, cols);
  const at = (s: number, b: number) => (rows <= cols ? cost[s * cols + b]! : cost[b * cols + s]!);
  let best = Infinity;
  const used = new Array<boolean>(big).fill(false);
  const rec = (s: number, acc: number) => {
    if (s === small) {
      best = Math.min(best, acc);
      return;
    }
    for (let b = 0; b < big; b++) {
      if (used[b]) continue;
      used[b] = true;
      rec(s + 1, acc + at(s, b));
      used[b] = false;
    }
  };
  rec(0, 0);
  return best;
}

function checkMatching(a: { rowInd: Int32Array; colInd: Int32Array }, rows: number, cols: number): void {
  expect(a.rowInd.length).toBe(Math.min(rows, cols));
  expect(new Set(a.rowInd).size).toBe(a.rowInd.length);
  expect(new Set(a.colInd).size).toBe(a.colInd.length);
  for (let k = 1; k < a.rowInd.length; k++) expect(a.rowInd[k]!).toBeGreaterThan(a.rowInd[k - 1]!);
  for (const r of a.rowInd) expect(r).toBeLessThan(rows);
  for (const c of a.colInd) expect(c).toBeLessThan(cols);
}

describe("Hungarian algorithm", () => {
  it("matches brute force on random square and rectangular matrices", () => {
    const rng = new Rng(7);
    let cases = 0;
    for (let rows = 1; rows <= 6; rows++) {
      for (let cols = 1; cols <= 6; cols++) {
        for (let rep = 0; rep < 4; rep++) {
          // Integer costs make ties common, which exercises the degenerate paths.
          const cost = Array.from({ length: rows * cols }, () => (rep % 2 === 0 ? rng.uniformIn(-3, 5) : rng.int(4)));
          const a = linearSumAssignment(cost, rows, cols);
          checkMatching(a, rows, cols);
          let total = 0;
          for (let k = 0; k < a.rowInd.length; k++) total += cost[a.rowInd[k]! * cols + a.colInd[k]!]!;
          expect(a.totalCost).toBeCloseTo(total, 10);
          expect(total).toBeCloseTo(bruteForce(cost, rows, cols), 10);
          // Full candidate lists and the memory-saving one-candidate form both give complete, valid matchings.
          for (const k of [16, 1]) {
            const g = greedyAssignment(cost, rows, cols, k);
            checkMatching(g, rows, cols);
            expect(g.totalCost).toBeGreaterThanOrEqual(a.totalCost - 1e-12);
          }
          cases++;
        }
      }
    }
    expect(cases).toBe(144);
  });

  it("solves a classic 3x3 instance and a wide one where greedy is wrong", () => {
    // Rows pick columns 1, 0, 2: 1 + 2 + 2 = 5 (the textbook answer for this matrix).
    const a = linearSumAssignment([4, 1, 3, 2, 0, 5, 3, 2, 2], 3, 3);
    expect([...a.colInd]).toEqual([1, 0, 2]);
    expect(a.totalCost).toBe(5);
    // Greedy takes (0,0)=1 first, leaving row 1 the columns 1 and 2 (10, 9): total 10; the optimum is (0,1)+(1,0) = 2 + 3 = 5.
    const cost = [1, 2, 9, 3, 10, 9];
    expect(linearSumAssignment(cost, 2, 3).totalCost).toBe(5);
    expect(greedyAssignment(cost, 2, 3).totalCost).toBe(10);
  });

  it("rejects non-finite costs and wrong shapes", () => {
    expect(() => linearSumAssignment([0, NaN], 1, 2)).toThrow(/entry 1 is NaN/);
    expect(() => linearSumAssignment([0, 1, 2], 2, 2)).toThrow(/3 entries, expected 4/);
  });
});

describe("SAELens recovery metrics", () => {
  const features = [1, 0, 0, 1];
  const c30 = Math.cos(Math.PI / 6);
  const s30 = Math.sin(Math.PI / 6);

  it("MCC is the mean |cos| of the best one-to-one matching", () => {
    // Latent 0 at 30 degrees from e0, latent 1 on e1 (sign flipped: |cos| counts).
    const dec = [c30, s30, 0, -1];
    const cos = cosineMatrix(dec, 2, features, 2, 2);
    const r = meanCorrelationCoefficient(cos, 2, 2);
    expect(r.mcc).toBeCloseTo((c30 + 1) / 2, 12);
    expect([...r.latentOfFeature]).toEqual([0, 1]);
    expect(r.method).toBe("hungarian");
    // A third latent (0.6, -0.8): the best two pairs are still (l0,e0) and (l1,e1); l2 stays unmatched.
    const cos3 = cosineMatrix([...dec, 0.6, -0.8], 3, features, 2, 2);
    const r3 = meanCorrelationCoefficient(cos3, 3, 2);
    expect(r3.mcc).toBeCloseTo((c30 + 1) / 2, 12);
    expect([...r3.featureOfLatent]).toEqual([0, 1, -1]);
    // Forcing the greedy path gives a valid (here also optimal) matching and says so.
    expect(meanCorrelationCoefficient(cos3, 3, 2, 0).method).toBe("greedy");
    // Uniqueness: best matches e0, e1, e1 -> 2 distinct over 3 latents.
    const best = bestMatches(cos3, 3, 2);
    expect([...best]).toEqual([0, 1, 1]);
    expect(featureUniqueness(best)).toBeCloseTo(2 / 3, 12);
    expect(featureUniqueness(new Int32Array(0))).toBe(0);
  });

  it("precision, recall, F1 and accuracy per latent against its best-matching feature, streamed", () => {
    const best = Int32Array.from([0, 1, 1]);
    const feats = [[1, 0], [2, 1], [0, 3], [0, 0]];
    const lats = [[1, 0, 0], [1, 1, 0], [0, 0, 2], [5, 0, 0]];
    // Latent 0 vs feature 0: tp 2, fp 1, fn 0, tn 1. Latents 1 and 2 vs feature 1: tp 1, fp 0, fn 1, tn 2.
    const want = { precision: (2 / 3 + 1 + 1) / 3, recall: (1 + 0.5 + 0.5) / 3, f1: (0.8 + 2 / 3 + 2 / 3) / 3, accuracy: 0.75 };
    const whole = new ClassificationAccumulator(best, 2);
    whole.add(sparseFromDense(lats, 3), sparseFromDense(feats, 2));
    const split = new ClassificationAccumulator(best, 2);
    split.add(sparseFromDense(lats.slice(0, 1), 3), sparseFromDense(feats.slice(0, 1), 2));
    split.add(sparseFromDense(lats.slice(1), 3), sparseFromDense(feats.slice(1), 2));
    for (const r of [whole.finish(), split.finish()]) {
      expect(r.precision).toBeCloseTo(want.precision, 12);
      expect(r.recall).toBeCloseTo(want.recall, 12);
      expect(r.f1).toBeCloseTo(want.f1, 12);
      expect(r.accuracy).toBeCloseTo(want.accuracy, 12);
      expect([...r.perLatent.f1].map((v) => +v.toFixed(6))).toEqual([0.8, 0.666667, 0.666667]);
    }
  });
});
