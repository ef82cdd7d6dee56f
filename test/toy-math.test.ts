import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { buildCopula, choleskyPsd, latentCorrelation } from "../src/toy/correlation.js";
import { biasVector, featureDirections, interferenceLoss, superpositionStats } from "../src/toy/directions.js";
import { belowSf, bivariateUpper, normalCdf, normalQuantile, normalSf, positivePartMoments } from "../src/toy/normal.js";

interface Golden {
  cdf: [number, number, number][];
  quantile: [number, number][];
  bivariate_upper: [number, number, number, number][];
  positive_part: [number, number, number, number][];
}
// Produced by test/fixtures/make_normal_golden.py (SciPy).
const golden = JSON.parse(readFileSync(new URL("./fixtures/normal_golden.json", import.meta.url), "utf8")) as Golden;

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe("normal distribution functions against SciPy", () => {
  it("CDF and upper tail", () => {
    for (const [x, cdf, sf] of golden.cdf) {
      // Hart's approximation: ~1e-16 absolute everywhere, ~1e-10 relative in the tails (1e-8 beyond 7).
      const tol = Math.abs(x) > 7 ? 1e-8 : Math.abs(x) > 3 ? 1e-10 : 1e-14;
      expect(rel(normalCdf(x), cdf), `cdf(${x})`).toBeLessThan(tol);
      expect(rel(normalSf(x), sf), `sf(${x})`).toBeLessThan(tol);
    }
  });

  it("quantile, and quantile inverts the CDF", () => {
    for (const [p, q] of golden.quantile) expect(Math.abs(normalQuantile(p) - q), `ppf(${p})`).toBeLessThan(1e-12 * Math.max(1, Math.abs(q)));
    for (const p of [1e-9, 0.003, 0.2, 0.5, 0.8, 0.9999]) expect(rel(normalCdf(normalQuantile(p)), p)).toBeLessThan(p < 1e-6 ? 1e-9 : 1e-12);
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
  });

  it("bivariate upper orthant probability, including Sheppard's closed form at the origin", () => {
    for (const [h, k, r, want] of golden.bivariate_upper) expect(Math.abs(bivariateUpper(h, k, r) - want), `(${h}, ${k}, ${r})`).toBeLessThan(1e-12 + 1e-9 * want);
    for (const r of [-0.9, -0.3, 0.2, 0.75]) expect(bivariateUpper(0, 0, r)).toBeCloseTo(0.25 + Math.asin(r) / (2 * Math.PI), 12);
    expect(bivariateUpper(0.4, 1.1, 1)).toBeCloseTo(normalSf(1.1), 15);
  });

  it("the table squeeze decides x < Phi-bar(c) exactly as the function does", () => {
    const rng = new Rng(12);
    const wrong: number[][] = [];
    for (let i = 0; i < 200_000; i++) {
      const c = rng.uniformIn(-9, 9);
      // Half the x values sit within 1e-12 of the boundary, where a wrong bracket would show.
      const x = i % 2 === 0 ? rng.uniform() : normalSf(c) + rng.uniformIn(-1e-12, 1e-12);
      if (belowSf(x, c) !== x < normalSf(c)) wrong.push([x, c]);
    }
    expect(wrong).toEqual([]);
  });

  it("moments of a fired magnitude relu(mu + sigma Z) | > 0", () => {
    for (const [m, s, mean, std] of golden.positive_part) {
      const got = positivePartMoments(m, s);
      expect(rel(got.mean, mean)).toBeLessThan(1e-12);
      expect(rel(got.std, std)).toBeLessThan(1e-9);
    }
  });
});

describe("feature directions", () => {
  const dot = (e: Float32Array, d: number, i: number, j: number) => {
    let s = 0;
    for (let k = 0; k < d; k++) s += e[i * d + k]! * e[j * d + k]!;
    return s;
  };

  it("are exactly orthonormal when nFeatures <= dModel", () => {
    const e = featureDirections(20, 20, new Rng(1));
    for (let i = 0; i < 20; i++) for (let j = 0; j < 20; j++) expect(Math.abs(dot(e, 20, i, j) - (i === j ? 1 : 0))).toBeLessThan(1e-6);
  });

  it("the interference gradient matches finite differences", () => {
    const n = 5;
    const d = 3;
    const e = featureDirections(n, d, new Rng(2));
    for (let i = 0; i < e.length; i++) e[i] = e[i]! * 1.1;
    const k = referenceKernels();
    const grad = new Float32Array(n * d);
    interferenceLoss(e, n, d, k, grad);
    const h = 1e-3;
    for (const idx of [0, 4, 7, 14]) {
      const save = e[idx]!;
      e[idx] = save + h;
      const up = interferenceLoss(e, n, d, k);
      e[idx] = save - h;
      const down = interferenceLoss(e, n, d, k);
      e[idx] = save;
      expect(grad[idx]!).toBeCloseTo((up - down) / (2 * h), 2);
    }
  });

  it("orthogonalisation lowers the interference of random directions and keeps unit norms", () => {
    const n = 48;
    const d = 12;
    const k = referenceKernels();
    const before = superpositionStats(featureDirections(n, d, new Rng(3)), n, d);
    const e = featureDirections(n, d, new Rng(3), { steps: 60, lr: 0.02 }, k);
    const after = superpositionStats(e, n, d);
    expect(after.meanAbsCos).toBeLessThan(before.meanAbsCos * 0.95);
    expect(after.maxAbsCos).toBeLessThan(before.maxAbsCos);
    for (let i = 0; i < n; i++) expect(dot(e, d, i, i)).toBeCloseTo(1, 5);
  });

  it("superposition statistics equal a brute-force pass, and sampling rows approximates them", () => {
    const n = 300;
    const d = 10;
    const e = featureDirections(n, d, new Rng(4));
    let sum = 0;
    let max = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const c = Math.abs(dot(e, d, i, j));
        sum += c;
        max = Math.max(max, c);
      }
    }
    const exact = superpositionStats(e, n, d);
    expect(exact.exact).toBe(true);
    expect(exact.meanAbsCos).toBeCloseTo(sum / ((n * (n - 1)) / 2), 5);
    expect(exact.maxAbsCos).toBeCloseTo(max, 5);
    const sampled = superpositionStats(e, n, d, { budget: 60 * n * d, rng: new Rng(5) });
    expect(sampled).toMatchObject({ exact: false, rowsUsed: 60 });
    expect(sampled.meanAbsCos).toBeCloseTo(exact.meanAbsCos, 1);
    expect(sampled.maxAbsCos).toBeLessThanOrEqual(exact.maxAbsCos + 1e-7);
  });

  it("the bias has the configured norm", () => {
    const b = biasVector(30, 0.5, new Rng(6));
    expect(Math.hypot(...b)).toBeCloseTo(0.5, 6);
    expect(Array.from(biasVector(4, 0, new Rng(6)))).toEqual([0, 0, 0, 0]);
  });
});

describe("correlation structures", () => {
  it("the PSD Cholesky reproduces a singular PSD matrix and rejects an indefinite one", () => {
    // Rank-2 matrix: rows 0 and 2 are identical directions.
    const a = [1, 0.5, 1, 0.5, 1, 0.5, 1, 0.5, 1];
    const r = choleskyPsd(a, 3);
    if (!("chol" in r)) throw new Error("rejected a PSD matrix");
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += r.chol[i * 3 + k]! * r.chol[j * 3 + k]!;
      expect(s).toBeCloseTo(a[i * 3 + j]!, 12);
    }
    expect("pivot" in choleskyPsd([1, 0.9, 0.9, 0.9, 1, -0.9, 0.9, -0.9, 1], 3)).toBe(true);
  });

  it("low_rank factors have entries N(0, scale^2), unit latent variance, and shrink as SAELens does when too strong", () => {
    const c = buildCopula({ kind: "low_rank", rank: 25, scale: 0.1 }, 4000, new Rng(7));
    if (c.kind !== "lowRank") throw new Error("expected low rank");
    let sq = 0;
    for (const v of c.factor) sq += v * v;
    expect(sq / c.factor.length).toBeCloseTo(0.01, 3);
    for (let i = 0; i < 4000; i++) expect(latentCorrelation(c, i, i)).toBe(1);
    const strong = buildCopula({ kind: "low_rank", rank: 4, scale: 1 }, 50, new Rng(8));
    if (strong.kind !== "lowRank") throw new Error("expected low rank");
    expect(Math.min(...strong.diag)).toBeCloseTo(0.01, 6);
  });
});
