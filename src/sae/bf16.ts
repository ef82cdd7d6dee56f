/**
 * Mixed precision's selection (TrainConfig precision "bf16"). The dense encoder product in bf16 only
 * chooses the candidates; the values of the latents that fire, which feed decoding, the loss and the
 * gradients, are their pre-activations recomputed in fp32 from xc and the encoder weights (a sampled
 * product over the candidates' pattern: sddmmCols on W_enc [dIn, dSae], sddmm on a tied W_dec), and
 * the choice is settled on those exact values:
 * - above a threshold (standard's ReLU, jumprelu): a candidate whose exact value is not above it is dropped;
 * - top k per row: the bf16 product proposes k + topkMargin(k), the exact values keep the k largest;
 * - batch top k: total + batchMargin(total) candidates, the exact values keep the total largest;
 *   for both, the proposal's bias is raised by the product's error bound (proposalBias), so that a
 *   latent bf16 rounds to zero or below is still proposed where fewer than k are positive.
 * Ties and positivity follow the kernels (src/tensor/kernels.ts): ties to the lower column (flat
 * index for the batch), only positive values kept. What bf16 can still change is which candidates are
 * proposed: a latent above its ReLU or JumpReLU threshold by less than the product's rounding error,
 * or one that bf16 ranks outside the top-k margin, is missed. This runs in TypeScript on the candidates only, the same
 * for every backend, so the reference backend's emulated product gives the same semantics.
 */
import type { EncodeSelect, SparseRows } from "../tensor/kernels.js";
import type { StepCtx } from "./arch.js";
import { scratchF32 } from "./arch.js";

/** Candidates the bf16 product proposes per row for a top-k of k (the exact values then keep k). */
export function topkMargin(k: number): number {
  return k;
}

/** Candidates beyond `total` the bf16 product proposes for a batch top-k (a quarter more). */
export function batchMargin(total: number): number {
  return Math.ceil(total / 4);
}

/** Returns the selection the bf16 product makes: `select` widened to its candidates (at most `cols` per row). */
export function candidateSelect(select: EncodeSelect, cols: number): EncodeSelect {
  if (select.kind === "topk") return { kind: "topk", k: Math.min(cols, select.k + topkMargin(select.k)) };
  if (select.kind === "topkBatch") return { ...select, total: select.total + batchMargin(select.total) };
  return select;
}

/**
 * Returns b_enc raised by a bound on how far the bf16 product's pre-activation can
 * fall below the fp32 one (the proposal's bias for the top-k selections), so that a latent whose exact
 * pre-activation is positive is proposed even where bf16 rounds it to zero or below: a row with fewer
 * than k positive latents then keeps the same ones as in fp32. The bound, for x = x - b_dec of any row
 * of the batch and w_j the latent's encoder weights (W_enc column or tied W_dec row, times its gain):
 * |bf16 - fp32| <= (2u + u^2) sum |x w| + 2 (n + 2) 2^-24 (1 + u)^2 sum |x w| with u = 2^-8 (both
 * factors rounded, then the two fp32 sums), and sum |x w| <= max ||x|| ||w_j|| (Cauchy-Schwarz); every
 * latent is raised by the largest latent's bound, which keeps the proposal's ranking.
 * The proposal's count is capped by the selection, so the raised bias costs nothing; the threshold
 * rules get none (it would propose every latent near its threshold).
 */
export function proposalBias(ctx: StepCtx): Float32Array {
  const { kernels, sae, ws, x, batch: B } = ctx;
  const { dIn: n, dSae } = sae;
  const p = sae.params;
  const norm = scratchF32(ws, "bf16:norm", dSae);
  const xMax = kernels.proposalNorms({ x, rows: B, n, center: sae.config.applyBDecToInput ? p.b_dec : undefined, w: p.W_enc ?? p.W_dec, cols: dSae, transW: !p.W_enc, normSq: norm });
  const u = 2 ** -8;
  const coef = 2 * u + u * u + 2 * (n + 2) * 2 ** -24 * (1 + u) ** 2;
  // One raise for every latent (the largest latent's bound): a per-latent one would reorder the proposal.
  let wMax = 0, bMax = 0;
  for (let j = 0; j < dSae; j++) {
    wMax = Math.max(wMax, Math.sqrt(norm[j]!) * (p.encoder_gain ? Math.abs(p.encoder_gain[j]!) : 1));
    bMax = Math.max(bMax, Math.abs(p.b_enc[j]!));
  }
  const raise = coef * Math.sqrt(xMax) * wMax * (1 + 2 ** -20) + 2 ** -22 * bMax;
  const out = scratchF32(ws, "bf16:bias", dSae);
  for (let j = 0; j < dSae; j++) out[j] = p.b_enc[j]! + raise;
  ctx.flops.other += 2 * B * n + 2 * n * dSae;
  return out;
}

/** Writes into s.values the dot products xc[r] . w_j of its entries (W_enc columns, or tied W_dec rows), in fp32. */
function exactDots(ctx: StepCtx, s: SparseRows): void {
  const { kernels, sae, ws, flops } = ctx;
  const p = sae.params;
  const n = sae.dIn;
  // The sampled products do not read s.values, so they may write over them.
  if (p.W_enc) kernels.sddmmCols(s, ws.xc, p.W_enc, n, s.values);
  else kernels.sddmm(s, ws.xc, p.W_dec, n, s.values);
  flops.sparse += 2 * s.nnz * n;
}

/**
 * Settles the candidates `s` that the bf16 product proposed for `select` (see candidateSelect): their
 * values recomputed in fp32 (dot, times the gain, plus b_enc), then filtered in place to what `select`
 * keeps of those exact values (kernels.settle). With `select` null (an architecture whose nonlinearity
 * is not a kernel selection) only the values are recomputed.
 */
export function settleExact(ctx: StepCtx, select: EncodeSelect | null, s: SparseRows): void {
  exactDots(ctx, s);
  const p = ctx.sae.params;
  ctx.kernels.settle({ s, bias: p.b_enc, gain: p.encoder_gain, rule: select });
}

/** Settles a window selection `s` (entries of the bf16 pre with |pre - center[j]| < halfWidth): exact values, then the same test on them. */
export function settleWindow(ctx: StepCtx, s: SparseRows, center: Float32Array, halfWidth: number): void {
  exactDots(ctx, s);
  const p = ctx.sae.params;
  ctx.kernels.settle({ s, bias: p.b_enc, gain: p.encoder_gain, rule: { kind: "window", center, halfWidth } });
}
