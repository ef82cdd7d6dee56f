/**
 * `jumprelu`: f = pre * [pre > t] with a learned per-latent threshold t (used as relu(t), as SAELens
 * does) and a sparsity penalty (Rajamanoharan et al. 2024; SAELens JumpReLUTrainingSAE). The
 * threshold's gradient is the straight-through estimate with a rectangle kernel of width
 * `bandwidth`: for samples whose pre-activation lies within bandwidth/2 of the threshold,
 *   dL/dt += -(t / bandwidth) * dL/df       (from every term that reads f: reconstruction, tanh)
 *   dL/dt += -(1 / bandwidth) * l0Coefficient / batch   (from the "step" L0 penalty)
 * The pre-activation receives dL/df only where the latent fired (no STE for the input).
 *
 * Sparsity modes (SAELens jumprelu_sparsity_loss_mode), with c the warmed-up l0Coefficient and
 * n_j = ||W_dec[j]||:
 *   step: l0 = c * mean_b #{j : pre_bj > t_j}
 *   tanh: l0 = c * mean_b sum_j tanh(tanhScale * f_bj * n_j)   (Anthropic's; smooth in f and n_j)
 * Optional pre-activation loss (Anthropic, January 2025; SAELens calculate_pre_act_loss), on the
 * latents dead over the tracking window only, with coefficient k (not warmed up):
 *   pre_act = k * mean_b sum_{j dead} relu(t_j - pre_bj) * n_j
 */
import { z } from "zod";
import { reserveSparse, type Kernels, type SparseRows } from "../tensor/kernels.js";
import type { ArchitectureDef, SaeCore, StepCtx } from "./arch.js";
import { scratchF32, scratchF64, scratchSparse } from "./arch.js";
import { baseShape, checkBase, normalizeDecoderField, warmUpField } from "./config.js";
import { diagonalPattern } from "./rows.js";
import { settleWindow } from "./bf16.js";

export const JumpReLUConfigSchema = z
  .object({
    architecture: z.literal("jumprelu").describe("JumpReLU latents with a learned threshold and an L0 penalty."),
    ...baseShape,
    normalizeDecoder: normalizeDecoderField(false),
    l0Coefficient: z.number().min(0).refine(Number.isFinite, "must be finite").default(1).describe("Weight of the L0 penalty (SAELens l0_coefficient)."),
    l0WarmUpSteps: warmUpField("L0"),
    jumpreluInitThreshold: z.number().min(0).default(0.01).describe("Initial threshold of every latent (SAELens jumprelu_init_threshold)."),
    jumpreluBandwidth: z.number().positive().default(0.05).describe("Width of the straight-through estimator's rectangle kernel (SAELens jumprelu_bandwidth)."),
    jumpreluSparsityLossMode: z
      .enum(["step", "tanh"])
      .default("step")
      .describe(
        "Sparsity penalty (SAELens jumprelu_sparsity_loss_mode): step = L0 count with a straight-through threshold gradient (DeepMind); " +
          "tanh = sum of tanh(jumpreluTanhScale * f * ||W_dec[j]||) over latents (Anthropic).",
      ),
    jumpreluTanhScale: z
      .number()
      .positive()
      .refine(Number.isFinite, "must be finite")
      .default(4)
      .describe("Scale inside the tanh sparsity penalty; used only when jumpreluSparsityLossMode is tanh (SAELens jumprelu_tanh_scale)."),
    preActLossCoefficient: z
      .number()
      .min(0)
      .refine(Number.isFinite, "must be finite")
      .optional()
      .describe(
        "Weight of the pre-activation loss on dead latents, sum of relu(threshold - pre) * ||W_dec[j]||; omitted = off " +
          "(SAELens pre_act_loss_coefficient; Anthropic used 3e-6).",
      ),
  })
  .strict()
  .superRefine((cfg, ctx) => checkBase(cfg, ctx));
export type JumpReLUConfig = z.infer<typeof JumpReLUConfigSchema>;

/** Returns relu(threshold) in a reusable buffer. */
function effectiveThreshold(threshold: Float32Array, out: Float32Array): Float32Array {
  for (let j = 0; j < threshold.length; j++) out[j] = threshold[j]! > 0 ? threshold[j]! : 0;
  return out;
}

/** Returns the [dSae, dSae] diagonal pattern kept in the workspace under `key` (values set by the caller). */
function diagonal(ctx: StepCtx, key: string): SparseRows {
  const have = ctx.ws.scratch.get(key);
  if (have && !(have instanceof Float32Array || have instanceof Float64Array || have instanceof Uint8Array)) return have;
  const s = diagonalPattern(ctx.sae.dSae);
  ctx.ws.scratch.set(key, s);
  return s;
}

/** Returns ||W_dec[j]|| for every latent in a workspace buffer. */
function decoderNorms(ctx: StepCtx): Float32Array {
  const { kernels, sae, ws, flops } = ctx;
  const { dIn, dSae } = sae;
  const Wd = sae.params.W_dec;
  const norm = scratchF32(ws, "jumprelu:norm", dSae);
  kernels.sddmm(diagonal(ctx, "jumprelu:diag"), Wd, Wd, dIn, norm);
  for (let j = 0; j < dSae; j++) norm[j] = Math.sqrt(norm[j]!);
  flops.other += 2 * dIn * dSae;
  return norm;
}

/**
 * Tanh mode: adds the penalty ("l0"), its gradient to each active latent's value (which the encoder
 * backward passes to the pre-activation) and, through n_j, to W_dec (accumulated as a per-row scale
 * in `rowScale`).
 */
function tanhTerm(ctx: StepCtx, norm: Float32Array, rowScale: Float32Array): void {
  const { ws, losses, flops, batch: B, coefficient } = ctx;
  const s = ws.levels[0]!.s;
  const grad = ws.levels[0]!.grad;
  const scale = (ctx.sae.config as unknown as JumpReLUConfig).jumpreluTanhScale;
  const c = coefficient / B;
  let total = 0;
  for (let e = 0; e < s.nnz; e++) {
    const j = s.colIdx[e]!;
    const f = s.values[e]!;
    const th = Math.tanh(scale * f * norm[j]!);
    const sech2 = 1 - th * th;
    total += th;
    grad[e] = grad[e]! + c * scale * norm[j]! * sech2;
    if (norm[j]! > 0) rowScale[j] = rowScale[j]! + (c * scale * f * sech2) / norm[j]!;
  }
  losses.l0 = c * total;
  flops.other += 8 * s.nnz;
}

/**
 * Adds the straight-through threshold gradients from the window around each threshold, and in step
 * mode the L0 term ("l0"). In tanh mode the penalty's dL/df = c * scale * n_j * sech^2(scale * f * n_j)
 * (f = 0 below the threshold) joins the reconstruction's, as it does in SAELens's JumpReLU backward.
 */
function windowTerm(ctx: StepCtx, t: Float32Array, norm: Float32Array | null): void {
  const { kernels, sae, grads, ws, losses, flops, batch: B, coefficient } = ctx;
  const { dIn, dSae } = sae;
  const cfg = sae.config as unknown as JumpReLUConfig;
  const bw = cfg.jumpreluBandwidth;
  const tanh = cfg.jumpreluSparsityLossMode === "tanh";
  const raw = sae.params.threshold!;
  const gT = grads.threshold!;
  if (!tanh) losses.l0 = (coefficient * ws.acts.nnz) / B;
  const win = scratchSparse(ws, "jumprelu:window", B, dSae);
  kernels.window(ws.pre, B, dSae, t, bw / 2, win);
  if (ctx.bf16) settleWindow(ctx, win, t, bw / 2);
  if (win.nnz === 0) return;
  const dF = scratchF32(ws, "jumprelu:windowGrad", win.colIdx.length);
  kernels.sddmm(win, ws.err[0]!, sae.params.W_dec, dIn, dF);
  flops.sparse += 2 * win.nnz * dIn;
  const l0Grad = tanh ? 0 : coefficient / B / bw;
  const c = coefficient / B;
  const scale = cfg.jumpreluTanhScale;
  for (let e = 0; e < win.nnz; e++) {
    const j = win.colIdx[e]!;
    if (!(raw[j]! > 0)) continue;
    let g = dF[e]!;
    if (norm && tanh) {
      const p = win.values[e]!;
      const th = p > t[j]! ? Math.tanh(scale * p * norm[j]!) : 0;
      g += c * scale * norm[j]! * (1 - th * th);
    }
    gT[j] = gT[j]! - (t[j]! / bw) * g - l0Grad;
  }
}

/**
 * Adds the pre-activation loss ("pre_act") on dead latents (some must be dead): its pre-activation
 * gradient as an extra sparse set (the entries below threshold, none of which fired), its threshold
 * gradient, and its W_dec gradient through n_j into `rowScale`.
 */
function preActTerm(ctx: StepCtx, coef: number, t: Float32Array, norm: Float32Array, rowScale: Float32Array): void {
  const { sae, grads, ws, losses, flops, batch: B, deadMask, numDead } = ctx;
  const d = sae.dSae;
  if (!deadMask || numDead === 0) throw new Error("the pre-activation loss needs dead latents");
  const raw = sae.params.threshold!;
  const gT = grads.threshold!;
  const pre = ws.pre;
  const dead = scratchF64(ws, "jumprelu:dead", d);
  let nd = 0;
  for (let j = 0; j < d; j++) if (deadMask[j]) dead[nd++] = j;
  // Count first: batch x dead latents can be far more than the entries below threshold.
  let count = 0;
  for (let b = 0; b < B; b++) for (let k = 0; k < nd; k++) if (t[dead[k]!]! - pre[b * d + dead[k]!]! > 0) count++;
  const s = scratchSparse(ws, "jumprelu:preAct", B, d);
  reserveSparse(s, B, d, count);
  const g = scratchF32(ws, "jumprelu:preActGrad", count);
  const c = coef / B;
  let total = 0;
  let e = 0;
  for (let b = 0; b < B; b++) {
    s.rowPtr[b] = e;
    for (let k = 0; k < nd; k++) {
      const j = dead[k]!;
      const gap = t[j]! - pre[b * d + j]!;
      if (!(gap > 0)) continue;
      total += gap * norm[j]!;
      s.colIdx[e] = j;
      s.values[e] = gap;
      g[e] = -c * norm[j]!;
      if (raw[j]! > 0) gT[j] = gT[j]! + c * norm[j]!;
      if (norm[j]! > 0) rowScale[j] = rowScale[j]! + (c * gap) / norm[j]!;
      e++;
    }
  }
  s.rowPtr[B] = e;
  s.nnz = e;
  losses.pre_act = c * total;
  if (e > 0) ctx.extras.push({ s, grad: g });
  flops.other += 6 * B * nd;
}

/** Adds the terms of the configured mode and the pre-activation loss, and their W_dec gradients through the decoder norms. */
function jumpreluTerms(ctx: StepCtx): void {
  const { kernels, sae, grads, ws, flops } = ctx;
  const { dIn, dSae } = sae;
  const cfg = sae.config as unknown as JumpReLUConfig;
  const t = scratchF32(ws, "jumprelu:t", dSae);
  const tanh = cfg.jumpreluSparsityLossMode === "tanh";
  const preAct = cfg.preActLossCoefficient;
  // SAELens logs the pre-activation loss as 0 while no latent is dead.
  const preActWork = preAct !== undefined && ctx.deadMask !== null && ctx.numDead > 0;
  if (preAct !== undefined && !preActWork) ctx.losses.pre_act = 0;
  const norm = tanh || preActWork ? decoderNorms(ctx) : null;
  windowTerm(ctx, t, norm);
  if (!norm) return;
  const diag = diagonal(ctx, "jumprelu:diag");
  const rowScale = diag.values;
  rowScale.fill(0, 0, dSae);
  if (tanh) tanhTerm(ctx, norm, rowScale);
  if (preAct !== undefined && preActWork) preActTerm(ctx, preAct, t, norm, rowScale);
  // grad W_dec[j] += rowScale[j] * W_dec[j]: the diagonal of row scales times W_dec.
  kernels.spmm(diag, sae.params.W_dec, dIn, grads.W_dec, true);
  flops.other += 2 * dIn * dSae;
}

export const jumprelu: ArchitectureDef<JumpReLUConfig> = {
  id: "jumprelu",
  schema: JumpReLUConfigSchema,
  summary: "JumpReLU with a learned threshold (straight-through estimator) and an L0 (step or tanh) penalty",
  hasThresholdParam: true,
  initialThreshold: (cfg) => cfg.jumpreluInitThreshold,
  sparsityParameter: "l0Coefficient",
  penalty: { coefficient: "l0Coefficient", warmUpSteps: "l0WarmUpSteps" },
  saelens: {
    architecture: "jumprelu",
    trainingDetails: (cfg) => ({
      jumprelu_init_threshold: cfg.jumpreluInitThreshold,
      jumprelu_bandwidth: cfg.jumpreluBandwidth,
      jumprelu_sparsity_loss_mode: cfg.jumpreluSparsityLossMode,
      l0_coefficient: cfg.l0Coefficient,
      l0_warm_up_steps: cfg.l0WarmUpSteps,
      pre_act_loss_coefficient: cfg.preActLossCoefficient ?? null,
      jumprelu_tanh_scale: cfg.jumpreluTanhScale,
    }),
    load: () => ({}),
    own: { tensors: ["threshold", "log_threshold"] },
  },
  refit: { architecture: "jumprelu" },
  levels: (cfg) => [{ width: cfg.dSae, multiplier: 1, lossName: "mse" }],
  activateTrain(ctx) {
    const t = effectiveThreshold(ctx.sae.params.threshold!, scratchF32(ctx.ws, "jumprelu:t", ctx.sae.dSae));
    ctx.kernels.sparsifyAbove(ctx.ws.pre, ctx.batch, ctx.sae.dSae, ctx.ws.acts, t);
  },
  fusedSelect(ctx) {
    // The straight-through window (and the pre-activation loss) read the pre-activations.
    const t = effectiveThreshold(ctx.sae.params.threshold!, scratchF32(ctx.ws, "jumprelu:t", ctx.sae.dSae));
    return { select: { kind: "above", threshold: t }, keepPre: true };
  },
  activateInfer(sae: SaeCore<JumpReLUConfig>, kernels: Kernels, pre: Float32Array, rows: number, out: SparseRows) {
    const t = effectiveThreshold(sae.params.threshold!, sae.scratch("jumprelu:t", sae.dSae));
    return kernels.sparsifyAbove(pre, rows, sae.dSae, out, t);
  },
  terms: jumpreluTerms,
};
