import { describe, expect, it } from "vitest";
import { referenceKernels } from "../src/tensor/reference.js";
import type { Kernels } from "../src/tensor/kernels.js";
import { naiveSampler } from "../src/toy/naive.js";
import { bivariateUpper, positivePartMoments, upperQuantile } from "../src/toy/normal.js";
import { latentCorrelation } from "../src/toy/correlation.js";
import { createWorld, type ToyWorld } from "../src/toy/world.js";
import type { WorldConfigInput } from "../src/toy/config.js";
import { batchStats, MECHANISMS, twoSampleZ, zScore } from "./toy-helpers.js";

const N = 200_000;

/** Expected mean and std of each feature's magnitude when it fires (truncated normal, times the parent's scale). */
function expectedMagnitudes(w: ToyWorld): { mean: number; std: number }[] {
  const m1 = new Float64Array(w.nFeatures);
  const m2 = new Float64Array(w.nFeatures);
  const scale = w.config.hierarchy?.scaleChildrenByParent ?? false;
  const order = [...Array(w.nFeatures).keys()].sort((a, b) => w.depth[a]! - w.depth[b]!);
  for (const i of order) {
    const own = positivePartMoments(w.magnitudeMean[i]!, w.magnitudeStd[i]!);
    m1[i] = own.mean;
    m2[i] = own.std ** 2 + own.mean ** 2;
    const p = w.parent[i]!;
    if (p >= 0 && scale) {
      const mu = w.magnitudeMean[p]!;
      m1[i] = m1[i]! * (m1[p]! / mu);
      m2[i] = m2[i]! * (m2[p]! / (mu * mu));
    }
  }
  return Array.from(m1, (m, i) => ({ mean: m, std: Math.sqrt(Math.max(0, m2[i]! - m * m)) }));
}

describe("toy world sampler: independent firing, hierarchy, exclusion, co-occurrence", () => {
  const world = createWorld(MECHANISMS);
  const b = world.sampler(11).next(N);
  const s = batchStats(b);

  it("compensation reaches every configured marginal exactly", () => {
    expect(world.unreachable).toEqual([]);
    for (let i = 0; i < world.nFeatures; i++) expect(world.firingProbability[i]).toBeCloseTo(world.targetProbability[i]!, 12);
  });

  it("each feature fires within 4 standard errors of its marginal", () => {
    for (let i = 0; i < world.nFeatures; i++) expect(zScore(s.count[i]!, N, world.firingProbability[i]!), `feature ${i}`).toBeLessThan(4);
  });

  it("no child fires without its parent, and exclusive siblings never co-fire", () => {
    for (let c = 0; c < world.nFeatures; c++) if (world.parent[c]! >= 0) expect(s.orphans(c, world.parent[c]!)).toBe(0);
    for (const [a, bb] of [[4, 5], [4, 6], [5, 6], [22, 23]]) expect(s.together(a!, bb!)).toBe(0);
    // Non-exclusive siblings do co-fire (so the zero above is not an artefact of rarity).
    expect(s.together(7, 8)).toBeGreaterThan(0);
  });

  it("co-occurrence rules give P(B | A) = q", () => {
    for (const { given, feature, probability } of MECHANISMS.cooccurrence!) {
      expect(zScore(s.together(given, feature), s.count[given]!, probability), `${given} -> ${feature}`).toBeLessThan(4);
    }
  });

  it("magnitude means and stds match the truncated normal (times the parent's scale for children)", () => {
    const exp = expectedMagnitudes(world);
    for (let i = 0; i < world.nFeatures; i++) {
      const k = s.count[i]!;
      const mean = s.sum[i]! / k;
      const sd = Math.sqrt(s.sumSq[i]! / k - mean * mean);
      expect(Math.abs(mean - exp[i]!.mean) / (exp[i]!.std / Math.sqrt(k)), `mean of ${i}`).toBeLessThan(4);
      expect(Math.abs(sd - exp[i]!.std), `std of ${i}`).toBeLessThan((6 * exp[i]!.std) / Math.sqrt(2 * k) + 1e-4);
    }
  });

  it("rows are valid CSR and acts = bias + features @ directions", () => {
    const small = world.sampler(3).next(500);
    const f = small.features;
    const d = world.dModel;
    expect(f.rowPtr[0]).toBe(0);
    expect(f.rowPtr[500]).toBe(f.nnz);
    for (let r = 0; r < 500; r++) {
      const want = Float64Array.from(world.bias);
      for (let e = f.rowPtr[r]!; e < f.rowPtr[r + 1]!; e++) {
        if (e > f.rowPtr[r]!) expect(f.colIdx[e]!).toBeGreaterThan(f.colIdx[e - 1]!);
        expect(f.values[e]!).toBeGreaterThan(0);
        for (let k = 0; k < d; k++) want[k]! += f.values[e]! * world.featureVectors[f.colIdx[e]! * d + k]!;
      }
      for (let k = 0; k < d; k++) expect(small.acts[r * d + k]!).toBeCloseTo(want[k]!, 5);
    }
  });

  it("without compensation the reported marginals are still exact (hierarchy, exclusion and relu losses)", () => {
    const raw = createWorld({ ...MECHANISMS, compensateProbabilities: false });
    expect(raw.firingProbability[5]!).toBeLessThan(raw.targetProbability[5]! * 0.5);
    const rs = batchStats(raw.sampler(2).next(N));
    for (let i = 0; i < raw.nFeatures; i++) expect(zScore(rs.count[i]!, N, raw.firingProbability[i]!), `feature ${i}`).toBeLessThan(4);
  });
});

describe("toy world sampler: determinism", () => {
  const world = createWorld(MECHANISMS);

  it("the same seed gives the same batches, whatever the batch sizes", () => {
    const whole = world.sampler(5).next(3000);
    const s = world.sampler(5);
    const parts = [s.next(300), s.next(1), s.next(2699)];
    expect(Array.from(whole.acts)).toEqual(parts.flatMap((p) => Array.from(p.acts)));
    const cols = (bb: typeof whole) => Array.from(bb.features.colIdx.subarray(0, bb.features.nnz));
    expect(cols(whole)).toEqual(parts.flatMap(cols));
    expect(Array.from(world.sampler(5).next(3000).features.values.subarray(0, whole.features.nnz))).toEqual(Array.from(whole.features.values.subarray(0, whole.features.nnz)));
  });

  it("different seeds give different streams, and rebuilding the world changes nothing", () => {
    const a = world.sampler(1).next(200);
    const b = world.sampler(2).next(200);
    expect(Array.from(a.acts)).not.toEqual(Array.from(b.acts));
    const again = createWorld(MECHANISMS).sampler(1).next(200);
    expect(Array.from(again.acts)).toEqual(Array.from(a.acts));
  });
});

const FULL: WorldConfigInput = {
  nFeatures: 4,
  dModel: 8,
  firing: { kind: "list", probabilities: [0.3, 0.2, 0.25, 0.1] },
  correlation: {
    kind: "full",
    matrix: [
      [1, 0.8, -0.5, 0.3],
      [0.8, 1, -0.3, 0.2],
      [-0.5, -0.3, 1, 0],
      [0.3, 0.2, 0, 1],
    ],
  },
};

const FACTOR: WorldConfigInput = {
  nFeatures: 6,
  dModel: 4,
  seed: 3,
  firing: { kind: "list", probabilities: [0.4, 0.05, 0.2, 0.01, 0.3, 0.1] },
  correlation: {
    kind: "factor",
    factor: [[0.7, 0.3], [0.6, -0.4], [-0.5, 0.5], [0.8, 0.1], [0, 0.9], [0.2, 0.2]],
  },
};

/** Checks marginals and every pair's co-firing rate against the Gaussian copula's bivariate probabilities. */
function checkCopula(world: ToyWorld, b: ReturnType<ReturnType<ToyWorld["sampler"]>["next"]>): void {
  const s = batchStats(b);
  const n = world.nFeatures;
  const t = Array.from(world.firingProbability, (p) => upperQuantile(p));
  for (let i = 0; i < n; i++) {
    expect(zScore(s.count[i]!, s.n, world.firingProbability[i]!), `marginal ${i}`).toBeLessThan(4);
    for (let j = i + 1; j < n; j++) {
      const rho = latentCorrelation(world.copula!, i, j);
      const p11 = bivariateUpper(t[i]!, t[j]!, rho);
      expect(zScore(s.together(i, j), s.n, p11), `pair ${i},${j} (rho ${rho.toFixed(2)})`).toBeLessThan(4);
    }
  }
}

describe("toy world sampler: Gaussian copula", () => {
  it("a full correlation matrix gives the implied marginals and pairwise co-firing", () => {
    const w = createWorld(FULL);
    checkCopula(w, w.sampler(1).next(N));
  });

  it("a full correlation matrix through the native-kernel path (one GEMM per chunk) gives the same", () => {
    const w = createWorld(FULL, { kernels: { ...referenceKernels(), name: "reference-as-native" } });
    checkCopula(w, w.sampler(2).next(N));
  });

  it("an explicit low-rank factor gives the implied marginals and pairwise co-firing", () => {
    const w = createWorld(FACTOR);
    checkCopula(w, w.sampler(4).next(N));
  });

  it("the copula really correlates firing (indicator correlation far from 0 where rho is large)", () => {
    const w = createWorld(FULL);
    const s = batchStats(w.sampler(9).next(50_000));
    const p0 = s.count[0]! / s.n;
    const p1 = s.count[1]! / s.n;
    const corr = (s.together(0, 1) / s.n - p0 * p1) / Math.sqrt(p0 * (1 - p0) * p1 * (1 - p1));
    expect(corr).toBeGreaterThan(0.4);
  });

  it("the native-kernel path (one GEMM + sparsify) draws exactly what the JavaScript path draws", () => {
    const cfg: WorldConfigInput = { ...FACTOR, nFeatures: 40, firing: { kind: "zipf", exponent: 0.8, max: 0.4, min: 0.005 }, correlation: { kind: "low_rank", rank: 4, scale: 0.35 } };
    const js = createWorld(cfg).sampler(8).next(2500);
    // The reference kernels under another name take the native code path; their GEMM sums in the
    // same order as the JavaScript loop, so the scores, and hence every draw, are identical.
    const masquerade: Kernels = { ...referenceKernels(), name: "reference-as-native" };
    const nat = createWorld(cfg, { kernels: masquerade }).sampler(8).next(2500);
    expect(Array.from(nat.features.colIdx.subarray(0, nat.features.nnz))).toEqual(Array.from(js.features.colIdx.subarray(0, js.features.nnz)));
    expect(Array.from(nat.features.values.subarray(0, nat.features.nnz))).toEqual(Array.from(js.features.values.subarray(0, js.features.nnz)));
    for (let i = 0; i < js.acts.length; i++) expect(nat.acts[i]!).toBeCloseTo(js.acts[i]!, 5);
  });
});

describe("toy world sampler: a native GEMM that rounds differently", () => {
  it("draws the same distribution when its scores differ from the JavaScript ones in the last bits", () => {
    // A GEMM that accumulates in float32 (as SIMD kernels do) disagrees with the float64 JavaScript
    // scores by rounding; the sampler must still draw every pair exactly once.
    const ref = referenceKernels();
    const f32: Kernels = {
      ...ref,
      name: "float32-gemm",
      gemm(args) {
        const { a, b, out, m, n, k } = args;
        if (!args.transB) return ref.gemm(args);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let acc = 0;
            for (let q = k - 1; q >= 0; q--) acc = Math.fround(acc + Math.fround(a[i * k + q]! * b[j * k + q]!));
            out[i * n + j] = acc;
          }
        }
      },
    };
    const cfg: WorldConfigInput = { ...FACTOR, nFeatures: 60, firing: { kind: "zipf", exponent: 0.8, max: 0.4, min: 0.005 }, correlation: { kind: "low_rank", rank: 4, scale: 0.35 } };
    const w = createWorld(cfg, { kernels: f32 });
    const js = createWorld(cfg);
    const m = 60_000;
    const a = batchStats(w.sampler(1).next(m));
    const b = batchStats(js.sampler(2).next(m));
    for (let i = 0; i < 60; i++) {
      expect(zScore(a.count[i]!, m, w.firingProbability[i]!), `rate of ${i}`).toBeLessThan(4);
      expect(twoSampleZ(a.count[i]!, m, b.count[i]!, m), `rate of ${i} vs JS`).toBeLessThan(4.5);
    }
    for (const [i, j] of [[0, 1], [0, 5], [2, 9], [3, 4]]) expect(twoSampleZ(a.together(i!, j!), m, b.together(i!, j!), m), `pair ${i},${j}`).toBeLessThan(4.5);
  });
});

describe("toy world sampler: the fast sampler matches its naive twin (SAELens's dense recipe)", () => {
  const cases: [string, WorldConfigInput][] = [
    [
      "low-rank copula, hierarchy, scaling, rules",
      {
        nFeatures: 30,
        dModel: 16,
        seed: 3,
        firing: { kind: "zipf", exponent: 0.7, max: 0.5, min: 0.01 },
        magnitude: { mean: { kind: "linear", start: 2, end: 1 }, std: { kind: "constant", value: 0.6 } },
        hierarchy: { nodes: [{ feature: 0, children: [5, 6, 7], mutuallyExclusive: true }, { feature: 5, children: [10, 11] }, { feature: 1, children: [12, 13, 14] }], scaleChildrenByParent: true },
        correlation: { kind: "low_rank", rank: 3, scale: 0.4 },
        cooccurrence: [{ given: 2, feature: 3, probability: 0.7 }],
        compensateProbabilities: true,
      },
    ],
    ["full copula with a hierarchy", { ...FULL, nFeatures: 4, hierarchy: { nodes: [{ feature: 0, children: [1, 2], mutuallyExclusive: true }] } }],
  ];
  it.each(cases)("%s", (_name, cfg) => {
    const w = createWorld(cfg);
    const m = 100_000;
    const fast = batchStats(w.sampler(1).next(m));
    const slow = batchStats(naiveSampler(w.plan, 1).next(m));
    for (let i = 0; i < w.nFeatures; i++) {
      expect(twoSampleZ(fast.count[i]!, m, slow.count[i]!, m), `rate of ${i}`).toBeLessThan(4.5);
      const a = fast.sum[i]! / fast.count[i]!;
      const b2 = slow.sum[i]! / slow.count[i]!;
      const sd = Math.sqrt(Math.max(0, slow.sumSq[i]! / slow.count[i]! - b2 * b2));
      if (sd < 1e-6) expect(a, `magnitude of ${i}`).toBeCloseTo(b2, 5);
      else expect(Math.abs(a - b2) / (sd * Math.sqrt(1 / fast.count[i]! + 1 / slow.count[i]!)), `magnitude of ${i}`).toBeLessThan(4.5);
    }
    for (const [i, j] of [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]) {
      expect(twoSampleZ(fast.together(i!, j!), m, slow.together(i!, j!), m), `pair ${i},${j}`).toBeLessThan(4.5);
    }
  });
});
