/**
 * The compute-kernel interface. Every backend (the native addon, the reference TypeScript) implements
 * it; the reference is the oracle that the conformance suite checks every other backend against.
 *
 * Conventions: matrices are row-major Float32Array; dimension names follow the callers (`rows` is
 * usually the batch, `cols` the SAE width `dSae`, `n` the model width `dIn`). Sparse matrices are CSR
 * (`SparseRows`). Kernels never allocate on the hot path except to grow a `SparseRows` whose capacity
 * is too small, which they do by replacing its arrays.
 */

/** A sparse [rows, cols] matrix in CSR form, reusable across calls (capacity >= nnz). */
export interface SparseRows {
  rows: number;
  cols: number;
  /** [rows + 1]: entries of row r are at [rowPtr[r], rowPtr[r+1]). */
  rowPtr: Int32Array;
  /** [capacity]: column index of each entry, ascending within a row. */
  colIdx: Int32Array;
  /** [capacity]: value of each entry. */
  values: Float32Array;
  /** Number of stored entries (= rowPtr[rows]). */
  nnz: number;
}

/** Returns an empty SparseRows with room for `capacity` entries. */
export function emptySparse(rows: number, cols: number, capacity = 0): SparseRows {
  return {
    rows,
    cols,
    rowPtr: new Int32Array(rows + 1),
    colIdx: new Int32Array(Math.max(capacity, 1)),
    values: new Float32Array(Math.max(capacity, 1)),
    nnz: 0,
  };
}

/** Makes sure `s` describes a [rows, cols] matrix with room for `capacity` entries, growing its arrays if needed. */
export function reserveSparse(s: SparseRows, rows: number, cols: number, capacity: number): void {
  if (s.rowPtr.length < rows + 1) s.rowPtr = new Int32Array(rows + 1);
  s.rows = rows;
  s.cols = cols;
  if (s.colIdx.length < capacity) {
    const cap = Math.max(capacity, Math.ceil(s.colIdx.length * 1.5));
    s.colIdx = new Int32Array(cap);
    s.values = new Float32Array(cap);
  }
}

export interface GemmArgs {
  /** [m, k], or [k, m] when transA. */
  a: Float32Array;
  /** [k, n], or [n, k] when transB. */
  b: Float32Array;
  /** [m, n]; overwritten as out = alpha * op(a) @ op(b) * colScale + bias + beta * out. Must not share memory with a or b. */
  out: Float32Array;
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  /** Defaults to 1. */
  alpha?: number;
  /** Defaults to 0 (out is not read). */
  beta?: number;
  /** [n], multiplies each output column of the product (before bias). */
  colScale?: Float32Array;
  /** [n], added to each output row. */
  bias?: Float32Array;
}

export interface AdamArgs {
  /** Parameters, updated in place. */
  params: Float32Array;
  grads: Float32Array;
  /** First-moment state, updated in place. */
  m: Float32Array;
  /** Second-moment state, updated in place. */
  v: Float32Array;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step count, for bias correction. */
  step: number;
}

/** The compute kernels every backend provides. */
export interface Kernels {
  /** "native" or "reference". */
  readonly name: string;
  /** Number of threads the backend uses. */
  readonly threads: number;

  /** Dense product out = alpha * op(a) @ op(b) (columns scaled by colScale) + bias + beta * out. */
  gemm(args: GemmArgs): void;

  /** ReLU sparsification: entries of pre [rows, cols] with pre > threshold[col] (0 when absent). */
  sparsifyAbove(pre: Float32Array, rows: number, cols: number, out: SparseRows, threshold?: Float32Array): SparseRows;
  /**
   * Per-row top-k of pre [rows, cols] among columns with mask[col] != 0 (all when absent), keeping
   * only positive values. Ties are broken towards the lower column index.
   */
  topkRows(pre: Float32Array, rows: number, cols: number, k: number, out: SparseRows, mask?: Uint8Array): SparseRows;
  /**
   * Batch top-k: the `total` largest entries of the whole pre [rows, cols], keeping only positive values.
   * Ties are broken towards the lower flat index.
   */
  topkBatch(pre: Float32Array, rows: number, cols: number, total: number, out: SparseRows): SparseRows;
  /** Entries of pre [rows, cols] with |pre - center[col]| < halfWidth (values are pre). */
  window(pre: Float32Array, rows: number, cols: number, center: Float32Array, halfWidth: number, out: SparseRows): SparseRows;

  /** Sparse times dense: out[r, :] (+)= sum over entries (r, j) of value * w[j, :]; w is [s.cols, n], out [s.rows, n]. */
  spmm(s: SparseRows, w: Float32Array, n: number, out: Float32Array, accumulate: boolean): void;
  /** Sampled dense-dense product: outValues[e] = a[r, :] . w[j, :] for each entry e = (r, j); a [s.rows, n], w [s.cols, n]. */
  sddmm(s: SparseRows, a: Float32Array, w: Float32Array, n: number, outValues: Float32Array): void;
  /** Transposed sparse times dense, latent-major: out[j, :] += sum over entries (r, j) of value * a[r, :]; out [s.cols, n]. */
  spmmT(s: SparseRows, a: Float32Array, n: number, out: Float32Array): void;
  /** Transposed sparse times dense, feature-major: out[:, j] += sum over entries (r, j) of value * a[r, :]; out [n, s.cols]. */
  spmmTCols(s: SparseRows, a: Float32Array, n: number, out: Float32Array): void;

  /** One Adam step (bias-corrected, as torch.optim.Adam) over all elements. */
  adam(args: AdamArgs): void;
}
