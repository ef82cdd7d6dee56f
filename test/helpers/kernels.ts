/** Shared helpers for the kernel conformance suites (test/kernels*.test.ts). */
import { expect } from "vitest";
import type { SparseRows } from "../../src/tensor/kernels.js";
import type { Rng } from "../../src/tensor/rng.js";

/** Returns n uniform draws in [lo, hi). */
export function rand(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  return rng.fillUniform(new Float32Array(n), lo, hi);
}

/** Returns n draws from {-q..q} / 4, so that ties are common. */
export function quantized(rng: Rng, n: number, q = 12): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.int(2 * q + 1) - q) / 4;
  return out;
}

/** Returns a random CSR [rows, cols] with about `density` of the entries set; rows listed in `empty` get none. */
export function randSparse(rng: Rng, rows: number, cols: number, density: number, empty: number[] = []): SparseRows {
  const rowPtr = new Int32Array(rows + 1);
  const idx: number[] = [];
  for (let r = 0; r < rows; r++) {
    if (!empty.includes(r)) for (let j = 0; j < cols; j++) if (rng.bernoulli(density)) idx.push(j);
    rowPtr[r + 1] = idx.length;
  }
  const nnz = idx.length;
  return { rows, cols, rowPtr, colIdx: Int32Array.from(idx), values: rand(rng, Math.max(nnz, 1)).subarray(0, Math.max(nnz, 1)), nnz };
}

/** Returns a copy of s with |values|. */
export function absSparse(s: SparseRows): SparseRows {
  return { ...s, values: s.values.map(Math.abs) };
}

/** Returns the [cols, rows] transpose of a row-major [rows, cols] matrix. */
export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = x[r * cols + c]!;
  return t;
}

/** Asserts |got - want| <= tol[i] element-wise, naming the first bad index. */
export function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, tol: ArrayLike<number> | number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const t = typeof tol === "number" ? tol : tol[i]!;
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= t)) expect.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]} (diff ${d} > tol ${t})`);
  }
}

/** Asserts two SparseRows hold the same matrix with identical layout. */
export function expectSameSparse(got: SparseRows, want: SparseRows, what: string): void {
  expect(got.rows, `${what}: rows`).toBe(want.rows);
  expect(got.cols, `${what}: cols`).toBe(want.cols);
  expect(got.nnz, `${what}: nnz`).toBe(want.nnz);
  expect(Array.from(got.rowPtr.subarray(0, got.rows + 1)), `${what}: rowPtr`).toEqual(Array.from(want.rowPtr.subarray(0, want.rows + 1)));
  expect(Array.from(got.colIdx.subarray(0, got.nnz)), `${what}: colIdx`).toEqual(Array.from(want.colIdx.subarray(0, want.nnz)));
  expect(Array.from(got.values.subarray(0, got.nnz)), `${what}: values`).toEqual(Array.from(want.values.subarray(0, want.nnz)));
}

/** Unit roundoff of float32; a float32 sum of k terms errs by at most about (k + 2) * U times the sum of |terms|. */
export const U = 2 ** -24;

/** Central finite difference of f at x[i]. */
export function finiteDiff(f: () => number, x: Float32Array, i: number, h: number): number {
  const x0 = x[i]!;
  x[i] = x0 + h;
  const up = f();
  x[i] = x0 - h;
  const down = f();
  x[i] = x0;
  return (up - down) / (Math.fround(x0 + h) - Math.fround(x0 - h));
}

/** Returns sum(g * y) in double precision. */
export function dot64(g: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i]! * y[i]!;
  return s;
}
