/**
 * Everything a sampler needs, precomputed once per world so that constructing a sampler is free:
 * attempt probabilities, magnitude parameters, the forest, ordered co-occurrence rules, and the
 * copula's thresholds and thinning parameters.
 */
import type { Kernels } from "../tensor/kernels.js";
import type { Copula } from "./correlation.js";
import type { ResolvedRule } from "./compensation.js";
import { normalSf, upperQuantile } from "./normal.js";

/** Precomputed low-rank copula data for the top-level (parentless) features. */
export interface LowRankPlan {
  rank: number;
  /** [n, rank] factor of every feature (children use it on demand). */
  factor: Float32Array;
  /** [n]: latent threshold t_i with P(z_i > t_i) = attempt_i. */
  threshold: Float64Array;
  /** [n]: 1 / sqrt(1 - |F_i|^2). */
  invSqrtDiag: Float64Array;
  /**
   * [nTop, rank + 1]: the factor rows of the top-level features followed by -cut_i, so that one
   * dense product with [u, 1] gives v = s - cut directly (feature-major, one row per feature).
   */
  topFactor: Float32Array;
  /**
   * [nTop]: cut_i, the shared-factor score s = F_i . u above which a top-level draw is handled
   * exactly (the "exceed" set, v > 0); float32-representable so every path computes the same v.
   * NEVER_EXCEED for features whose proposal rate is already exact.
   */
  cut: Float64Array;
  /** [nTop]: proposal rate Phi-bar(L_i) for draws with v <= 0 (accepted with Phi-bar(c)/rate). */
  proposal: Float64Array;
}

/** The sampler's view of a world. */
export interface SamplerPlan {
  nFeatures: number;
  dModel: number;
  /** [n, dModel] unit rows. */
  featureVectors: Float32Array;
  bias: Float32Array;
  attempt: Float64Array;
  mean: Float64Array;
  std: Float64Array;
  children: readonly (readonly number[])[];
  /** [n + 1]: the children of f are childIdx[childPtr[f] .. childPtr[f+1]) (CSR copy of `children`). */
  childPtr: Int32Array;
  childIdx: Int32Array;
  mutuallyExclusive: Uint8Array;
  scaleChildren: boolean;
  /** Features without a parent, ascending. */
  top: Int32Array;
  rules: readonly ResolvedRule[];
  copula: { kind: "none" } | { kind: "full"; chol: Float64Array; threshold: Float64Array } | ({ kind: "lowRank" } & LowRankPlan);
  kernels?: Kernels;
  /** Buffers reused from chunk to chunk (sampling is synchronous, so one set per world suffices). */
  scratch: { scores?: Float32Array; chol32?: Float32Array };
}

/** The cut of a feature that never enters the exceed set (finite, so dense products stay NaN-free). */
export const NEVER_EXCEED = 3e38;

/** Returns the low-rank plan: thresholds and, per top-level feature, the thinning split that minimises expected work. */
export function planLowRank(c: Extract<Copula, { kind: "lowRank" }>, attempt: Float64Array, top: Int32Array): LowRankPlan {
  const { n, rank, factor } = c;
  const threshold = new Float64Array(n);
  const invSqrtDiag = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    threshold[i] = upperQuantile(attempt[i]!);
    invSqrtDiag[i] = 1 / Math.sqrt(c.diag[i]!);
  }
  const nTop = top.length;
  const stride = rank + 1;
  const topFactor = new Float32Array(nTop * stride);
  const cut = new Float64Array(nTop);
  const proposal = new Float64Array(nTop);
  for (let ti = 0; ti < nTop; ti++) {
    const i = top[ti]!;
    topFactor.set(factor.subarray(i * rank, (i + 1) * rank), ti * stride);
    let sq = 0;
    for (let k = 0; k < rank; k++) sq += factor[i * rank + k]! * factor[i * rank + k]!;
    const sigma = Math.sqrt(sq);
    const t = threshold[i]!;
    const sqrtD = Math.sqrt(c.diag[i]!);
    if (!Number.isFinite(t) || sigma === 0) {
      // Always, never, or uncorrelated: the proposal is the exact rate and nothing is "exceed".
      cut[ti] = NEVER_EXCEED;
      topFactor[ti * stride + rank] = -NEVER_EXCEED;
      proposal[ti] = attempt[i]!;
      continue;
    }
    // Draw fires iff eta > c = (t - s) / sqrt(d). Split at c = L: s > t - L sqrt(d) goes to the exact
    // path (probability Phi-bar((t - L sqrt(d)) / sigma) per sample), the rest is thinned from rate
    // Phi-bar(L). Choose L to minimise the expected work per sample, counting a proposal (a
    // geometric gap and a recomputed score) as twice an exact entry (found by the dense pass anyway).
    const cost = (l: number) => 2 * normalSf(l) + normalSf((t - l * sqrtD) / sigma);
    let best = 0;
    let bestCost = Infinity;
    for (let l = -6; l <= 8; l += 0.25) {
      const v = cost(l);
      if (v < bestCost) [best, bestCost] = [l, v];
    }
    for (let l = best - 0.25; l <= best + 0.25; l += 0.01) {
      const v = cost(l);
      if (v < bestCost) [best, bestCost] = [l, v];
    }
    cut[ti] = Math.fround(t - best * sqrtD);
    topFactor[ti * stride + rank] = -cut[ti]!;
    // The proposal must bound Phi-bar(c) for every s <= cut, so it uses the rounded cut's L.
    proposal[ti] = normalSf((t - cut[ti]!) / sqrtD);
  }
  return { rank, factor, threshold, invSqrtDiag, topFactor, cut, proposal };
}
