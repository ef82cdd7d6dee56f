/**
 * `standard`: ReLU latents with an L1 penalty weighted by decoder row norms (SAELens
 * StandardTrainingSAE with lp_norm 1: l1 = coefficient * mean_b sum_j f_bj * ||W_dec[j]||).
 */
import { z } from "zod";
import type { ArchitectureDef, SaeCore, StepCtx } from "./arch.js";
import { scratchF32, scratchF64 } from "./arch.js";
import { baseShape, checkBase, normalizeDecoderField, warmUpField } from "./config.js";

export const StandardConfigSchema = z
  .object({
    architecture: z.literal("standard").describe("ReLU SAE with a decoder-norm-weighted L1 penalty."),
    ...baseShape,
    normalizeDecoder: normalizeDecoderField(false),
    l1Coefficient: z.number().min(0).refine(Number.isFinite, "must be finite").default(1).describe("Weight of the L1 sparsity penalty (SAELens l1_coefficient)."),
    l1WarmUpSteps: warmUpField("L1"),
  })
  .strict()
  .superRefine((cfg, ctx) => checkBase(cfg, ctx));
export type StandardConfig = z.infer<typeof StandardConfigSchema>;

/**
 * Returns c * ||W_dec[j]|| / batch for every latent j, the L1 term's gradient with respect to an
 * active latent's value (the step adds it to each entry), and keeps the norms for `l1Term`.
 */
export function l1ValueGrad(ctx: StepCtx, coefficient: number): Float32Array {
  const { sae, ws, batch: B, flops } = ctx;
  const { dIn: n, dSae: d } = sae;
  const Wd = sae.params.W_dec;
  const norm = scratchF64(ws, "l1:norm", d);
  const shift = scratchF32(ws, "l1:shift", d);
  const c = coefficient / B;
  for (let j = 0; j < d; j++) {
    let sq = 0;
    const off = j * n;
    for (let i = 0; i < n; i++) sq += Wd[off + i]! * Wd[off + i]!;
    norm[j] = Math.sqrt(sq);
    shift[j] = c * norm[j]!;
  }
  flops.other += 2 * n * d;
  return shift;
}

/** Adds the decoder-norm-weighted L1 loss ("l1") and its W_dec gradient, from each latent's summed activation (`ws.actSum`). */
export function l1Term(ctx: StepCtx, coefficient: number): void {
  const { sae, grads, ws, losses, flops, batch: B } = ctx;
  const { dIn: n, dSae: d } = sae;
  const Wd = sae.params.W_dec;
  const colSum = ws.actSum;
  const norm = scratchF64(ws, "l1:norm", d);
  let total = 0;
  const c = coefficient / B;
  for (let j = 0; j < d; j++) {
    if (colSum[j] === 0) continue;
    const nj = norm[j]!;
    total += colSum[j]! * nj;
    if (nj > 0) {
      const g = (c * colSum[j]!) / nj;
      const off = j * n;
      for (let i = 0; i < n; i++) grads.W_dec[off + i] = grads.W_dec[off + i]! + g * Wd[off + i]!;
    }
    flops.other += 2 * n;
  }
  losses.l1 = c * total;
}

export const standard: ArchitectureDef<StandardConfig> = {
  id: "standard",
  summary: "ReLU latents, L1 penalty weighted by decoder row norms",
  savedAs: "standard",
  hasThresholdParam: false,
  levels: (cfg) => [{ width: cfg.dSae, multiplier: 1, lossName: "mse" }],
  coefficient: (cfg) => ({ value: cfg.l1Coefficient, warmUpSteps: cfg.l1WarmUpSteps }),
  activateTrain(ctx) {
    ctx.kernels.sparsifyAbove(ctx.ws.pre, ctx.batch, ctx.sae.dSae, ctx.ws.acts);
  },
  fusedSelect: () => ({ select: { kind: "above" }, keepPre: false }),
  activateInfer(sae: SaeCore<StandardConfig>, kernels, pre, rows, out) {
    return kernels.sparsifyAbove(pre, rows, sae.dSae, out);
  },
  valueGradBias: (ctx) => l1ValueGrad(ctx, ctx.coefficient),
  terms(ctx) {
    l1Term(ctx, ctx.coefficient);
  },
  trainingDetails: (cfg) => ({ l1_coefficient: cfg.l1Coefficient, lp_norm: 1, l1_warm_up_steps: cfg.l1WarmUpSteps }),
};
