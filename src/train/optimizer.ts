/**
 * Adam over one SAE's flat parameter buffer, with the unit-norm decoder constraint inside the step
 * (dictionary_learning ConstrainedAdam): the radial part of each decoder row's gradient is removed,
 * Adam steps, and the rows are renormalised.
 */
import type { Kernels, SparseRows } from "../tensor/kernels.js";
import type { Sae } from "../sae/model.js";
import type { ParamViews } from "../sae/params.js";
import { diagonalPattern } from "../sae/rows.js";

/** Adam state: first and second moments, same layout as the parameters. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  /** Buffers of the unit-norm decoder constraint (made on first use). */
  rows?: { diag: SparseRows; dot: Float32Array; nn: Float32Array };
}

/** Optimizer settings. */
export interface AdamSettings {
  beta1: number;
  beta2: number;
  eps: number;
}

/** Returns zeroed Adam moments for `sae`. */
export function adamState(sae: Sae): AdamState {
  return { m: new Float32Array(sae.layout.size), v: new Float32Array(sae.layout.size) };
}

/**
 * Applies one (constrained) Adam step to `sae` with gradients `grads`; `step` is 1-based. Returns its
 * flop count. With the unit-norm constraint, grads.W_dec serves as scratch after the update (its
 * contents are then unspecified). The per-row passes run as kernels over a diagonal pattern.
 */
export function optimizerStep(kernels: Kernels, sae: Sae, grads: ParamViews, state: AdamState, lr: number, step: number, s: AdamSettings): number {
  const { dIn, dSae } = sae;
  const W = sae.params.W_dec;
  const G = grads.W_dec;
  let flops = 12 * sae.layout.size;
  let R = state.rows;
  if (sae.config.normalizeDecoder) {
    if (!R || R.nn.length !== dSae) R = state.rows = { diag: diagonalPattern(dSae), dot: new Float32Array(dSae), nn: new Float32Array(dSae) };
    // Remove each row gradient's radial part: G[j] -= (W[j] . G[j] / W[j] . W[j]) W[j].
    kernels.sddmm(R.diag, W, W, dIn, R.nn);
    kernels.sddmm(R.diag, W, G, dIn, R.dot);
    for (let j = 0; j < dSae; j++) R.diag.values[j] = R.nn[j]! > 0 ? -R.dot[j]! / R.nn[j]! : 0;
    kernels.spmm(R.diag, W, dIn, G, true);
    flops += 6 * dIn * dSae;
  }
  kernels.adam({ params: sae.params.buffer, grads: grads.buffer, m: state.m, v: state.v, lr, beta1: s.beta1, beta2: s.beta2, eps: s.eps, step });
  if (sae.config.normalizeDecoder && R) {
    // Renormalise the rows (zero rows stay zero), through G, which is no longer needed.
    kernels.sddmm(R.diag, W, W, dIn, R.nn);
    for (let j = 0; j < dSae; j++) R.diag.values[j] = R.nn[j]! > 0 ? 1 / Math.sqrt(R.nn[j]!) : 1;
    kernels.spmm(R.diag, W, dIn, G, false);
    W.set(G);
    flops += 3 * dIn * dSae;
  }
  return flops;
}

/** Scales each row of a [rows, cols] matrix to unit norm (zero rows stay zero). */
export function normalizeRows(w: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    let sq = 0;
    for (let c = 0; c < cols; c++) sq += w[off + c]! * w[off + c]!;
    if (sq === 0) continue;
    const inv = 1 / Math.sqrt(sq);
    for (let c = 0; c < cols; c++) w[off + c] = w[off + c]! * inv;
  }
}
