/**
 * `standard`: ReLU latents with an L1 penalty weighted by decoder row norms (SAELens
 * StandardTrainingSAE with lp_norm 1: l1 = coefficient * mean_b sum_j f_bj * ||W_dec[j]||).
 */
import { z } from "zod";
import type { ArchitectureDef, SaeCore, StepCtx } from "./arch.js";
import { scratchF64 } from "./arch.js";
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

/** Adds the decoder-norm-weighted L1 term ("l1") and its gradients (to latent values and W_dec rows). */
export function l1Term(ctx: StepCtx, coefficient: number): void {
  const { sae, grads, ws, losses, flops, batch: B } = ctx;
  const { dIn: n, dSae: d } = sae;
  const Wd = sae.params.W_dec;
  const colSum = scratchF64(ws, "l1:colsum", d);
  const norm = scratchF64(ws, "l1:norm", d);
  colSum.fill(0, 0, d);
  for (const lv of ws.levels) {
    const s = lv.s;
    for (let e = 0; e < s.nnz; e++) colSum[s.colIdx[e]!]! += s.values[e]!;
  }
  let total = 0;
  const c = coefficient / B;
  for (let j = 0; j < d; j++) {
    if (colSum[j] === 0) continue;
    let sq = 0;
    const off = j * n;
    for (let i = 0; i < n; i++) sq += Wd[off + i]! * Wd[off + i]!;
    const nj = Math.sqrt(sq);
    norm[j] = nj;
    total += colSum[j]! * nj;
    if (nj > 0) {
      const g = (c * colSum[j]!) / nj;
      for (let i = 0; i < n; i++) grads.W_dec[off + i] = grads.W_dec[off + i]! + g * Wd[off + i]!;
    }
    flops.other += 4 * n;
  }
  for (const lv of ws.levels) {
    const s = lv.s;
    for (let e = 0; e < s.nnz; e++) lv.grad[e] = lv.grad[e]! + c * norm[s.colIdx[e]!]!;
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
  activateInfer(sae: SaeCore<StandardConfig>, kernels, pre, rows, out) {
    return kernels.sparsifyAbove(pre, rows, sae.dSae, out);
  },
  terms(ctx) {
    l1Term(ctx, ctx.coefficient);
  },
  trainingDetails: (cfg) => ({ l1_coefficient: cfg.l1Coefficient, lp_norm: 1, l1_warm_up_steps: cfg.l1WarmUpSteps }),
};
