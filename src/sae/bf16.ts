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
  const { sae, ws, x, batch: B } = ctx;
  const { dIn: n, dSae } = sae;
  const p = sae.params;
  const center = sae.config.applyBDecToInput ? p.b_dec : null;
  let xMax = 0;
  for (let r = 0; r < B; r++) {
    let sq = 0;
    for (let c = 0; c < n; c++) {
      const v = x[r * n + c]! - (center ? center[c]! : 0);
      sq += v * v;
    }
    xMax = Math.max(xMax, sq);
  }
  const norm = scratchF32(ws, "bf16:norm", dSae);
  norm.fill(0, 0, dSae);
  if (p.W_enc) {
    for (let c = 0; c < n; c++) for (let j = 0; j < dSae; j++) norm[j] = norm[j]! + p.W_enc[c * dSae + j]! ** 2;
  } else {
    for (let j = 0; j < dSae; j++) for (let c = 0; c < n; c++) norm[j] = norm[j]! + p.W_dec[j * n + c]! ** 2;
  }
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

/** Overwrites the values of `s` (entries of [batch, dSae]) with their pre-activations computed in fp32 from ws.xc. */
export function exactPreValues(ctx: StepCtx, s: SparseRows): void {
  const { kernels, sae, ws, flops } = ctx;
  const p = sae.params;
  const n = sae.dIn;
  // The sampled products do not read s.values, so they may write over them.
  if (p.W_enc) kernels.sddmmCols(s, ws.xc, p.W_enc, n, s.values);
  else kernels.sddmm(s, ws.xc, p.W_dec, n, s.values);
  const gain = p.encoder_gain;
  const bias = p.b_enc;
  for (let e = 0; e < s.nnz; e++) {
    const j = s.colIdx[e]!;
    s.values[e] = (gain ? Math.fround(s.values[e]! * gain[j]!) : s.values[e]!) + bias[j]!;
  }
  flops.sparse += 2 * s.nnz * n;
}

/**
 * Settles the candidates `s` that the bf16 product proposed for `select` (see candidateSelect): their
 * values recomputed in fp32, then filtered in place to what `select` keeps of those exact values.
 * With `select` null (an architecture whose nonlinearity is not a kernel selection) only the values are recomputed.
 */
export function settleExact(ctx: StepCtx, select: EncodeSelect | null, s: SparseRows): void {
  exactPreValues(ctx, s);
  if (!select) return;
  if (select.kind === "above") keepAbove(s, select.threshold);
  else if (select.kind === "topk") keepTopkRows(ctx, s, select.k);
  else keepTopBatch(ctx, s, select.total);
}

/** Settles a window selection `s` (entries of the bf16 pre with |pre - center[j]| < halfWidth): exact values, then the same test on them. */
export function settleWindow(ctx: StepCtx, s: SparseRows, center: Float32Array, halfWidth: number): void {
  exactPreValues(ctx, s);
  compact(s, (e) => Math.abs(s.values[e]! - center[s.colIdx[e]!]!) < halfWidth);
}

/** Compacts s in place to the entries keep(e) accepts, in order. */
function compact(s: SparseRows, keep: (e: number, r: number) => boolean): void {
  let o = 0;
  for (let r = 0; r < s.rows; r++) {
    const e0 = s.rowPtr[r]!, e1 = s.rowPtr[r + 1]!;
    s.rowPtr[r] = o;
    for (let e = e0; e < e1; e++) {
      if (!keep(e, r)) continue;
      s.colIdx[o] = s.colIdx[e]!;
      s.values[o] = s.values[e]!;
      o++;
    }
  }
  s.rowPtr[s.rows] = o;
  s.nnz = o;
}

function keepAbove(s: SparseRows, threshold: Float32Array | undefined): void {
  compact(s, (e) => s.values[e]! > (threshold ? threshold[s.colIdx[e]!]! : 0));
}

/**
 * The largest `keep` of values[e0, e1) (positive only, ties to the earlier entry): returns the cut T
 * and how many entries equal to T are kept, or null when every positive entry is kept.
 */
function cutOf(values: Float32Array, e0: number, e1: number, keep: number, buf: Float32Array): { t: number; ties: number } | null {
  let m = 0;
  for (let e = e0; e < e1; e++) if (values[e]! > 0) buf[m++] = values[e]!;
  if (m <= keep) return null;
  const sorted = buf.subarray(0, m).sort();
  const t = sorted[m - keep]!;
  let above = 0;
  for (let q = m - keep + 1; q < m; q++) if (sorted[q]! > t) above++;
  return { t, ties: keep - above };
}

function keepTopkRows(ctx: StepCtx, s: SparseRows, k: number): void {
  const buf = scratchF32(ctx.ws, "bf16:cut", s.cols);
  const cuts: ({ t: number; ties: number } | null)[] = [];
  for (let r = 0; r < s.rows; r++) cuts.push(k > 0 ? cutOf(s.values, s.rowPtr[r]!, s.rowPtr[r + 1]!, k, buf) : { t: Infinity, ties: 0 });
  keepByCut(s, (r) => cuts[r]!);
}

function keepTopBatch(ctx: StepCtx, s: SparseRows, total: number): void {
  const buf = scratchF32(ctx.ws, "bf16:cut", s.nnz);
  const cut = total > 0 ? cutOf(s.values, 0, s.nnz, total, buf) : { t: Infinity, ties: 0 };
  keepByCut(s, () => cut);
}

/** Keeps the positive entries above each row's cut and the first `ties` entries at it (a shared cut counts its ties across rows, in order). */
function keepByCut(s: SparseRows, cutFor: (r: number) => { t: number; ties: number } | null): void {
  let tiesLeft = 0;
  let last: { t: number; ties: number } | null = null;
  compact(s, (e, r) => {
    const v = s.values[e]!;
    if (!(v > 0)) return false;
    const c = cutFor(r);
    if (!c) return true;
    if (c !== last) {
      last = c;
      tiesLeft = c.ties;
    }
    if (v > c.t) return true;
    if (v === c.t && tiesLeft > 0) {
      tiesLeft--;
      return true;
    }
    return false;
  });
}
