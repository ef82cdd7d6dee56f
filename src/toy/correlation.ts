/**
 * The Gaussian copula's correlation structures: validation of a full matrix (symmetric, unit
 * diagonal, positive semi-definite via a pivot-tolerant Cholesky) or of an explicit factor, and the
 * random low-rank factor of SAELens's generate_random_low_rank_correlation_matrix.
 */
import type { Rng } from "../tensor/rng.js";
import type { CorrelationConfig } from "./config.js";

type Issue = (path: (string | number)[], message: string) => void;

/** Full matrices are sampled densely (nFeatures^2 / 2 per sample), so they are limited to this size. */
export const MAX_FULL_CORRELATION = 4096;

/** A built copula: the lower-triangular Cholesky factor of a full matrix, or a low-rank factor plus diagonal. */
export type Copula =
  | { kind: "full"; n: number; /** [n, n] lower triangular, row-major. */ chol: Float64Array }
  | { kind: "lowRank"; n: number; rank: number; /** [n, rank] row-major. */ factor: Float32Array; /** [n]: 1 - |F_i|^2. */ diag: Float64Array };

/** Returns the lower Cholesky factor of a PSD matrix (zero columns for null directions), or the first failing pivot. */
export function choleskyPsd(a: ArrayLike<number>, n: number): { chol: Float64Array } | { row: number; pivot: number } {
  const l = new Float64Array(n * n);
  const tol = 1e-9 * Math.max(1, n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= l[j * n + k]! * l[j * n + k]!;
    if (d < -tol) return { row: j, pivot: d };
    if (d <= tol) {
      // A null direction: the rest of this column must vanish too, or the matrix is indefinite.
      for (let i = j + 1; i < n; i++) {
        let s = a[i * n + j]!;
        for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
        if (Math.abs(s) > 1e-6) return { row: j, pivot: d };
      }
      continue;
    }
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = s / ljj;
    }
  }
  return { chol: l };
}

/** Reports every problem with a correlation config, naming the field. */
export function checkCorrelation(c: CorrelationConfig, n: number, issue: Issue): void {
  if (c.kind === "full") {
    const m = c.matrix;
    if (n > MAX_FULL_CORRELATION) {
      issue(["correlation"], `a full ${n}x${n} matrix is too large to sample densely (limit ${MAX_FULL_CORRELATION}); use kind "low_rank" or "factor"`);
      return;
    }
    if (m.length !== n) {
      issue(["correlation", "matrix"], `has ${m.length} rows but nFeatures is ${n}`);
      return;
    }
    let shapeOk = true;
    m.forEach((row, i) => {
      if (row.length !== n) {
        issue(["correlation", "matrix", i], `has ${row.length} entries but nFeatures is ${n}`);
        shapeOk = false;
      }
    });
    if (!shapeOk) return;
    let valuesOk = true;
    for (let i = 0; i < n && valuesOk; i++) {
      if (Math.abs(m[i]![i]! - 1) > 1e-9) {
        issue(["correlation", "matrix", i, i], `diagonal entry is ${m[i]![i]}; a correlation matrix has 1 on the diagonal`);
        valuesOk = false;
      }
      for (let j = 0; j < n && valuesOk; j++) {
        const v = m[i]![j]!;
        if (Math.abs(v) > 1) {
          issue(["correlation", "matrix", i, j], `${v} is not a correlation (outside [-1, 1])`);
          valuesOk = false;
        } else if (j > i && Math.abs(v - m[j]![i]!) > 1e-9) {
          issue(["correlation", "matrix", i, j], `the matrix is not symmetric: [${i}][${j}] = ${v} but [${j}][${i}] = ${m[j]![i]}`);
          valuesOk = false;
        }
      }
    }
    if (!valuesOk) return;
    const r = choleskyPsd(m.flat(), n);
    if ("pivot" in r) issue(["correlation", "matrix"], `is not positive semi-definite (Cholesky fails at row ${r.row}, pivot ${r.pivot.toPrecision(4)}), so no Gaussian has these correlations`);
  } else if (c.kind === "low_rank") {
    // More factors than features adds nothing a rank-nFeatures factor cannot express, and the factor is [nFeatures, rank].
    if (c.rank > n) issue(["correlation", "rank"], `is ${c.rank} but can be at most nFeatures (${n})`);
  } else if (c.kind === "factor") {
    const f = c.factor;
    if (f.length !== n) {
      issue(["correlation", "factor"], `has ${f.length} rows but nFeatures is ${n}`);
      return;
    }
    const rank = f[0]?.length ?? 0;
    if (rank < 1) issue(["correlation", "factor", 0], "rows need at least one column (the rank)");
    f.forEach((row, i) => {
      if (row.length !== rank) {
        issue(["correlation", "factor", i], `has ${row.length} columns but row 0 has ${rank}`);
        return;
      }
      const sq = row.reduce((s, v) => s + v * v, 0);
      if (!(sq < 1)) issue(["correlation", "factor", i], `squared row norm is ${sq.toPrecision(4)}; it must be < 1 so the diagonal term 1 - |F_i|^2 stays positive`);
      const d = c.diag?.[i];
      if (d !== undefined && Math.abs(sq + d - 1) > 1e-6) {
        issue(["correlation", "diag", i], `|F_${i}|^2 + diag = ${(sq + d).toPrecision(6)}, not 1: the latent variances must be 1 for the copula to keep the firing probabilities`);
      }
    });
    if (c.diag && c.diag.length !== n) issue(["correlation", "diag"], `has ${c.diag.length} entries but nFeatures is ${n}`);
  }
}

/** Returns the copula for a validated correlation config (low_rank draws its factor from `rng`). */
export function buildCopula(c: CorrelationConfig, n: number, rng: Rng): Copula {
  if (c.kind === "full") {
    const r = choleskyPsd(c.matrix.flat(), n);
    if ("pivot" in r) throw new Error("correlation.matrix is not positive semi-definite");
    return { kind: "full", n, chol: r.chol };
  }
  let rank: number;
  let f: Float64Array;
  if (c.kind === "factor") {
    rank = c.factor[0]!.length;
    f = Float64Array.from(c.factor.flat());
  } else {
    rank = c.rank;
    f = new Float64Array(n * rank);
    for (let i = 0; i < f.length; i++) f[i] = rng.normal() * c.scale;
    // As SAELens: if some row has |F_i|^2 >= 1, scale the whole factor so the largest is 0.99.
    let maxSq = 0;
    for (let i = 0; i < n; i++) maxSq = Math.max(maxSq, rowSq(f, i, rank));
    if (maxSq >= 1) {
      const s = Math.sqrt(0.99 / maxSq);
      for (let i = 0; i < f.length; i++) f[i] = f[i]! * s;
    }
  }
  return lowRankCopula(Float32Array.from(f), n, rank);
}

/** Returns a low-rank copula from a float32 factor, with the diagonal that gives unit variances. */
export function lowRankCopula(factor: Float32Array, n: number, rank: number): Copula {
  const diag = new Float64Array(n);
  for (let i = 0; i < n; i++) diag[i] = 1 - rowSq(factor, i, rank);
  return { kind: "lowRank", n, rank, factor, diag };
}

function rowSq(f: ArrayLike<number>, i: number, rank: number): number {
  let s = 0;
  for (let k = 0; k < rank; k++) s += f[i * rank + k]! * f[i * rank + k]!;
  return s;
}

/** Returns the latent correlation between features i and j implied by a copula. */
export function latentCorrelation(c: Copula, i: number, j: number): number {
  if (i === j) return 1;
  if (c.kind === "full") {
    let s = 0;
    for (let k = 0; k <= Math.min(i, j); k++) s += c.chol[i * c.n + k]! * c.chol[j * c.n + k]!;
    return s;
  }
  let s = 0;
  for (let k = 0; k < c.rank; k++) s += c.factor[i * c.rank + k]! * c.factor[j * c.rank + k]!;
  return s;
}
