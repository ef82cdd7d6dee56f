import { describe, expect, it } from "vitest";
import { binaryScores } from "../src/probe/classify.js";
import { kSparseScore, splitFeaturesByF1Jump, topIndices, trainKSparseProbes } from "../src/probe/ksparse.js";
import { fitLogisticL2, logisticLossAndGrad, trainLogisticProbes, type LogisticProbes } from "../src/probe/logistic.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { availableKernels, parseIsa } from "../src/tensor/backend.js";
import { Rng } from "../src/tensor/rng.js";

/** Plain-loop pos-weighted BCE + penalties, written independently of src/. */
function refLoss(w: number[], b: number[], x: number[][], y: number[][], pw: number[], l1: number, l2: number): number {
  const n = x.length;
  const c = b.length;
  let s = 0;
  for (let i = 0; i < n; i++)
    for (let k = 0; k < c; k++) {
      let z = b[k]!;
      x[i]!.forEach((v, j) => (z += w[k * x[i]!.length + j]! * v));
      const p = 1 / (1 + Math.exp(-z));
      s -= (pw[k]! * y[i]![k]! * Math.log(p) + (1 - y[i]![k]!) * Math.log(1 - p)) / (n * c);
    }
  for (const v of w) s += (l1 / c) * Math.abs(v) + (l2 / 2) * v * v;
  for (const v of b) s += (l2 / 2) * v * v;
  return s;
}

function randomProblem(seed: number, n: number, d: number, c: number) {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const y = new Float32Array(n * c);
  for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) y[i * c + k] = x[i * d + k]! + 0.5 * rng.normal() > 0.3 ? 1 : 0;
  return { x, y };
}

describe("logistic regression", () => {
  it("loss matches an independent formula and its gradient matches finite differences (L1 + L2, pos weights)", () => {
    const n = 7, d = 4, c = 3;
    const { x, y } = randomProblem(1, n, d, c);
    const rng = new Rng(2);
    const probes: LogisticProbes = { nIn: d, nOut: c, weights: Float32Array.from({ length: c * d }, () => rng.normal()), bias: Float32Array.from({ length: c }, () => rng.normal()) };
    const posWeight = Float32Array.from([2, 0.5, 1.5]);
    const t = { l1: 0.3, l2: 0.1, posWeight };
    const { loss, gW, gB } = logisticLossAndGrad(probes, x, y, n, t);
    const rows = (a: Float32Array, w: number) => Array.from({ length: a.length / w }, (_, i) => Array.from(a.subarray(i * w, (i + 1) * w)));
    const L = () => refLoss(Array.from(probes.weights), Array.from(probes.bias), rows(x, d), rows(y, c), Array.from(posWeight), t.l1, t.l2);
    expect(loss).toBeCloseTo(L(), 5);
    const h = 1e-3;
    const check = (arr: Float32Array, g: Float64Array) => {
      for (let e = 0; e < arr.length; e++) {
        const v = arr[e]!;
        arr[e] = v + h;
        const up = L();
        arr[e] = v - h;
        const dn = L();
        arr[e] = v;
        expect(Math.abs((up - dn) / (2 * h) - g[e]!)).toBeLessThan(2e-3);
      }
    };
    check(probes.weights, gW);
    check(probes.bias, gB);
  });

  it.each(availableKernels(parseIsa(process.env.SAELAB_ISA)).map((k) => [k.name, k] as const))("Adam training (%s) reaches the penalised optimum: gradient ~ 0", (_name, kernels) => {
    const n = 200, d = 5, c = 2;
    const { x, y } = randomProblem(3, n, d, c);
    const probes = trainLogisticProbes(kernels, x, y, n, d, c, { epochs: 1500, batchSize: n, lr: 0.05, endLr: 1e-4, l2: 0.1 });
    const { gW, gB } = logisticLossAndGrad(probes, x, y, n, { l1: 0, l2: 0.1, posWeight: Float32Array.from([0, 1].map((k) => { let p = 0; for (let i = 0; i < n; i++) p += y[i * c + k]!; return (n - p) / p; })) });
    const g = Math.max(...Array.from(gW, Math.abs), ...Array.from(gB, Math.abs));
    expect(g).toBeLessThan(1e-3);
  });

  it("L1 keeps the weights of irrelevant inputs near zero", () => {
    const n = 400, d = 8;
    const rng = new Rng(5);
    const x = Float32Array.from({ length: n * d }, () => rng.normal());
    const y = Float32Array.from({ length: n }, (_, i) => (x[i * d + 2]! > 0 ? 1 : 0));
    const p = trainLogisticProbes(referenceKernels(), x, y, n, d, 1, { epochs: 200, batchSize: 100, l1: 0.05, l2: 0 });
    const w = Array.from(p.weights);
    expect(w[2]!).toBeGreaterThan(0.5);
    for (let j = 0; j < d; j++) if (j !== 2) expect(Math.abs(w[j]!)).toBeLessThan(0.05 * w[2]!);
  });

  it("training is deterministic for a seed", () => {
    const { x, y } = randomProblem(9, 50, 3, 2);
    const a = trainLogisticProbes(referenceKernels(), x, y, 50, 3, 2, { epochs: 5, batchSize: 8, seed: 1 });
    const b = trainLogisticProbes(referenceKernels(), x, y, 50, 3, 2, { epochs: 5, batchSize: 8, seed: 1 });
    expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
  });

  it("fitLogisticL2 matches the closed form of an unregularised binary-feature fit, and has zero gradient when regularised", () => {
    // x in {0,1}: the MLE is b = logit P(y | x=0), w = logit P(y | x=1) - b.
    const x: number[] = [], y: number[] = [];
    const add = (xv: number, yv: number, times: number) => { for (let t = 0; t < times; t++) { x.push(xv); y.push(yv); } };
    add(0, 1, 3); add(0, 0, 9); add(1, 1, 8); add(1, 0, 2);
    const fit = fitLogisticL2(x, y, x.length, 1, { C: 1e9, balanced: false });
    const logit = (p: number) => Math.log(p / (1 - p));
    expect(fit.bias).toBeCloseTo(logit(3 / 12), 4);
    expect(fit.weight[0]!).toBeCloseTo(logit(8 / 10) - logit(3 / 12), 4);
    // Balanced, C = 1: the objective's finite-difference gradient vanishes at the solution.
    const n = 60, k = 3;
    const rng = new Rng(11);
    const xs = Array.from({ length: n * k }, () => rng.normal());
    const ys = Array.from({ length: n }, (_, i) => (xs[i * k]! - xs[i * k + 1]! + rng.normal() > 1 ? 1 : 0));
    const f2 = fitLogisticL2(xs, ys, n, k, { C: 1, balanced: true });
    const nPos = ys.reduce((s: number, v) => s + v, 0);
    const obj = (th: number[]) => {
      let f = 0;
      for (let j = 0; j < k; j++) f += 0.5 * th[j]! ** 2;
      for (let i = 0; i < n; i++) {
        let z = th[k]!;
        for (let j = 0; j < k; j++) z += th[j]! * xs[i * k + j]!;
        const sw = n / (2 * (ys[i] ? nPos : n - nPos));
        f += sw * Math.log(1 + Math.exp(ys[i] ? -z : z));
      }
      return f;
    };
    const th = [...f2.weight, f2.bias];
    for (let j = 0; j <= k; j++) {
      const up = th.slice(); up[j]! += 1e-5;
      const dn = th.slice(); dn[j]! -= 1e-5;
      expect(Math.abs((obj(up) - obj(dn)) / 2e-5)).toBeLessThan(1e-4);
    }
  });
});

describe("k-sparse probing", () => {
  it("topIndices takes the largest values, ties to the lower index", () => {
    expect(topIndices([0.1, 0.5, -2, 0.5, 0.3], 3)).toEqual([1, 3, 4]);
  });

  it("the F1-jump rule keeps latents while F1 rises by more than the threshold", () => {
    const feats = [[4], [4, 7], [4, 7, 1], [4, 7, 1, 9]];
    expect(splitFeaturesByF1Jump([0.6, 0.9, 0.92, 0.99], feats, 0.03)).toEqual([4, 7]);
    expect(splitFeaturesByF1Jump([0.9, 0.91, 0.99, 1], feats, 0.03)).toEqual([4]);
    expect(splitFeaturesByF1Jump([0.5, 0.6, 0.7, 0.8], feats, 0.03)).toEqual([4, 7, 1, 9]);
  });

  it("selects planted latents: one main latent per class, and a class split over two latents", () => {
    const dSae = 12, n = 300;
    const rng = new Rng(21);
    const labels = Int32Array.from({ length: n }, () => rng.int(3));
    const lat = new Float32Array(n * dSae);
    for (let i = 0; i < n; i++) {
      for (let j = 6; j < dSae; j++) if (rng.bernoulli(0.3)) lat[i * dSae + j] = rng.uniform(); // noise latents
      const c = labels[i]!;
      if (c === 0) lat[i * dSae + 1] = 1 + rng.uniform();
      if (c === 1) lat[i * dSae + 3] = 1 + rng.uniform();
      if (c === 2) lat[i * dSae + (rng.bernoulli(0.5) ? 4 : 5)] = 1 + rng.uniform(); // split
    }
    const probes = trainKSparseProbes(referenceKernels(), lat, n, dSae, labels, [0, 1, 2], 4, { batchSize: 16 });
    expect(probes.get(0)![0]!.feats).toEqual([1]);
    expect(probes.get(1)![0]!.feats).toEqual([3]);
    expect(new Set(probes.get(2)![1]!.feats)).toEqual(new Set([4, 5]));
    const f1 = (c: number) => probes.get(c)!.map((p) => binaryScores(Array.from(labels, (l) => l === c), Array.from({ length: n }, (_, i) => kSparseScore(p, lat, i, dSae) > 0)).f1);
    expect(splitFeaturesByF1Jump(f1(0), probes.get(0)!.map((p) => p.feats), 0.03)).toEqual([1]);
    expect(new Set(splitFeaturesByF1Jump(f1(2), probes.get(2)!.map((p) => p.feats), 0.03))).toEqual(new Set([4, 5]));
  });

  it("binaryScores follows scikit-learn's zero-division convention", () => {
    expect(binaryScores([true, false, true], [true, true, false])).toMatchObject({ precision: 0.5, recall: 0.5, f1: 0.5 });
    expect(binaryScores([false, false], [false, false]).f1).toBe(0);
  });
});
