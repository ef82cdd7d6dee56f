/**
 * `jumprelu`: f = pre * [pre > t] with a learned per-latent threshold t (used as relu(t), as SAELens
 * does) and an L0 penalty (Rajamanoharan et al. 2024; SAELens JumpReLUTrainingSAE, "step" mode).
 * The threshold's gradient is the straight-through estimate with a rectangle kernel of width
 * `bandwidth`: for samples whose pre-activation lies within bandwidth/2 of the threshold,
 *   dL/dt += -(t / bandwidth) * dL/df       (from the reconstruction)
 *   dL/dt += -(1 / bandwidth) * l0Coefficient / batch   (from the L0 penalty)
 * The pre-activation receives dL/df only where the latent fired (no STE for the input).
 */
import { z } from "zod";
import type { Kernels, SparseRows } from "../tensor/kernels.js";
import type { ArchitectureDef, SaeCore, StepCtx } from "./arch.js";
import { scratchF32, scratchSparse } from "./arch.js";
import { baseShape, checkBase, normalizeDecoderField, warmUpField } from "./config.js";

export const JumpReLUConfigSchema = z
  .object({
    architecture: z.literal("jumprelu").describe("JumpReLU latents with a learned threshold and an L0 penalty."),
    ...baseShape,
    normalizeDecoder: normalizeDecoderField(false),
    l0Coefficient: z.number().min(0).refine(Number.isFinite, "must be finite").default(1).describe("Weight of the L0 penalty (SAELens l0_coefficient)."),
    l0WarmUpSteps: warmUpField("L0"),
    jumpreluInitThreshold: z.number().min(0).default(0.01).describe("Initial threshold of every latent (SAELens jumprelu_init_threshold)."),
    jumpreluBandwidth: z.number().positive().default(0.05).describe("Width of the straight-through estimator's rectangle kernel (SAELens jumprelu_bandwidth)."),
  })
  .strict()
  .superRefine((cfg, ctx) => checkBase(cfg, ctx));
export type JumpReLUConfig = z.infer<typeof JumpReLUConfigSchema>;

/** Returns relu(threshold) in a reusable buffer. */
function effectiveThreshold(threshold: Float32Array, out: Float32Array): Float32Array {
  for (let j = 0; j < threshold.length; j++) out[j] = threshold[j]! > 0 ? threshold[j]! : 0;
  return out;
}

/** Adds the L0 term ("l0") and the straight-through threshold gradients. */
function l0Term(ctx: StepCtx, t: Float32Array): void {
  const { kernels, sae, grads, ws, losses, flops, batch: B, coefficient } = ctx;
  const { dIn: n, dSae: d } = sae;
  const cfg = sae.config as unknown as JumpReLUConfig;
  const bw = cfg.jumpreluBandwidth;
  const raw = sae.params.threshold!;
  const gT = grads.threshold!;
  losses.l0 = (coefficient * ws.acts.nnz) / B;
  const win = scratchSparse(ws, "jumprelu:window", B, d);
  kernels.window(ws.pre, B, d, t, bw / 2, win);
  if (win.nnz === 0) return;
  const dF = scratchF32(ws, "jumprelu:windowGrad", win.colIdx.length);
  kernels.sddmm(win, ws.err[0]!, sae.params.W_dec, n, dF);
  flops.sparse += 2 * win.nnz * n;
  const l0Grad = coefficient / B / bw;
  for (let e = 0; e < win.nnz; e++) {
    const j = win.colIdx[e]!;
    if (!(raw[j]! > 0)) continue;
    gT[j] = gT[j]! - (t[j]! / bw) * dF[e]! - l0Grad;
  }
}

export const jumprelu: ArchitectureDef<JumpReLUConfig> = {
  id: "jumprelu",
  summary: "JumpReLU with a learned threshold (straight-through estimator) and an L0 penalty",
  savedAs: "jumprelu",
  hasThresholdParam: true,
  initialThreshold: (cfg) => cfg.jumpreluInitThreshold,
  levels: (cfg) => [{ width: cfg.dSae, multiplier: 1, lossName: "mse" }],
  coefficient: (cfg) => ({ value: cfg.l0Coefficient, warmUpSteps: cfg.l0WarmUpSteps }),
  activateTrain(ctx) {
    const t = effectiveThreshold(ctx.sae.params.threshold!, scratchF32(ctx.ws, "jumprelu:t", ctx.sae.dSae));
    ctx.kernels.sparsifyAbove(ctx.ws.pre, ctx.batch, ctx.sae.dSae, ctx.ws.acts, t);
  },
  fusedSelect(ctx) {
    // The L0 term's straight-through window reads the pre-activations.
    const t = effectiveThreshold(ctx.sae.params.threshold!, scratchF32(ctx.ws, "jumprelu:t", ctx.sae.dSae));
    return { select: { kind: "above", threshold: t }, keepPre: true };
  },
  activateInfer(sae: SaeCore<JumpReLUConfig>, kernels: Kernels, pre: Float32Array, rows: number, out: SparseRows) {
    const t = effectiveThreshold(sae.params.threshold!, sae.scratch("jumprelu:t", sae.dSae));
    return kernels.sparsifyAbove(pre, rows, sae.dSae, out, t);
  },
  terms(ctx) {
    l0Term(ctx, scratchF32(ctx.ws, "jumprelu:t", ctx.sae.dSae));
  },
  trainingDetails: (cfg) => ({
    jumprelu_init_threshold: cfg.jumpreluInitThreshold,
    jumprelu_bandwidth: cfg.jumpreluBandwidth,
    jumprelu_sparsity_loss_mode: "step",
    l0_coefficient: cfg.l0Coefficient,
    l0_warm_up_steps: cfg.l0WarmUpSteps,
  }),
};
