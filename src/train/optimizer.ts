/**
 * Adam over one SAE's flat parameter buffer, with the unit-norm decoder constraint inside the step
 * (dictionary_learning ConstrainedAdam): the radial part of each decoder row's gradient is removed,
 * Adam steps, and the rows are renormalised.
 */
import type { AdamArgs, Kernels, SparseRows } from "../tensor/kernels.js";
import type { Sae } from "../sae/model.js";
import type { ParamViews } from "../sae/params.js";
import { diagonalPattern } from "../sae/rows.js";

/** Adam state: first and second moments, same layout as the parameters. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
  /** Buffers of the unit-norm decoder constraint (made on first use). */
  rows?: { diag: SparseRows; dot: Float32Array; nn: Float32Array };
  /**
   * Mixed precision: the encoder weights' packed bf16 copy that Adam writes with its update (AdamArgs.bf16Copy)
   * for the next step's product; `valid` once written (made on first use, where the backend has one).
   */
  bf16?: { packed: Float32Array; valid: boolean };
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
export function optimizerStep(kernels: Kernels, sae: Sae, grads: ParamViews, state: AdamState, lr: number, step: number, s: AdamSettings, bf16 = false): number {
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
  const copy = bf16 ? bf16CopyOf(kernels, sae, state) : null;
  kernels.adam({ params: sae.params.buffer, grads: grads.buffer, m: state.m, v: state.v, lr, beta1: s.beta1, beta2: s.beta2, eps: s.eps, step, ...(copy ? { bf16Copy: copy } : {}) });
  if (copy) state.bf16!.valid = true;
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

/**
 * Returns where Adam writes the encoder weights' bf16 copy (making the buffer on first use), or null
 * where there is none: a backend whose bf16 products pack their own, or a tied SAE whose decoder rows
 * are renormalised after Adam (the copy would be stale; the product then packs the weights itself).
 */
function bf16CopyOf(kernels: Kernels, sae: Sae, state: AdamState): NonNullable<AdamArgs["bf16Copy"]> | null {
  const p = sae.params;
  const w = p.W_enc ?? p.W_dec;
  if (!p.W_enc && sae.config.normalizeDecoder) return null;
  const floats = kernels.bf16CopyFloats(sae.dIn, sae.dSae);
  if (floats === 0) return null;
  if (!state.bf16 || state.bf16.packed.length !== floats) state.bf16 = { packed: kernels.alloc(floats), valid: false };
  return { offset: (w.byteOffset - p.buffer.byteOffset) / 4, k: sae.dIn, n: sae.dSae, transB: !p.W_enc, out: state.bf16.packed };
}

/** Returns the packed bf16 encoder weights Adam wrote with the last update, for the next step's product (undefined when there are none). */
export function packedEncoder(state: AdamState): Float32Array | undefined {
  return state.bf16?.valid ? state.bf16.packed : undefined;
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
