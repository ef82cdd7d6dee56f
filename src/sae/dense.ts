/**
 * The dense fallback of the step, for when most latents fire (a standard or JumpReLU SAE at
 * initialisation fires about half of them): above `DENSE_ABOVE` active entries per [batch, dSae]
 * cell, the sparse products cost about as much as dense ones and run far slower than a GEMM, so
 * decoding and the three gradients go through `kernels.gemm` with the latents scattered into one
 * [batch, dSae] buffer. Below it (every trained SAE) the sparse path runs. Single-level SAEs only;
 * tied SAEs with a gain keep the sparse path (their gain gradient needs per-entry products). Narrow
 * SAEs (dIn below `DENSE_MIN_DIN`) always take the sparse path: the scatter and gather passes over
 * [batch, dSae] cost as much as a GEMM whose depth is dIn, and the fused sparse kernels win there
 * even at initialisation (measured at 64 x 512: 34 ms sparse against 49 ms dense per step on one core).
 */
import type { Kernels } from "../tensor/kernels.js";
import type { StepCtx } from "./arch.js";
import { scratchF32 } from "./arch.js";

/** Share of active [batch, dSae] entries above which the dense path is used with a fast GEMM. */
export const DENSE_ABOVE = 0.1;
/** Input width below which the dense path never pays (see above). */
export const DENSE_MIN_DIN = 256;

/**
 * Returns the density threshold for `kernels` at input width `dIn`: the reference backend's GEMM is
 * no faster per operation than its sparse products, and narrow SAEs lose more to the dense path's
 * passes than they gain, so there the dense path never pays.
 */
export function denseAboveFor(kernels: Kernels, dIn: number): number {
  return kernels.name === "reference" || dIn < DENSE_MIN_DIN ? Infinity : DENSE_ABOVE;
}

/** Returns the dense [batch, dSae] buffer of the workspace (allocated on first use). */
export function denseBuffer(ctx: StepCtx): Float32Array {
  return scratchF32(ctx.ws, "dense:BD", ctx.batch * ctx.sae.dSae);
}

/** Scatters the latents into `D` and adds their decoding S @ W_dec to `out` [batch, dIn]. */
export function denseDecode(ctx: StepCtx, D: Float32Array, out: Float32Array): void {
  const { kernels, sae, ws, batch: B, flops } = ctx;
  const { dIn, dSae } = sae;
  scatter(ws.acts.rowPtr, ws.acts.colIdx, ws.acts.values, B, dSae, D);
  kernels.gemm({ a: D, b: sae.params.W_dec, out, m: B, n: dIn, k: dSae, beta: 1 });
  flops.dense += 2 * B * dIn * dSae;
}

/**
 * With `D` holding the latents and `G` [batch, dIn] the output gradient: adds D^T G to the decoder
 * gradient, then overwrites D with G W_dec^T and gathers it into the level's per-entry gradient.
 */
export function denseOutputBackward(ctx: StepCtx, D: Float32Array, G: Float32Array): void {
  const { kernels, sae, grads, ws, batch: B, flops } = ctx;
  const { dIn, dSae } = sae;
  kernels.gemm({ a: D, b: G, out: grads.W_dec, m: dSae, n: dIn, k: B, transA: true, beta: 1 });
  kernels.gemm({ a: G, b: sae.params.W_dec, out: D, m: B, n: dSae, k: dIn, transB: true });
  const lv = ws.levels[0]!;
  const s = lv.s;
  if (lv.grad.length < s.nnz) lv.grad = new Float32Array(s.colIdx.length);
  for (let r = 0; r < B; r++) {
    const off = r * dSae;
    for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) lv.grad[e] = D[off + s.colIdx[e]!]!;
  }
  flops.dense += 4 * B * dIn * dSae;
}

/** Adds the encoder-side gradients (b_enc, W_enc or tied W_dec) of the level's per-entry gradient, through `D`; marks fired latents. */
export function denseEncoderBackward(ctx: StepCtx, D: Float32Array): void {
  const { kernels, sae, grads, ws, batch: B, flops } = ctx;
  const { dIn, dSae } = sae;
  const lv = ws.levels[0]!;
  const s = lv.s;
  scatter(s.rowPtr, s.colIdx, lv.grad, B, dSae, D);
  const gb = grads.b_enc;
  for (let e = 0; e < s.nnz; e++) {
    const j = s.colIdx[e]!;
    gb[j] = gb[j]! + lv.grad[e]!;
    ws.fired[j] = 1;
  }
  if (grads.W_enc) kernels.gemm({ a: ws.xc, b: D, out: grads.W_enc, m: dIn, n: dSae, k: B, transA: true, beta: 1 });
  else kernels.gemm({ a: D, b: ws.xc, out: grads.W_dec, m: dSae, n: dIn, k: B, transA: true, beta: 1 });
  flops.dense += 2 * B * dIn * dSae;
}

function scatter(rowPtr: Int32Array, colIdx: Int32Array, values: Float32Array, B: number, d: number, D: Float32Array): void {
  D.fill(0, 0, B * d);
  for (let r = 0; r < B; r++) {
    const off = r * d;
    for (let e = rowPtr[r]!; e < rowPtr[r + 1]!; e++) D[off + colIdx[e]!] = values[e]!;
  }
}
