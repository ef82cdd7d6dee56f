/**
 * A null baseline for the absorption detector: how many confident pairs it finds by chance.
 *
 * The control is the same SAE on inputs drawn from the Gaussian with the real inputs' mean and
 * covariance (seeded; the same batch shapes). A Gaussian has no sparse features, so no feature
 * hierarchy and nothing to absorb, yet it keeps what the detector's artefacts feed on: the inputs'
 * scale, their correlations, the SAE's overlapping decoder rows and its encoder's carves. Every
 * confident pair on it is a false discovery; their number (averaged over `repeats` draws) is the
 * expected number of confident pairs by chance, and its ratio to the real count the false-discovery
 * estimate (capped at 1), per score cutoff. Each real confident pair also gets its score on the control.
 *
 * Two controls built by shuffling were tried first and rejected (docs/detect.md, "Null baseline"):
 * each latent's activations shuffled across the real inputs makes every score <= 0 by construction
 * (the parent's silence becomes independent of everything, which the score's baseline term cancels),
 * so it never finds anything; rebuilding the inputs from the shuffled codes through the decoder keeps
 * the absorbed decoder rows themselves, so it re-finds true absorption (estimated rate 1.0 on SAEs
 * whose measured rate is 0).
 */
import { z } from "zod";
import { parseConfig } from "../errors.js";
import type { Kernels } from "../tensor/kernels.js";
import { Rng } from "../tensor/rng.js";
import type { SaeModel } from "../sae/types.js";
import { detectFromLatents, encodeBatches, rankPairs, scoredPairs, type ActivationBatches } from "./detect.js";
import type { DecoderRows } from "./geometry.js";
import { DetectOptionsSchema, type Detection, type DetectOptions, type DetectOptionsInput } from "./schemas.js";
import type { DetectionStats } from "./stats.js";

/** Options of the null baseline (unknown keys are errors). */
export const BaselineOptionsSchema = z
  .object({
    seed: z.number().int().min(0).default(0).describe("Seed of the shuffles (the baseline is a pure function of it)."),
    repeats: z.number().int().min(1).max(32).default(1).describe("Independent shuffles averaged (each costs one more detector pass without encoding)."),
    cutoffs: z.array(z.number().min(0).max(1)).default([0.05, 0.1, 0.15, 0.2, 0.3, 0.5]).describe("Score cutoffs at which the false-discovery estimate is reported (the detector's minScore is always added)."),
  })
  .strict();
export type BaselineOptionsInput = z.input<typeof BaselineOptionsSchema>;

const rate = () => z.number().nullable();

/** The null baseline of one detection. */
export const NullBaselineSchema = z.object({
  control: z.literal("gaussian").describe("Inputs drawn from the Gaussian with the real inputs' mean and covariance, encoded by the same SAE."),
  seed: z.number().int().min(0),
  repeats: z.number().int().min(1),
  minScore: z.number(),
  confidentPairs: z.number().int().min(0).describe("Confident pairs in the real detection (before the maxPairs cut)."),
  expectedConfident: z.number().describe("Mean confident pairs in the control: the number expected by chance."),
  fdr: rate().describe("Estimated false-discovery rate at minScore: expectedConfident / confidentPairs, capped at 1 (null without real pairs)."),
  cutoffs: z.array(z.object({ minScore: z.number(), confident: z.number().int().min(0), expectedNull: z.number(), fdr: rate() })),
  pairs: z
    .array(z.object({ parent: z.number().int(), absorber: z.number().int(), score: z.number(), nullScore: z.number().nullable().describe("Mean score of the same ordered pair in the control (null: never a candidate there)."), reproduced: z.boolean().describe("Confident in at least half of the controls.") }))
    .describe("The real confident pairs with their scores in the control."),
  reproducedPairs: z.number().int().min(0).describe("Real confident pairs that the control also finds (geometry and firing rates alone produce them)."),
});
export type NullBaseline = z.infer<typeof NullBaselineSchema>;

/** Returns the lower Cholesky factor [m, m] of symmetric `a` with the smallest ridge (relative to its mean diagonal) that makes it positive definite. */
function choleskyWithRidge(a: Float64Array, m: number): Float64Array {
  let meanDiag = 0;
  for (let i = 0; i < m; i++) meanDiag += a[i * m + i]! / m;
  for (let ridge = 1e-9; ; ridge *= 10) {
    const L = new Float64Array(m * m);
    let ok = true;
    for (let i = 0; i < m && ok; i++) {
      for (let j = 0; j <= i; j++) {
        let s = a[i * m + j]! + (i === j ? ridge * Math.max(meanDiag, 1e-30) : 0);
        for (let k = 0; k < j; k++) s -= L[i * m + k]! * L[j * m + k]!;
        if (i === j) {
          if (!(s > 0)) ok = false;
          else L[i * m + i] = Math.sqrt(s);
        } else L[i * m + j] = s / L[j * m + j]!;
        if (!ok) break;
      }
    }
    if (ok) return L;
    if (ridge > 1) throw new Error("the activations' covariance is not finite");
  }
}

/** Returns inputs shaped like `batches` ([rows, dIn] each) drawn from the Gaussian with their mean and covariance. */
export function gaussianSurrogate(batches: ActivationBatches, dIn: number, seed: number, kernels: Kernels): Float32Array[] {
  const n = dIn;
  const mean = new Float64Array(n);
  let rows = 0;
  for (const x of batches) {
    for (let i = 0; i < x.length; i++) mean[i % n]! += x[i]!;
    rows += x.length / n;
  }
  if (rows < 2) throw new Error("the null baseline needs at least two activation rows");
  for (let i = 0; i < n; i++) mean[i]! /= rows;
  // Covariance through the kernels' gemm on centred float32 blocks, summed in float64.
  const cov = new Float64Array(n * n);
  const block = new Float32Array(n * n);
  for (const x of batches) {
    const m = x.length / n;
    const c = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) c[i] = x[i]! - mean[i % n]!;
    kernels.gemm({ a: c, b: c, out: block, m: n, n, k: m, transA: true });
    for (let i = 0; i < n * n; i++) cov[i]! += block[i]!;
  }
  for (let i = 0; i < n * n; i++) cov[i]! /= rows - 1;
  const L = Float32Array.from(choleskyWithRidge(cov, n));
  const rng = new Rng(seed);
  return batches.map((x, b) => {
    const m = x.length / n;
    const z = rng.fork(b).fillNormal(new Float32Array(x.length));
    const out = new Float32Array(x.length);
    kernels.gemm({ a: z, b: L, out, m, n, k: n, transB: true });
    for (let i = 0; i < out.length; i++) out[i]! += mean[i % n]!;
    return out;
  });
}

interface Scored {
  stats: DetectionStats;
  rows: DecoderRows;
}

const confidentAt = (s: Scored, enc: Float32Array, o: DetectOptions, minScore: number) => rankPairs(s.stats, s.rows, enc, { ...o, minScore }).filter((p) => p.confident).length;
const fdrOf = (expected: number, real: number) => (real > 0 ? Math.min(1, expected / real) : null);

/** Returns the detection of `sae` on `batches` and its null baseline over `repeats` seeded Gaussian controls. */
export function detectWithBaseline(
  sae: SaeModel,
  batches: ActivationBatches,
  options: DetectOptionsInput = {},
  baselineOptions: BaselineOptionsInput = {},
  kernels: Kernels,
  onProgress?: (phase: "detect" | "baseline", done: number, total: number) => void,
): { detection: Detection; baseline: NullBaseline } {
  const o = parseConfig(DetectOptionsSchema, options, "detection options");
  const b = parseConfig(BaselineOptionsSchema, baselineOptions, "baseline options");
  const latents = encodeBatches(sae, batches);
  const real = detectFromLatents(sae, batches, latents, o, kernels, (d, t) => onProgress?.("detect", d, t));
  const enc = sae.encoderWeights();
  const cutoffs = [...new Set([...b.cutoffs, o.minScore])].sort((x, y) => x - y);
  const nullCounts = new Array<number>(cutoffs.length).fill(0);
  const realConfident = real.detection.pairs.filter((p) => p.confident);
  const nullScores = realConfident.map(() => ({ sum: 0, seen: 0, confident: 0 }));
  const key = (p: number, a: number) => p * sae.dSae + a;
  for (let r = 0; r < b.repeats; r++) {
    const control = gaussianSurrogate(batches, sae.dIn, new Rng(b.seed).fork(`repeat ${r}`).seed, kernels);
    const rowsDone = r * 2 * batches.reduce((s, x) => s + x.length / sae.dIn, 0);
    const nul = detectFromLatents(sae, control, encodeBatches(sae, control), o, kernels, (d, t) => onProgress?.("baseline", rowsDone + d, t * b.repeats));
    cutoffs.forEach((c, i) => (nullCounts[i]! += confidentAt(nul, enc, o, c)));
    // Both orientations of every candidate pair, judged at the detector's minScore.
    const byKey = new Map(scoredPairs(nul.stats, nul.rows, enc, o).map((p) => [key(p.parent, p.absorber), p]));
    realConfident.forEach((p, i) => {
      const q = byKey.get(key(p.parent, p.absorber));
      if (!q) return;
      nullScores[i]!.sum += q.score;
      nullScores[i]!.seen += 1;
      if (q.confident) nullScores[i]!.confident += 1;
    });
  }
  const rows = cutoffs.map((c, i) => {
    const confident = confidentAt(real, enc, o, c);
    const expectedNull = nullCounts[i]! / b.repeats;
    return { minScore: c, confident, expectedNull, fdr: fdrOf(expectedNull, confident) };
  });
  const at = rows.find((row) => row.minScore === o.minScore)!;
  const pairs = realConfident.map((p, i) => {
    const s = nullScores[i]!;
    return { parent: p.parent, absorber: p.absorber, score: p.score, nullScore: s.seen > 0 ? s.sum / s.seen : null, reproduced: s.confident * 2 >= b.repeats && s.confident > 0 };
  });
  const baseline: NullBaseline = {
    control: "gaussian",
    seed: b.seed,
    repeats: b.repeats,
    minScore: o.minScore,
    confidentPairs: at.confident,
    expectedConfident: at.expectedNull,
    fdr: at.fdr,
    cutoffs: rows,
    pairs,
    reproducedPairs: pairs.filter((p) => p.reproduced).length,
  };
  return { detection: real.detection, baseline: NullBaselineSchema.parse(baseline) };
}

/** Returns a plain caveat when the baseline is not small (estimated false-discovery rate >= 0.1), else null. */
export function baselineCaveat(b: NullBaseline): string | null {
  if (b.fdr === null || b.fdr < 0.1) return null;
  return (
    `caveat: a Gaussian control with the inputs' mean and covariance (no sparse features, so nothing to absorb) ` +
    `gets ${b.expectedConfident.toFixed(1)} confident pairs by chance against ${b.confidentPairs} here: estimated false-discovery rate ${b.fdr.toFixed(2)} at score ${b.minScore}. ` +
    `${b.reproducedPairs} of the ${b.pairs.length} confident pairs are confident in the control too; treat the pairs as hypotheses to check, not findings.`
  );
}
