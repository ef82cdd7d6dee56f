/**
 * The dense part of copula sampling. Under a low-rank copula every (top-level feature, sample) pair
 * has a score v = F_i . u_b - cut_i, computed as one product of the augmented factor [F, -cut] with
 * [u, 1]; pairs with v > 0 form the exceed set. With a native backend that is one GEMM plus a
 * sparsify, otherwise a JavaScript loop; both sum the rank + 1 terms in the same order in float64
 * and round to float32, so the two paths find the same set and the same scores. Everything is
 * feature-major: one row per top-level feature, samples ascending within it. Under a full
 * correlation matrix the latent Gaussians are z = L eps for the Cholesky factor L.
 */
import { emptySparse, type Kernels } from "../tensor/kernels.js";
import type { Rng } from "../tensor/rng.js";
import type { LowRankPlan } from "./plan.js";

/** Exceed entries grouped by top-level feature, plus the dense scores when they were materialised. */
export interface ExceedSet {
  /** [nTop + 1]: the entries of feature ti are [start[ti], start[ti+1]). */
  start: Int32Array;
  sample: Int32Array;
  /** v = s - cut (> 0) of each entry. */
  value: Float32Array;
  /** [nTop, rows] all scores v (native path only; the JS path recomputes a score when needed). */
  scores?: Float32Array;
}

/** Returns the exceed set computed in JavaScript (four samples per pass over a factor row). */
export function exceedJs(plan: LowRankPlan, u: Float32Array, rows: number, nTop: number): ExceedSet {
  const k = plan.rank + 1;
  const f = plan.topFactor;
  const start = new Int32Array(nTop + 1);
  let cap = 1024;
  let sample = new Int32Array(cap);
  let value = new Float32Array(cap);
  let count = 0;
  const push = (b: number, v: number): void => {
    if (count === cap) {
      cap *= 2;
      const s2 = new Int32Array(cap);
      s2.set(sample);
      sample = s2;
      const v2 = new Float32Array(cap);
      v2.set(value);
      value = v2;
    }
    sample[count] = b;
    value[count++] = v;
  };
  for (let ti = 0; ti < nTop; ti++) {
    start[ti] = count;
    const fo = ti * k;
    let b = 0;
    for (; b + 3 < rows; b += 4) {
      const u0 = b * k;
      const u1 = u0 + k;
      const u2 = u1 + k;
      const u3 = u2 + k;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let q = 0; q < k; q++) {
        const w = f[fo + q]!;
        a0 += w * u[u0 + q]!;
        a1 += w * u[u1 + q]!;
        a2 += w * u[u2 + q]!;
        a3 += w * u[u3 + q]!;
      }
      const v0 = Math.fround(a0);
      const v1 = Math.fround(a1);
      const v2 = Math.fround(a2);
      const v3 = Math.fround(a3);
      if (v0 > 0) push(b, v0);
      if (v1 > 0) push(b + 1, v1);
      if (v2 > 0) push(b + 2, v2);
      if (v3 > 0) push(b + 3, v3);
    }
    for (; b < rows; b++) {
      const v = scoreJs(plan, u, b, ti);
      if (v > 0) push(b, v);
    }
  }
  start[nTop] = count;
  return { start, sample: sample.subarray(0, count), value: value.subarray(0, count) };
}

/** Returns the exceed set from one native GEMM ([F, -cut] times [u, 1]^T) and a sparsify above 0. */
export function exceedNative(kernels: Kernels, plan: LowRankPlan, u: Float32Array, rows: number, nTop: number, scratch: { scores?: Float32Array }): ExceedSet {
  const k = plan.rank + 1;
  if (!scratch.scores || scratch.scores.length < nTop * rows) scratch.scores = new Float32Array(nTop * rows);
  const scores = scratch.scores.subarray(0, nTop * rows);
  kernels.gemm({ a: plan.topFactor, b: u, out: scores, m: nTop, n: rows, k, transB: true });
  const sp = kernels.sparsifyAbove(scores, nTop, rows, emptySparse(nTop, rows, 4 * nTop));
  return { start: sp.rowPtr.subarray(0, nTop + 1), sample: sp.colIdx.subarray(0, sp.nnz), value: sp.values.subarray(0, sp.nnz), scores };
}

/** Returns the score v of one pair with exactly the arithmetic of exceedJs. */
export function scoreJs(plan: LowRankPlan, u: Float32Array, b: number, ti: number): number {
  const k = plan.rank + 1;
  let acc = 0;
  const fo = ti * k;
  const uo = b * k;
  for (let q = 0; q < k; q++) acc += plan.topFactor[fo + q]! * u[uo + q]!;
  return Math.fround(acc);
}

/** Returns latent Gaussians z [rows, n] with correlation L L^T, drawing eps from `rng`. */
export function denseScores(chol: Float64Array, n: number, rng: Rng, rows: number, kernels: Kernels | undefined, scratch: { chol32?: Float32Array }): Float32Array {
  const eps = new Float32Array(rows * n);
  for (let i = 0; i < eps.length; i++) eps[i] = rng.normal();
  const z = new Float32Array(rows * n);
  if (kernels && kernels.name !== "reference") {
    scratch.chol32 ??= Float32Array.from(chol);
    kernels.gemm({ a: eps, b: scratch.chol32, out: z, m: rows, n, k: n, transB: true });
    return z;
  }
  const e = new Float64Array(n);
  for (let b = 0; b < rows; b++) {
    for (let q = 0; q < n; q++) e[q] = eps[b * n + q]!;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      const o = i * n;
      for (let q = 0; q <= i; q++) acc += chol[o + q]! * e[q]!;
      z[b * n + i] = acc;
    }
  }
  return z;
}
