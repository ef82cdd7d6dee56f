/**
 * The dense part of copula sampling. Under a low-rank copula, every (sample, top-level feature)
 * score s = F_i . u_b must be compared with the feature's exceed threshold; with a native backend
 * this is one GEMM plus a sparsify, otherwise a fused JavaScript loop. Both return the exceed
 * entries bucketed by feature (ascending samples within a bucket). Under a full correlation matrix,
 * the latent Gaussians are z = L eps for the Cholesky factor L.
 */
import { emptySparse, type Kernels } from "../tensor/kernels.js";
import type { Rng } from "../tensor/rng.js";
import type { LowRankPlan } from "./plan.js";

/** Exceed entries bucketed by top-level feature, plus the dense scores when they were materialised. */
export interface ExceedSet {
  /** [nTop + 1]: bucket ti is [start[ti], start[ti+1]). */
  start: Int32Array;
  sample: Int32Array;
  /** The float32 score s of each entry. */
  value: Float32Array;
  /** [rows, nTop] scores (native path only; the JS path recomputes scores on demand). */
  scores?: Float32Array;
}

function bucket(nTop: number, tis: Int32Array, samples: Int32Array, values: Float32Array, count: number): ExceedSet {
  const start = new Int32Array(nTop + 1);
  for (let e = 0; e < count; e++) start[tis[e]! + 1]!++;
  for (let t = 0; t < nTop; t++) start[t + 1]! += start[t]!;
  const fill = start.slice(0, nTop);
  const sample = new Int32Array(count);
  const value = new Float32Array(count);
  for (let e = 0; e < count; e++) {
    const at = fill[tis[e]!]!++;
    sample[at] = samples[e]!;
    value[at] = values[e]!;
  }
  return { start, sample, value };
}

/** Returns the exceed set computed in JavaScript, scoring each pair as float32(sum_k F[ti,k] u[b,k]). */
export function exceedJs(plan: LowRankPlan, u: Float32Array, rows: number, nTop: number): ExceedSet {
  const { rank, topFactor, exceed } = plan;
  let cap = 1024;
  let tis = new Int32Array(cap);
  let samples = new Int32Array(cap);
  let values = new Float32Array(cap);
  let count = 0;
  const ub = new Float64Array(rank);
  for (let b = 0; b < rows; b++) {
    for (let k = 0; k < rank; k++) ub[k] = u[b * rank + k]!;
    for (let ti = 0, fo = 0; ti < nTop; ti++, fo += rank) {
      let acc = 0;
      for (let k = 0; k < rank; k++) acc += topFactor[fo + k]! * ub[k]!;
      const s = Math.fround(acc);
      if (s > exceed[ti]!) {
        if (count === cap) {
          cap *= 2;
          const t2 = new Int32Array(cap);
          t2.set(tis);
          tis = t2;
          const s2 = new Int32Array(cap);
          s2.set(samples);
          samples = s2;
          const v2 = new Float32Array(cap);
          v2.set(values);
          values = v2;
        }
        tis[count] = ti;
        samples[count] = b;
        values[count++] = s;
      }
    }
  }
  return bucket(nTop, tis, samples, values, count);
}

/** Returns the exceed set from one native GEMM (scores = U F_top^T) and a thresholded sparsify. */
export function exceedNative(kernels: Kernels, plan: LowRankPlan, u: Float32Array, rows: number, nTop: number): ExceedSet {
  const scores = new Float32Array(rows * nTop);
  kernels.gemm({ a: u, b: plan.topFactor, out: scores, m: rows, n: nTop, k: plan.rank, transB: true });
  const sp = kernels.sparsifyAbove(scores, rows, nTop, emptySparse(rows, nTop, 1024), plan.exceed);
  const tis = sp.colIdx.subarray(0, sp.nnz);
  const samples = new Int32Array(sp.nnz);
  for (let b = 0; b < rows; b++) for (let e = sp.rowPtr[b]!; e < sp.rowPtr[b + 1]!; e++) samples[e] = b;
  return { ...bucket(nTop, tis, samples, sp.values, sp.nnz), scores };
}

/** Returns the score of one pair with exactly the arithmetic of exceedJs. */
export function scoreJs(plan: LowRankPlan, u: Float32Array, b: number, ti: number): number {
  let acc = 0;
  const fo = ti * plan.rank;
  const uo = b * plan.rank;
  for (let k = 0; k < plan.rank; k++) acc += plan.topFactor[fo + k]! * u[uo + k]!;
  return Math.fround(acc);
}

/** Returns latent Gaussians z [rows, n] with correlation L L^T, drawing eps from `rng`. */
export function denseScores(chol: Float64Array, n: number, rng: Rng, rows: number, kernels?: Kernels): Float32Array {
  const eps = new Float32Array(rows * n);
  for (let i = 0; i < eps.length; i++) eps[i] = rng.normal();
  const z = new Float32Array(rows * n);
  if (kernels && kernels.name !== "reference") {
    kernels.gemm({ a: eps, b: Float32Array.from(chol), out: z, m: rows, n, k: n, transB: true });
    return z;
  }
  const e = new Float64Array(n);
  for (let b = 0; b < rows; b++) {
    for (let k = 0; k < n; k++) e[k] = eps[b * n + k]!;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      const o = i * n;
      for (let k = 0; k <= i; k++) acc += chol[o + k]! * e[k]!;
      z[b * n + i] = acc;
    }
  }
  return z;
}
