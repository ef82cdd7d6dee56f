import { describe, expect, it } from "vitest";
import { Rng } from "../src/tensor/rng.js";
import { densityHistogram, ReconstructionAccumulator, SparsityAccumulator } from "../src/metrics/reconstruction.js";
import { sparseFromDense } from "./helpers/hand-world.js";

describe("reconstruction metrics", () => {
  it("explained variance, MSE and shrinkage match a direct two-pass computation, however the data is batched", () => {
    const rng = new Rng(3);
    const n = 37;
    const d = 5;
    const x = new Float32Array(n * d).map(() => rng.normal() + 2);
    const xHat = x.map((v) => 0.8 * v + 0.1 * rng.normal());
    // Direct: variance as the mean squared distance from the mean vector (a different formula from the accumulator's).
    const mean = new Array<number>(d).fill(0);
    for (let r = 0; r < n; r++) for (let k = 0; k < d; k++) mean[k]! += x[r * d + k]! / n;
    let variance = 0;
    let err = 0;
    let shrink = 0;
    for (let r = 0; r < n; r++) {
      let nx = 0;
      let nh = 0;
      for (let k = 0; k < d; k++) {
        variance += (x[r * d + k]! - mean[k]!) ** 2 / n;
        err += (x[r * d + k]! - xHat[r * d + k]!) ** 2 / n;
        nx += x[r * d + k]! ** 2;
        nh += xHat[r * d + k]! ** 2;
      }
      shrink += Math.sqrt(nh / nx) / n;
    }
    for (const cuts of [[n], [1, 36], [10, 10, 17]]) {
      const acc = new ReconstructionAccumulator(d);
      let off = 0;
      for (const c of cuts) {
        acc.add(x.subarray(off * d, (off + c) * d), xHat.subarray(off * d, (off + c) * d), c);
        off += c;
      }
      const r = acc.finish();
      expect(r.explainedVariance).toBeCloseTo(1 - err / variance, 9);
      expect(r.mseSumOverDims).toBeCloseTo(err, 9);
      expect(r.mse).toBeCloseTo(err / d, 9);
      expect(r.shrinkage).toBeCloseTo(shrink, 9);
    }
  });

  it("shrinkage skips zero inputs; constant inputs explain all or nothing, as SAELens", () => {
    const acc = new ReconstructionAccumulator(2);
    // ||x_hat|| / ||x|| = 2.5 / 5 for the first sample; the zero sample is skipped.
    acc.add(Float32Array.from([3, 4, 0, 0]), Float32Array.from([0, 2.5, 1, 1]), 2);
    expect(acc.finish().shrinkage).toBeCloseTo(0.5, 12);
    const exact = new ReconstructionAccumulator(2);
    exact.add(Float32Array.from([1, 2, 1, 2]), Float32Array.from([1, 2, 1, 2]), 2);
    expect(exact.finish().explainedVariance).toBe(1);
    const off = new ReconstructionAccumulator(2);
    off.add(Float32Array.from([1, 2, 1, 2]), Float32Array.from([1, 1, 1, 1]), 2);
    expect(off.finish().explainedVariance).toBe(0);
    expect(() => off.add(Float32Array.from([NaN, 0]), Float32Array.from([0, 0]), 1)).toThrow(/non-finite/);
  });
});

describe("sparsity metrics", () => {
  it("L0, true L0, dead latents and firing densities", () => {
    const acc = new SparsityAccumulator(4);
    acc.add(sparseFromDense([[1, 0, 2, 0], [0, 0, 3, 0], [0, 0, 0, 0]], 4), sparseFromDense([[1, 1], [0, 2], [0, 0]], 2));
    acc.add(sparseFromDense([[0, 0, 1, 0]], 4), sparseFromDense([[4, 0]], 2));
    const r = acc.finish();
    expect(r.l0).toBeCloseTo(4 / 4, 12);
    expect(r.trueL0).toBeCloseTo(4 / 4, 12);
    expect(r.deadLatents).toEqual([1, 3]);
    expect([...r.firingDensity]).toEqual([0.25, 0, 0.75, 0]);
  });

  it("histograms log10 densities from 1/n to 1 with dead latents counted apart", () => {
    // n = 100: edges -2, -1.5, -1, -0.5, 0. Density 1 and 0.5 land in the last bin, 0.01 in the first.
    const h = densityHistogram([1, 0.5, 0.01, 0, 0.05], 100, 2);
    expect(h.log10Edges).toEqual([-2, -1.5, -1, -0.5, 0]);
    // log10(0.05) = -1.30 -> bin [-1.5, -1).
    expect(h.counts).toEqual([1, 1, 0, 2]);
    expect(h.dead).toBe(1);
  });
});
