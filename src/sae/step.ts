/**
 * The loss recipe every architecture shares (SAELens training_forward_pass), forward and backward by
 * hand on the kernel interface. Only the encoder product is dense; decoding, the decoder gradient and
 * the encoder-weight gradient touch only the latents that fired (CSR from the nonlinearity).
 *
 * Loss = sum over levels of multiplier * mean over batch of ||x_hat_level - x||^2 (one level of full
 * width except for Matryoshka SAEs) + the architecture's named terms + the tying loss.
 */
import type { EncodeSelect, Kernels, SparseRows } from "../tensor/kernels.js";
import { emptySparse, reserveSparse } from "../tensor/kernels.js";
import type { ArchitectureDef, ExtraGrad, FlopCount, LevelSpec, SaeCore, StepCtx, Workspace, AnyArchConfig } from "./arch.js";
import { scratchF32, scratchF64 } from "./arch.js";
import type { ParamViews } from "./params.js";
import { tieLossTerm } from "./tying.js";
import { denseAboveFor, denseBuffer, denseDecode, denseEncoderBackward, denseOutputBackward } from "./dense.js";
import { encoderBackward, singleLevelBackward } from "./step_single.js";
import { candidateSelect, proposalBias, settleExact } from "./bf16.js";

/** What one forward/backward pass returns. */
export interface StepResult {
  /** Total loss (sum of `losses`). */
  loss: number;
  /** Named, weighted loss terms ("mse", "l1", "auxk", "l0", "tie", "inner_mse_<width>", ...). */
  losses: Record<string, number>;
  /** Mean number of active latents per sample (training nonlinearity). */
  l0: number;
  flops: FlopCount;
}

/** Returns a fresh workspace for `sae` at batch size `batch` (its big buffers from `alloc`, e.g. a backend's aligned one). */
export function createWorkspace(sae: SaeCore, levels: readonly LevelSpec[], batch: number, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)): Workspace {
  const { dIn, dSae } = sae;
  const acts = emptySparse(batch, dSae, batch * 8);
  const lv = levels.map((_, i) => ({
    s: levels.length === 1 ? acts : emptySparse(batch, dSae, batch * 4 * (i + 1)),
    grad: new Float32Array(batch * 8),
  }));
  return {
    batch,
    xc: alloc(batch * dIn),
    pre: alloc(batch * dSae),
    acts,
    levels: lv,
    err: levels.map(() => alloc(batch * dIn)),
    fired: new Uint8Array(dSae),
    actSum: new Float32Array(dSae),
    scratch: new Map(),
  };
}

/** Arguments of `forwardBackward`. */
export interface StepArgs {
  kernels: Kernels;
  sae: SaeCore;
  def: ArchitectureDef<AnyArchConfig>;
  levels: readonly LevelSpec[];
  grads: ParamViews;
  ws: Workspace;
  /** [batch, dIn]. */
  x: Float32Array;
  batch: number;
  coefficient: number;
  deadMask: Uint8Array | null;
  numDead: number;
  /** Share of active [batch, dSae] entries above which decoding and gradients use dense GEMMs (default: denseAboveFor(kernels, dIn)). */
  denseAbove?: number;
  /** Mixed precision (TrainConfig precision "bf16"): the encoder product with bfloat16 inputs and fp32 sums chooses the latents, whose values are computed in fp32 (src/sae/bf16.ts); the rest stays fp32. */
  bf16?: boolean;
  /** With bf16: the encoder weights as Adam's bf16 copy packed them after their last update (AdamArgs.bf16Copy), so the product skips packing them. */
  packedW?: Float32Array;
}

/** Runs the forward pass and writes the gradient of the total loss into `grads`; returns the loss terms. */
export function forwardBackward(args: StepArgs): { result: StepResult; ctx: StepCtx } {
  const { kernels, sae, def, levels, grads, ws, x, batch: B } = args;
  const { dIn, dSae } = sae;
  const p = sae.params;
  if (x.length < B * dIn) throw new Error(`batch has ${x.length} values, expected ${B} x ${dIn}`);
  if (ws.batch !== B) throw new Error(`workspace is for batch ${ws.batch}, got ${B}`);
  const flops: FlopCount = { dense: 0, sparse: 0, other: 0 };
  const losses: Record<string, number> = {};
  const extras: ExtraGrad[] = [];
  const ctx: StepCtx = {
    kernels, sae, grads, ws, x, batch: B, coefficient: args.coefficient, deadMask: args.deadMask, numDead: args.numDead, losses, extras, flops, residual: null,
    bf16: args.bf16 ?? false,
  };
  grads.buffer.fill(0);

  const fused = def.fusedSelect?.(ctx);
  // Mixed precision: the bf16 product proposes candidates, which are settled on their exact values.
  const select = fused && ctx.bf16 ? { ...fused, select: candidateSelect(fused.select, dSae) } : fused;
  const bias = select && ctx.bf16 && select.select.kind !== "above" ? proposalBias(ctx) : undefined;
  encodePre(kernels, sae, x, B, ws.xc, ws.pre, select && { ...select, out: ws.acts }, ctx.bf16, args.packedW, bias);
  flops.dense += 2 * B * dIn * dSae;
  flops.other += B * dIn;
  if (!fused) def.activateTrain(ctx);
  if (ctx.bf16) settleExact(ctx, fused?.select ?? null, ws.acts);
  splitLevels(ws, levels, B, dSae);

  const m = levels.length;
  const D = m === 1 && !p.encoder_gain && ws.acts.nnz > (args.denseAbove ?? denseAboveFor(kernels, dIn)) * B * dSae ? denseBuffer(ctx) : null;
  if (m === 1 && !p.encoder_gain && !D) singleLevelBackward(ctx, def, levels[0]!);
  else levelsBackward(ctx, def, levels, D);

  if (sae.config.applyBDecToInput) {
    // x - b_dec feeds the encoder: dLoss/db_dec -= W_enc @ (dLoss/db_enc), since b_enc's gradient is
    // exactly the column sum of the pre-activation gradient.
    if (p.W_enc) {
      kernels.gemm({ a: grads.b_enc, b: p.W_enc, out: grads.b_dec, m: 1, n: dIn, k: dSae, transB: true, alpha: -1, beta: 1 });
    } else {
      let u = grads.b_enc;
      if (p.encoder_gain) {
        u = scratchF32(ws, "gainU", dSae);
        for (let j = 0; j < dSae; j++) u[j] = grads.b_enc[j]! * p.encoder_gain[j]!;
      }
      kernels.gemm({ a: u, b: p.W_dec, out: grads.b_dec, m: 1, n: dIn, k: dSae, alpha: -1, beta: 1 });
    }
    flops.other += 2 * dIn * dSae;
  }
  if (sae.config.tying === "tie_loss" && sae.config.tieLoss) tieLossTerm(ctx, sae.config.tieLoss);

  let loss = 0;
  for (const v of Object.values(losses)) loss += v;
  return { result: { loss, losses, l0: ws.acts.nnz / B, flops }, ctx };
}

/** Reconstruction, its loss and the backward pass for any number of levels, on the sparse products or the dense fallback `D`. */
function levelsBackward(ctx: StepCtx, def: ArchitectureDef<AnyArchConfig>, levels: readonly LevelSpec[], D: Float32Array | null): void {
  const { kernels, sae, grads, ws, x, batch: B, losses, flops } = ctx;
  const n = sae.dIn;
  const p = sae.params;
  // Reconstructions, nested: x_hat_0 = b_dec + S_0 W_dec, x_hat_i = x_hat_{i-1} + S_i W_dec.
  const m = levels.length;
  for (let i = 0; i < m; i++) {
    const e = ws.err[i]!;
    if (i === 0) for (let r = 0; r < B; r++) e.set(p.b_dec, r * n);
    else e.set(ws.err[i - 1]!.subarray(0, B * n));
    const s = ws.levels[i]!.s;
    if (D) denseDecode(ctx, D, e);
    else {
      kernels.spmm(s, p.W_dec, n, e, true);
      flops.sparse += 2 * s.nnz * n;
    }
  }
  // dLoss/dx_hat_i = 2 * multiplier_i * err_i / B; a latent of level i feeds every x_hat_j with j >= i,
  // so its output gradient is the suffix sum G_i = sum_{j >= i} dLoss/dx_hat_j (kept in err[i]).
  // Residual terms (AuxK) need the last level's raw error first; otherwise error, loss, gradient and
  // the b_dec column sum are one pass per level.
  const last = m - 1;
  if (def.residualTerms) {
    const e = ws.err[last]!;
    let sq = 0;
    for (let k = 0; k < B * n; k++) {
      const v = e[k]! - x[k]!;
      e[k] = v;
      sq += v * v;
    }
    losses[levels[last]!.lossName] = (levels[last]!.multiplier * sq) / B;
    ctx.residual = e;
    def.residualTerms(ctx);
    ctx.residual = null;
  }
  for (let i = last; i >= 0; i--) {
    const raw = !(i === last && def.residualTerms);
    const sq = finishLevel(ws.err[i]!, raw ? x : null, i < last ? ws.err[i + 1]! : null, (2 * levels[i]!.multiplier) / B, i === 0 ? grads.b_dec : null, B, n);
    if (raw) losses[levels[i]!.lossName] = (levels[i]!.multiplier * sq) / B;
  }
  flops.other += 5 * B * n * m;
  for (let i = 0; i < m && !D; i++) {
    const lv = ws.levels[i]!;
    if (lv.grad.length < lv.s.nnz) lv.grad = new Float32Array(lv.s.colIdx.length);
    kernels.sddmm(lv.s, ws.err[i]!, p.W_dec, n, lv.grad);
    kernels.spmmT(lv.s, ws.err[i]!, n, grads.W_dec);
    flops.sparse += 4 * lv.s.nnz * n;
  }
  if (D) denseOutputBackward(ctx, D, ws.err[0]!);
  const bias = def.valueGradBias?.(ctx);
  if (bias) {
    ws.actSum.fill(0);
    for (const lv of ws.levels) {
      const s = lv.s;
      for (let e = 0; e < s.nnz; e++) {
        const j = s.colIdx[e]!;
        lv.grad[e] = lv.grad[e]! + bias[j]!;
        ws.actSum[j] = ws.actSum[j]! + s.values[e]!;
      }
    }
  }
  def.terms?.(ctx);

  ws.fired.fill(0);
  if (D) denseEncoderBackward(ctx, D);
  else for (const lv of ws.levels) encoderBackward(ctx, lv.s, lv.grad, "lv", ws.fired);
  for (const ex of ctx.extras) encoderBackward(ctx, ex.s, ex.grad, "ex");
}

/** Computes xc = x - b_dec (or x) and pre = xc @ W_enc + bias (b_enc unless given; bf16: the product in mixed precision) into the given buffers, and with `select` the latents into its `out`. */
export function encodePre(
  kernels: Kernels,
  sae: SaeCore,
  x: Float32Array,
  B: number,
  xc: Float32Array,
  pre: Float32Array,
  select?: { select: EncodeSelect; keepPre: boolean; out: SparseRows },
  bf16 = false,
  packedW?: Float32Array,
  bias: Float32Array = sae.params.b_enc,
): void {
  const { dIn, dSae } = sae;
  const p = sae.params;
  kernels.encode({
    x, rows: B, n: dIn, cols: dSae, xc, pre, bias,
    ...(sae.config.applyBDecToInput ? { center: p.b_dec } : {}),
    ...(p.W_enc ? { w: p.W_enc } : { w: p.W_dec, transW: true, ...(p.encoder_gain ? { colScale: p.encoder_gain } : {}) }),
    ...(select ? { select: select.select, keepPre: select.keepPre, out: select.out } : {}),
    ...(bf16 ? { bf16 } : {}),
    ...(bf16 && packedW ? { packedW } : {}),
  });
}

/**
 * Turns one level's reconstruction (or, when `x` is null, its error) in `e` into its output gradient
 * e = (x_hat - x) * scale + next, adds its column sums to `bDec` when given, and returns the summed
 * squared error (0 when `x` is null).
 */
function finishLevel(e: Float32Array, x: Float32Array | null, next: Float32Array | null, scale: number, bDec: Float32Array | null, B: number, n: number): number {
  let sq = 0;
  for (let r = 0; r < B; r++) {
    const off = r * n;
    for (let c = 0; c < n; c++) {
      const k = off + c;
      let v = e[k]!;
      if (x) {
        v -= x[k]!;
        sq += v * v;
      }
      const g = v * scale + (next ? next[k]! : 0);
      e[k] = g;
      if (bDec) bDec[c] = bDec[c]! + g;
    }
  }
  return sq;
}

/** Splits `ws.acts` into the levels' column ranges (a no-op with one level, whose matrix is `acts`). */
function splitLevels(ws: Workspace, levels: readonly LevelSpec[], B: number, d: number): void {
  const m = levels.length;
  if (m === 1) return;
  const a = ws.acts;
  const counts = scratchF64(ws, "levels:counts", m);
  counts.fill(0, 0, m);
  for (let e = 0; e < a.nnz; e++) counts[levelOf(a.colIdx[e]!, levels)]!++;
  for (let i = 0; i < m; i++) {
    const s = ws.levels[i]!.s;
    reserveSparse(s, B, d, counts[i]!);
    s.nnz = 0;
  }
  for (let r = 0; r < B; r++) {
    for (let i = 0; i < m; i++) {
      const s = ws.levels[i]!.s;
      s.rowPtr[r] = s.nnz;
    }
    for (let e = a.rowPtr[r]!; e < a.rowPtr[r + 1]!; e++) {
      const j = a.colIdx[e]!;
      const s = ws.levels[levelOf(j, levels)]!.s;
      s.colIdx[s.nnz] = j;
      s.values[s.nnz] = a.values[e]!;
      s.nnz++;
    }
  }
  for (let i = 0; i < m; i++) {
    const s = ws.levels[i]!.s;
    s.rowPtr[B] = s.nnz;
  }
}

function levelOf(j: number, levels: readonly LevelSpec[]): number {
  let i = 0;
  while (j >= levels[i]!.width) i++;
  return i;
}
