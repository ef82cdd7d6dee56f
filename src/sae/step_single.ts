/**
 * The backward pass of a single-level SAE (every architecture but Matryoshka, tied_gain aside) on
 * the fused kernels: one call decodes, takes the loss and the output and latent-value gradients
 * (decodeLoss), the architecture adds its terms, and one call adds both weight gradients, the
 * encoder-bias gradient and the fired latents (spmmTPair). Per step the JavaScript does O(1)
 * kernel calls besides the architecture's own terms.
 */
import type { SparseRows } from "../tensor/kernels.js";
import type { AnyArchConfig, ArchitectureDef, LevelSpec, StepCtx } from "./arch.js";
import { scratchF32, withValues } from "./arch.js";

/** Decoding, the level's loss and the full backward pass of a single-level SAE (after encoding and the nonlinearity). */
export function singleLevelBackward(ctx: StepCtx, def: ArchitectureDef<AnyArchConfig>, level: LevelSpec): void {
  const { kernels, sae, grads, ws, x, batch: B, losses, flops } = ctx;
  const n = sae.dIn;
  const p = sae.params;
  const lv = ws.levels[0]!;
  const s = lv.s;
  if (lv.grad.length < s.nnz) lv.grad = new Float32Array(s.colIdx.length);
  const G = ws.err[0]!;
  const residual = def.residualTerms ? scratchF32(ws, "residual", B * n) : undefined;
  const bias = def.valueGradBias?.(ctx);
  if (bias) ws.actSum.fill(0);
  const sq = kernels.decodeLoss({
    s, w: p.W_dec, n, bias: p.b_dec, x, scale: (2 * level.multiplier) / B, grad: G, biasGrad: grads.b_dec, valueGrad: lv.grad,
    ...(residual ? { err: residual } : {}), ...(bias ? { valueGradBias: bias, valueColSum: ws.actSum } : {}),
  });
  losses[level.lossName] = (level.multiplier * sq) / B;
  flops.sparse += 4 * s.nnz * n;
  flops.other += 5 * B * n;
  if (residual && def.residualTerms) {
    ctx.residual = residual;
    def.residualTerms(ctx);
    ctx.residual = null;
  }
  def.terms?.(ctx);
  ws.fired.fill(0);
  // Decoder gradient S^T G and the encoder's: S_g^T xc into W_enc's columns, or (tied) W_dec's rows.
  kernels.spmmTPair({
    s, n, valuesA: s.values, a: G, outA: grads.W_dec, valuesB: lv.grad, b: ws.xc,
    outB: grads.W_enc ?? grads.W_dec, bCols: grads.W_enc !== undefined, colSumB: grads.b_enc, fired: ws.fired,
  });
  flops.sparse += 4 * s.nnz * n;
  for (const ex of ctx.extras) encoderBackward(ctx, ex.s, ex.grad, "ex");
}

/**
 * Adds the gradients that flow from pre-activation gradients `g` (on pattern `s`) into W_enc (or
 * W_dec), b_enc and the gain; marks the latents of `s` in `fired` when given.
 */
export function encoderBackward(ctx: StepCtx, s: SparseRows, g: Float32Array, key: string, fired?: Uint8Array): void {
  const { kernels, sae, grads, ws, flops } = ctx;
  const n = sae.dIn;
  const p = sae.params;
  const nnz = s.nnz;
  const gb = grads.b_enc;
  const col = s.colIdx;
  if (fired) {
    for (let e = 0; e < nnz; e++) {
      const j = col[e]!;
      gb[j] = gb[j]! + g[e]!;
      fired[j] = 1;
    }
  } else {
    for (let e = 0; e < nnz; e++) {
      const j = col[e]!;
      gb[j] = gb[j]! + g[e]!;
    }
  }
  if (p.W_enc) {
    kernels.spmmTCols(withValues(ws, `${key}:enc`, s, g), ws.xc, n, grads.W_enc!);
    flops.sparse += 2 * nnz * n;
    return;
  }
  let vals = g;
  if (p.encoder_gain) {
    const gain = p.encoder_gain;
    const scaled = scratchF32(ws, `${key}:gainScaled`, s.colIdx.length);
    const z = scratchF32(ws, `${key}:gainZ`, s.colIdx.length);
    kernels.sddmm(s, ws.xc, p.W_dec, n, z);
    for (let e = 0; e < nnz; e++) {
      const j = s.colIdx[e]!;
      scaled[e] = g[e]! * gain[j]!;
      grads.encoder_gain![j] = grads.encoder_gain![j]! + g[e]! * z[e]!;
    }
    vals = scaled;
    flops.sparse += 2 * nnz * n;
  }
  kernels.spmmT(withValues(ws, `${key}:enc`, s, vals), ws.xc, n, grads.W_dec);
  flops.sparse += 2 * nnz * n;
}
