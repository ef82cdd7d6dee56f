/**
 * Adam over one SAE's flat parameter buffer, with the unit-norm decoder constraint inside the step
 * (dictionary_learning ConstrainedAdam): the radial part of each decoder row's gradient is removed,
 * Adam steps, and the rows are renormalised.
 */
import type { Kernels } from "../tensor/kernels.js";
import type { Sae } from "../sae/model.js";
import type { ParamViews } from "../sae/params.js";

/** Adam state: first and second moments, same layout as the parameters. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
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

/** Applies one (constrained) Adam step to `sae` with gradients `grads`; `step` is 1-based. Returns its flop count. */
export function optimizerStep(kernels: Kernels, sae: Sae, grads: ParamViews, state: AdamState, lr: number, step: number, s: AdamSettings): number {
  const { dIn: n, dSae: d } = sae;
  const W = sae.params.W_dec;
  const G = grads.W_dec;
  let flops = 12 * sae.layout.size;
  if (sae.config.normalizeDecoder) {
    for (let j = 0; j < d; j++) {
      const off = j * n;
      let nn = 0;
      let dot = 0;
      for (let i = 0; i < n; i++) {
        nn += W[off + i]! * W[off + i]!;
        dot += W[off + i]! * G[off + i]!;
      }
      if (nn > 0) {
        const c = dot / nn;
        for (let i = 0; i < n; i++) G[off + i] = G[off + i]! - c * W[off + i]!;
      }
    }
    flops += 6 * n * d;
  }
  kernels.adam({ params: sae.params.buffer, grads: grads.buffer, m: state.m, v: state.v, lr, beta1: s.beta1, beta2: s.beta2, eps: s.eps, step });
  if (sae.config.normalizeDecoder) {
    normalizeRows(W, d, n);
    flops += 3 * n * d;
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
