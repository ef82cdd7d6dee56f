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

/**
 * Returns x rounded to bfloat16 (as float32 values): round to nearest even on the upper 16 bits,
 * subnormals to signed zero and NaN kept quiet, as the x86 vcvtneps2bf16 instruction does.
 */
export function bf16Round(x: Float32Array): Float32Array {
  const out = Float32Array.from(x);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < u.length; i++) {
    const v = u[i]!;
    if ((v & 0x7fffffff) > 0x7f800000) u[i] = (v | 0x00400000) & 0xffff0000;
    else if ((v & 0x7f800000) === 0) u[i] = v & 0x80000000;
    else u[i] = (v + 0x7fff + ((v >>> 16) & 1)) & 0xffff0000;
  }
  return out;
}

/** Throws when a kernel argument `what` has fewer than `need` elements (the backends' length check). */
export function checkLen(what: string, arr: { length: number }, need: number): void {
  if (arr.length < need) throw new Error(`${what}: length ${arr.length} is smaller than the required ${need}`);
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
  /** Mixed precision: op(a) and op(b) rounded to bfloat16 (see bf16Round), products summed in fp32. */
  bf16?: boolean;
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
  /**
   * Mixed precision: also write the bf16 copy of the encoder weights params[offset, offset + k n) (op(B) of
   * the encoder product: [k, n], or [n, k] when transB) into `out`, packed as the product reads it
   * (EncodeArgs.packedW); only where bf16CopyFloats(k, n) > 0, out that long and zeroed before first use.
   */
  bf16Copy?: { offset: number; k: number; n: number; transB: boolean; out: Float32Array };
}

/**
 * The nonlinearity `encode` applies: entries above a per-column threshold (0 when absent), each row's
 * top k, or the `total` largest entries of the whole batch. For the batch top-k, `guess` ([1]) may
 * hold a cut for the backend to try first and receive one for the next call; the result never
 * depends on it.
 */
export type EncodeSelect =
  | { kind: "above"; threshold?: Float32Array }
  | { kind: "topk"; k: number }
  | { kind: "topkBatch"; total: number; guess?: Float32Array };

/** What mixed precision keeps of its candidates once their values are exact (src/sae/bf16.ts): an encoder selection, or jumprelu's window. */
export type SettleRule = EncodeSelect | { kind: "window"; center: Float32Array; halfWidth: number };

export interface SettleArgs {
  /** Candidates [rows, cols] holding each entry's dot product: the values are replaced, then s is compacted in place (rowPtr from 0). */
  s: SparseRows;
  /** [cols], added to each value. */
  bias: Float32Array;
  /** [cols], multiplies each value before the bias (the product rounded to fp32), or absent. */
  gain?: Float32Array;
  /** What to keep of the new values, or null to keep every entry. */
  rule: SettleRule | null;
}

export interface ProposalNormsArgs {
  /** [rows, n]. */
  x: Float32Array;
  rows: number;
  n: number;
  /** [n], subtracted from every row of x, or absent. */
  center?: Float32Array;
  /** [n, cols] (latent j: column j), or [cols, n] when transW (latent j: row j). */
  w: Float32Array;
  cols: number;
  transW?: boolean;
  /** [cols]: receives each latent's squared weight norm. */
  normSq: Float32Array;
}

export interface EncodeArgs {
  /** [rows, n]. */
  x: Float32Array;
  rows: number;
  n: number;
  cols: number;
  /** [n], subtracted from every row of x (an SAE's b_dec), or absent. */
  center?: Float32Array;
  /** [rows, n]: receives x - center (or a copy of x). */
  xc: Float32Array;
  /** [n, cols], or [cols, n] when transW (a tied SAE's W_dec). */
  w: Float32Array;
  transW?: boolean;
  /** Mixed precision: xc and w rounded to bfloat16 for the product, sums in fp32 (xc itself stays fp32). */
  bf16?: boolean;
  /** With bf16: op(w) as adam's bf16Copy packed it after w's last update (the product then skips packing w); the same result. */
  packedW?: Float32Array;
  /** [cols], multiplies each column of the product (before bias). */
  colScale?: Float32Array;
  /** [cols]. */
  bias?: Float32Array;
  /** [rows, cols]: receives pre = xc @ op(w) * colScale + bias (see keepPre). */
  pre: Float32Array;
  /** With `select`, false lets a backend skip writing `pre` (its contents are then unspecified); default true. */
  keepPre?: boolean;
  select?: EncodeSelect;
  /** Receives the selected entries (required with `select`). */
  out?: SparseRows;
}

export interface DecodeLossArgs {
  /** Latents [rows, cols]. */
  s: SparseRows;
  /** [cols, n]. */
  w: Float32Array;
  n: number;
  /** [n], added to every reconstruction (an SAE's b_dec), or absent. */
  bias?: Float32Array;
  /** [rows, n]: the target. */
  x: Float32Array;
  scale: number;
  /** [rows, n]: receives scale * err, where err = bias + s @ w - x. */
  grad: Float32Array;
  /** [rows, n]: receives err when given. */
  err?: Float32Array;
  /** [n]: the column sums of grad are added to it when given. */
  biasGrad?: Float32Array;
  /** [nnz]: receives grad[r, :] . w[j, :] (+ valueGradBias[j]) for each entry (r, j) when given. */
  valueGrad?: Float32Array;
  /** [cols]: added to each entry's valueGrad (a penalty's per-latent gradient), when given. */
  valueGradBias?: Float32Array;
  /** [cols]: each latent's sum of s.values is added to it when given. */
  valueColSum?: Float32Array;
}

export interface SpmmTPairArgs {
  /** The pattern [rows, cols]; its own values are not used. */
  s: SparseRows;
  n: number;
  /** [nnz]: values of the first product, or absent (no first product). */
  valuesA?: Float32Array;
  /** [rows, n]. */
  a?: Float32Array;
  /** [cols, n]. */
  outA?: Float32Array;
  /** [nnz]: values of the second product. */
  valuesB: Float32Array;
  /** [rows, n]. */
  b: Float32Array;
  /** [cols, n] (latent-major, may be outA), or [n, cols] when bCols. */
  outB: Float32Array;
  bCols?: boolean;
  /** [cols]: each latent's sum of valuesB is added to it when given. */
  colSumB?: Float32Array;
  /** [cols]: set to 1 for latents with entries (others untouched) when given. */
  fired?: Uint8Array;
}

/** The compute kernels every backend provides. */
export interface Kernels {
  /** "native" or "reference". */
  readonly name: string;
  /** The native backend's instruction set ("avx512", "avx2" or "portable"); absent for the reference. */
  readonly isa?: string;
  /** Number of threads the backend uses. */
  readonly threads: number;
  /** How a `bf16` product runs: on AMX tiles ("amx"), on AVX512-BF16 dot-product instructions ("hardware") or rounded and summed with fp32 FMAs ("emulated"). */
  readonly bf16: "amx" | "hardware" | "emulated";
  /** Floats of the packed bf16 copy of a [k, n] encoder operand that adam can write for encode (AdamArgs.bf16Copy), or 0 where bf16 products pack their own (the reference, emulated bf16). */
  bf16CopyFloats(k: number, n: number): number;
  /** Returns a zeroed Float32Array of n elements laid out for the backend (64-byte aligned on the native one). */
  alloc(n: number): Float32Array;

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
  /** Sampled product with a feature-major w: outValues[e] = a[r, :] . w[:, j] for each entry e = (r, j); a [s.rows, n], w [n, s.cols] (an untied SAE's W_enc). */
  sddmmCols(s: SparseRows, a: Float32Array, w: Float32Array, n: number, outValues: Float32Array): void;
  /**
   * Mixed precision's settling of its candidates: each entry (r, j) of s gets the value
   * fp32(fp32(value * gain[j]) + bias[j]), then s keeps, in order, the entries `rule` picks from those
   * values: above: v > threshold[j] (or 0); topk: per row the k largest positive, ties to the earlier
   * entry; topkBatch: the `total` largest positive of all entries, ties to the earlier (row order);
   * window: |v - center[j]| < halfWidth in float64; null: every entry.
   */
  settle(args: SettleArgs): void;
  /**
   * The norms behind mixed precision's proposal bound (src/sae/bf16.ts proposalBias), in index order:
   * writes normSq[j] = sum of w_j^2 (float64 terms, the sum rounded to fp32 after each) and returns
   * the largest over rows of sum of (x - center)^2 (in float64).
   */
  proposalNorms(args: ProposalNormsArgs): number;
  /** Transposed sparse times dense, latent-major: out[j, :] += sum over entries (r, j) of value * a[r, :]; out [s.cols, n]. */
  spmmT(s: SparseRows, a: Float32Array, n: number, out: Float32Array): void;
  /** Transposed sparse times dense, feature-major: out[:, j] += sum over entries (r, j) of value * a[r, :]; out [n, s.cols]. */
  spmmTCols(s: SparseRows, a: Float32Array, n: number, out: Float32Array): void;

  /** One Adam step (bias-corrected, as torch.optim.Adam) over all elements. */
  adam(args: AdamArgs): void;

  /**
   * An SAE encoder's forward pass: xc = x - center; pre = xc @ op(w) * colScale + bias; then, with
   * `select`, out = sparsifyAbove(pre, threshold), topkRows(pre, k) or topkBatch(pre, total) (fused so
   * that a backend can select while pre is in cache).
   */
  encode(args: EncodeArgs): void;
  /**
   * The decoder side of a reconstruction loss: err = bias + s @ w - x; writes grad = scale * err (and
   * err when asked), adds grad's column sums to biasGrad, writes valueGrad = sddmm(s, grad, w) plus
   * valueGradBias by column, adds s's column sums to valueColSum; returns the sum of err^2.
   */
  decodeLoss(args: DecodeLossArgs): number;
  /**
   * Two transposed products over one pattern: outA += spmmT(s with valuesA, a); outB += spmmT (or
   * spmmTCols when bCols) of (s with valuesB, b); adds each latent's sum of valuesB to colSumB and
   * marks latents with entries in fired.
   */
  spmmTPair(args: SpmmTPairArgs): void;
}
