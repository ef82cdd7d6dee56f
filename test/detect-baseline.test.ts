/**
 * The detector's null baseline (src/detect/baseline.ts): the Gaussian control has the data's mean and
 * covariance (checked with plain loops), is a pure function of its seed, finds nothing where
 * absorption was planted (the real pair survives), and on an SAE with no structure (random weights,
 * Gaussian inputs) finds as many pairs as the real run: a false-discovery estimate near 1.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/errors.js";
import { Rng } from "../src/tensor/rng.js";
import { baselineCaveat, detectWithBaseline, gaussianSurrogate, type NullBaseline } from "../src/detect/baseline.js";
import { detectAbsorption } from "../src/detect/detect.js";
import { renderBaseline } from "../src/cli/detect.js";
import { kernels } from "./sae-fixtures.js";
import { handSae } from "./helpers/hand-sae.js";
import { absorbing, batches } from "./helpers/absorbing-hand.js";

/** Plain-loop mean and covariance of rows of width n. */
function moments(xs: Float32Array[], n: number): { mean: number[]; cov: number[][] } {
  const rows = xs.flatMap((x) => Array.from({ length: x.length / n }, (_, r) => Array.from(x.subarray(r * n, (r + 1) * n))));
  const mean = Array.from({ length: n }, (_, i) => rows.reduce((s, r) => s + r[i]!, 0) / rows.length);
  const cov = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => rows.reduce((s, r) => s + (r[i]! - mean[i]!) * (r[j]! - mean[j]!), 0) / (rows.length - 1)));
  return { mean, cov };
}

describe("gaussianSurrogate", () => {
  const n = 5;
  const rng = new Rng(3);
  // Correlated, non-Gaussian inputs with a non-zero mean: sparse positive features in a skewed basis.
  const data = [0, 1].map(() => {
    const x = new Float32Array(3000 * n);
    for (let r = 0; r < 3000; r++) {
      const a = rng.bernoulli(0.3) ? 1 + rng.uniform() : 0;
      const b = rng.bernoulli(0.2) ? 2 : 0;
      for (let i = 0; i < n; i++) x[r * n + i] = 0.5 + a * (i + 1) * 0.3 + (i % 2 === 0 ? b : -b * 0.5) + 0.1 * rng.normal();
    }
    return x;
  });

  it("has the inputs' mean and covariance, the inputs' batch shapes, and is a pure function of the seed", () => {
    const g = gaussianSurrogate(data, n, 11, kernels);
    expect(g.map((x) => x.length)).toEqual(data.map((x) => x.length));
    const want = moments(data, n);
    const got = moments(g, n);
    for (let i = 0; i < n; i++) {
      expect(Math.abs(got.mean[i]! - want.mean[i]!)).toBeLessThan(0.05 * Math.sqrt(want.cov[i]![i]!) + 0.02);
      for (let j = 0; j < n; j++) expect(Math.abs(got.cov[i]![j]! - want.cov[i]![j]!)).toBeLessThan(0.06 * Math.sqrt(want.cov[i]![i]! * want.cov[j]![j]!));
    }
    expect(gaussianSurrogate(data, n, 11, kernels)).toEqual(g);
    expect(gaussianSurrogate(data, n, 12, kernels)[0]![0]).not.toBe(g[0]![0]);
  });

  it("copes with a singular covariance (a constant coordinate stays at its value up to the ridge)", () => {
    const x = new Float32Array(200 * 3);
    for (let r = 0; r < 200; r++) {
      x[r * 3] = r % 7;
      x[r * 3 + 1] = 2;
      x[r * 3 + 2] = (r % 7) * 2;
    }
    const [g] = gaussianSurrogate([x], 3, 1, kernels);
    for (let r = 0; r < 200; r++) {
      expect(g![r * 3 + 1]).toBeCloseTo(2, 3);
      expect(g![r * 3 + 2]).toBeCloseTo(2 * g![r * 3]!, 2);
    }
  });
});

const planted = batches;

/** A random SAE (decoder rows overlapping in 8 dims, encoder = decoder + noise) and Gaussian inputs: no features, no absorption. */
function structureless(rows: number): { sae: ReturnType<typeof handSae>; batches: Float32Array[] } {
  const rng = new Rng(5);
  const dIn = 8;
  const unit = () => {
    const v = Array.from({ length: dIn }, () => rng.normal());
    const s = Math.hypot(...v);
    return v.map((x) => x / s);
  };
  const dec = Array.from({ length: 24 }, unit);
  const enc = dec.map((d) => d.map((x) => x + 0.3 * rng.normal()));
  const x = new Float32Array(rows * dIn);
  rng.fillNormal(x);
  return { sae: handSae({ encoder: enc, decoder: dec, b_enc: new Array<number>(24).fill(-1) }), batches: [x] };
}

describe("detectWithBaseline", () => {
  it("on planted absorption: the control finds nothing at minScore, the real pair survives with a low control score", () => {
    const { detection, baseline } = detectWithBaseline(absorbing, planted, {}, { repeats: 4, seed: 2 }, kernels);
    expect(detection).toEqual(detectAbsorption(absorbing, planted, {}, kernels));
    expect(detection.summary.confidentPairs).toBe(1);
    expect(baseline.confidentPairs).toBe(1);
    expect(baseline.expectedConfident).toBe(0);
    expect(baseline.fdr).toBe(0);
    expect(baseline.pairs).toHaveLength(1);
    expect(baseline.pairs[0]).toMatchObject({ parent: 0, absorber: 1, score: 1, reproduced: false });
    expect(baseline.pairs[0]!.nullScore ?? 0).toBeLessThan(0.1);
    expect(baseline.reproducedPairs).toBe(0);
    expect(baselineCaveat(baseline)).toBeNull();
  });

  it("on an SAE with no structure: the control finds as many pairs as the real run (false-discovery estimate near 1)", () => {
    const { sae, batches } = structureless(400);
    const { baseline } = detectWithBaseline(sae, batches, { minSamples: 5, minScore: 0.05 }, { repeats: 4 }, kernels);
    expect(baseline.confidentPairs).toBeGreaterThanOrEqual(5);
    expect(baseline.expectedConfident).toBeGreaterThanOrEqual(0.8 * baseline.confidentPairs);
    expect(baseline.fdr).toBeGreaterThanOrEqual(0.8);
    expect(baselineCaveat(baseline)).toMatch(/caveat: .* confident pairs by chance against \d+ here: estimated false-discovery rate (0\.[89]\d|1\.00) at score 0\.05/);
    // saelab detect prints the caveat under the per-cutoff table.
    expect(renderBaseline(baseline)).toContain(`\n${baselineCaveat(baseline)!}`);
  });

  it("reports every cutoff (the detector's minScore included) with counts that fall as the cutoff rises, and is a pure function of the seed", () => {
    const { sae, batches } = structureless(400);
    const run = (seed: number) => detectWithBaseline(sae, batches, { minSamples: 5, minScore: 0.12 }, { repeats: 2, seed, cutoffs: [0.3, 0.05] }, kernels).baseline;
    const b: NullBaseline = run(4);
    expect(b.cutoffs.map((c) => c.minScore)).toEqual([0.05, 0.12, 0.3]);
    for (let i = 1; i < b.cutoffs.length; i++) {
      expect(b.cutoffs[i]!.confident).toBeLessThanOrEqual(b.cutoffs[i - 1]!.confident);
      expect(b.cutoffs[i]!.expectedNull).toBeLessThanOrEqual(b.cutoffs[i - 1]!.expectedNull);
    }
    for (const c of b.cutoffs) expect(c.fdr).toBe(c.confident > 0 ? Math.min(1, c.expectedNull / c.confident) : null);
    expect(b.confidentPairs).toBe(b.cutoffs[1]!.confident);
    expect(Number.isInteger(b.expectedConfident * 2)).toBe(true);
    expect(run(4)).toEqual(b);
  });

  it("rejects unknown baseline options", () => {
    expect(() => detectWithBaseline(absorbing, planted, {}, { repeat: 2 } as never, kernels)).toThrow(ConfigError);
  });
});
