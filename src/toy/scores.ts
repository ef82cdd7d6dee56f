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

/** Returns the exceed set computed in JavaScript (see the loop for the blocking). */
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
  // Two features by four samples per pass: six loads feed eight multiply-adds. The second
  // feature's entries wait in `later` so that the output stays feature-major.
  const laterS = new Int32Array(rows);
  const laterV = new Float32Array(rows);
  let later = 0;
  const keep = (b: number, v: number): void => {
    laterS[later] = b;
    laterV[later++] = v;
  };
  let ti = 0;
  for (; ti + 1 < nTop; ti += 2) {
    start[ti] = count;
    later = 0;
    const fo = ti * k;
    const go = fo + k;
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
      let c0 = 0;
      let c1 = 0;
      let c2 = 0;
      let c3 = 0;
      for (let q = 0; q < k; q++) {
        const w = f[fo + q]!;
        const x = f[go + q]!;
        const v0 = u[u0 + q]!;
        const v1 = u[u1 + q]!;
        const v2 = u[u2 + q]!;
        const v3 = u[u3 + q]!;
        a0 += w * v0;
        a1 += w * v1;
        a2 += w * v2;
        a3 += w * v3;
        c0 += x * v0;
        c1 += x * v1;
        c2 += x * v2;
        c3 += x * v3;
      }
      const s0 = Math.fround(a0);
      const s1 = Math.fround(a1);
      const s2 = Math.fround(a2);
      const s3 = Math.fround(a3);
      if (s0 > 0) push(b, s0);
      if (s1 > 0) push(b + 1, s1);
      if (s2 > 0) push(b + 2, s2);
      if (s3 > 0) push(b + 3, s3);
      const t0 = Math.fround(c0);
      const t1 = Math.fround(c1);
      const t2 = Math.fround(c2);
      const t3 = Math.fround(c3);
      if (t0 > 0) keep(b, t0);
      if (t1 > 0) keep(b + 1, t1);
      if (t2 > 0) keep(b + 2, t2);
      if (t3 > 0) keep(b + 3, t3);
    }
    for (; b < rows; b++) {
      const v = scoreJs(plan, u, b, ti);
      if (v > 0) push(b, v);
      const w = scoreJs(plan, u, b, ti + 1);
      if (w > 0) keep(b, w);
    }
    start[ti + 1] = count;
    for (let e = 0; e < later; e++) push(laterS[e]!, laterV[e]!);
  }
  if (ti < nTop) {
    start[ti] = count;
    for (let b = 0; b < rows; b++) {
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
