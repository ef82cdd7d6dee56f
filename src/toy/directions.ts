/**
 * Feature directions and bias. Up to dModel features get exactly orthogonal unit directions
 * (Gram-Schmidt on Gaussian vectors); beyond that, random unit vectors, optionally pushed apart by
 * SAELens's orthogonalize_embeddings (Adam on the summed squared pairwise dot products plus a
 * unit-norm penalty), then renormalised. Superposition statistics are the mean and max |cos| over
 * distinct pairs.
 */
import type { Kernels } from "../tensor/kernels.js";
import { referenceKernels } from "../tensor/reference.js";
import type { Rng } from "../tensor/rng.js";

/** Progress callback for long constructions: `done` of `total` units of `stage`. */
export type Progress = (stage: string, done: number, total: number) => void;

/** Returns [n, d] unit rows: orthonormal when n <= d, otherwise random (and optionally optimised). */
export function featureDirections(
  n: number,
  d: number,
  rng: Rng,
  orthogonalize?: { steps: number; lr: number },
  kernels?: Kernels,
  onProgress?: Progress,
): Float32Array {
  const v = new Float64Array(n * d);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  if (n <= d) {
    // Modified Gram-Schmidt, applied twice so float64 rounding leaves |cos| near 1e-16.
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < i; j++) {
          let dot = 0;
          for (let k = 0; k < d; k++) dot += v[i * d + k]! * v[j * d + k]!;
          for (let k = 0; k < d; k++) v[i * d + k] = v[i * d + k]! - dot * v[j * d + k]!;
        }
        normaliseRow(v, i, d);
      }
    }
    return Float32Array.from(v);
  }
  for (let i = 0; i < n; i++) normaliseRow(v, i, d);
  const out = Float32Array.from(v);
  if (orthogonalize && orthogonalize.steps > 0) optimiseInterference(out, n, d, orthogonalize.steps, orthogonalize.lr, kernels ?? referenceKernels(), onProgress);
  return out;
}

function normaliseRow(v: Float64Array | Float32Array, i: number, d: number): void {
  let s = 0;
  for (let k = 0; k < d; k++) s += v[i * d + k]! * v[i * d + k]!;
  const inv = 1 / Math.max(Math.sqrt(s), 1e-8);
  for (let k = 0; k < d; k++) v[i * d + k] = v[i * d + k]! * inv;
}

/** Rows per chunk of the Gram matrix, so that a [chunk, n] block stays near 16 MB. */
function chunkRows(n: number): number {
  return Math.max(1, Math.min(n, Math.floor(4_000_000 / n)));
}

/**
 * Returns SAELens's orthogonalisation loss sum_{i != j} (e_i.e_j)^2 + n sum_i (|e_i|^2 - 1)^2 and,
 * when `grad` is given, writes its gradient 4 R E there (R = off-diagonal Gram, n (G_ii - 1) on the diagonal).
 */
export function interferenceLoss(e: Float32Array, n: number, d: number, kernels: Kernels, grad?: Float32Array): number {
  const rows = chunkRows(n);
  const g = new Float32Array(rows * n);
  let loss = 0;
  for (let i0 = 0; i0 < n; i0 += rows) {
    const m = Math.min(rows, n - i0);
    const block = e.subarray(i0 * d, (i0 + m) * d);
    const gm = g.subarray(0, m * n);
    kernels.gemm({ a: block, b: e, out: gm, m, n, k: d, transB: true });
    for (let r = 0; r < m; r++) {
      for (let j = 0; j < n; j++) {
        const v = gm[r * n + j]!;
        if (j === i0 + r) {
          loss += n * (v - 1) * (v - 1);
          gm[r * n + j] = 4 * n * (v - 1);
        } else {
          loss += v * v;
          gm[r * n + j] = 4 * v;
        }
      }
    }
    if (grad) kernels.gemm({ a: gm, b: e, out: grad.subarray(i0 * d, (i0 + m) * d), m, n: d, k: n });
  }
  return loss;
}

function optimiseInterference(e: Float32Array, n: number, d: number, steps: number, lr: number, kernels: Kernels, onProgress?: Progress): void {
  const grad = new Float32Array(n * d);
  const m = new Float32Array(n * d);
  const v = new Float32Array(n * d);
  for (let step = 1; step <= steps; step++) {
    interferenceLoss(e, n, d, kernels, grad);
    kernels.adam({ params: e, grads: grad, m, v, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, step });
    onProgress?.("orthogonalize", step, steps);
  }
  for (let i = 0; i < n; i++) normaliseRow(e, i, d);
}

/** Returns a random direction of the given norm ([d]; all zeros when the norm is 0). */
export function biasVector(d: number, norm: number, rng: Rng): Float32Array {
  const b = new Float64Array(d);
  for (let k = 0; k < d; k++) b[k] = rng.normal();
  if (norm === 0) return new Float32Array(d);
  let s = 0;
  for (let k = 0; k < d; k++) s += b[k]! * b[k]!;
  const scale = norm / Math.sqrt(s);
  return Float32Array.from(b, (x) => x * scale);
}

/** Mean and max |cos| between distinct feature directions. */
export interface SuperpositionStats {
  meanAbsCos: number;
  maxAbsCos: number;
  /** False when only `rowsUsed` rows (against all others) were examined to bound the cost. */
  exact: boolean;
  rowsUsed: number;
}

/**
 * Returns superposition statistics over all pairs when n^2 d / 2 multiply-adds fit `budget`
 * (default: 2e11 with a native backend, 1e9 otherwise), else over a seeded random subset of rows.
 */
export function superpositionStats(e: Float32Array, n: number, d: number, opts: { kernels?: Kernels; budget?: number; rng?: Rng } = {}): SuperpositionStats {
  const kernels = opts.kernels ?? referenceKernels();
  const budget = opts.budget ?? (kernels.name === "reference" ? 1e9 : 2e11);
  if (n < 2) return { meanAbsCos: 0, maxAbsCos: 0, exact: true, rowsUsed: n };
  let rowsList: number[];
  let exact = true;
  if ((n * n * d) / 2 <= budget || !opts.rng) {
    rowsList = Array.from({ length: n }, (_, i) => i);
  } else {
    exact = false;
    const want = Math.max(1, Math.min(n, Math.floor(budget / (n * d))));
    const idx = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < want; i++) {
      const j = i + opts.rng.int(n - i);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    rowsList = idx.slice(0, want).sort((a, b) => a - b);
  }
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += e[i * d + k]! * e[i * d + k]!;
    norms[i] = Math.sqrt(s) || 1;
  }
  const rows = chunkRows(n);
  const block = new Float32Array(rows * d);
  const g = new Float32Array(rows * n);
  let sum = 0;
  let count = 0;
  let max = 0;
  for (let c0 = 0; c0 < rowsList.length; c0 += rows) {
    const part = rowsList.slice(c0, c0 + rows);
    part.forEach((i, r) => block.set(e.subarray(i * d, (i + 1) * d), r * d));
    const m = part.length;
    kernels.gemm({ a: block.subarray(0, m * d), b: e, out: g.subarray(0, m * n), m, n, k: d, transB: true });
    part.forEach((i, r) => {
      // Exact mode counts each pair once (j > i); sampled mode uses every j != i.
      for (let j = exact ? i + 1 : 0; j < n; j++) {
        if (j === i) continue;
        const c = Math.abs(g[r * n + j]! / (norms[i]! * norms[j]!));
        sum += c;
        count++;
        if (c > max) max = c;
      }
    });
  }
  return { meanAbsCos: count > 0 ? sum / count : 0, maxAbsCos: max, exact, rowsUsed: rowsList.length };
}
