/**
 * `standard`: ReLU latents with an L1 penalty weighted by decoder row norms (SAELens
 * StandardTrainingSAE with lp_norm 1: l1 = coefficient * mean_b sum_j f_bj * ||W_dec[j]||).
 */
import { z } from "zod";
import type { ArchitectureDef, SaeCore, StepCtx } from "./arch.js";
import type { SparseRows } from "../tensor/kernels.js";
import { scratchF32 } from "./arch.js";
import { diagonalPattern } from "./rows.js";
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

/** Returns the [dSae, dSae] diagonal pattern kept in the workspace (values set by the caller). */
function diagonal(ctx: StepCtx): SparseRows {
  const have = ctx.ws.scratch.get("l1:diag");
  if (have && !(have instanceof Float32Array || have instanceof Float64Array || have instanceof Uint8Array)) return have;
  const s = diagonalPattern(ctx.sae.dSae);
  ctx.ws.scratch.set("l1:diag", s);
  return s;
}

/**
 * Returns c * ||W_dec[j]|| / batch for every latent j, the L1 term's gradient with respect to an
 * active latent's value (the step adds it to each entry), and keeps the norms for `l1Term`.
 */
export function l1ValueGrad(ctx: StepCtx, coefficient: number): Float32Array {
  const { kernels, sae, ws, batch: B, flops } = ctx;
  const { dIn, dSae } = sae;
  const Wd = sae.params.W_dec;
  const norm = scratchF32(ws, "l1:norm", dSae);
  const shift = scratchF32(ws, "l1:shift", dSae);
  // ||W_dec[j]||^2 as the sampled product of W_dec with itself on the diagonal.
  kernels.sddmm(diagonal(ctx), Wd, Wd, dIn, norm);
  const c = coefficient / B;
  for (let j = 0; j < dSae; j++) {
    norm[j] = Math.sqrt(norm[j]!);
    shift[j] = c * norm[j]!;
  }
  flops.other += 2 * dIn * dSae;
  return shift;
}

/** Adds the decoder-norm-weighted L1 loss ("l1") and its W_dec gradient, from each latent's summed activation (`ws.actSum`). */
export function l1Term(ctx: StepCtx, coefficient: number): void {
  const { kernels, sae, grads, ws, losses, flops, batch: B } = ctx;
  const { dIn, dSae } = sae;
  const colSum = ws.actSum;
  const norm = scratchF32(ws, "l1:norm", dSae);
  const diag = diagonal(ctx);
  let total = 0;
  const c = coefficient / B;
  for (let j = 0; j < dSae; j++) {
    const nj = norm[j]!;
    total += colSum[j]! * nj;
    diag.values[j] = colSum[j] !== 0 && nj > 0 ? (c * colSum[j]!) / nj : 0;
  }
  // grad W_dec[j] += (c * colSum[j] / ||W_dec[j]||) * W_dec[j]: a diagonal times W_dec.
  kernels.spmm(diag, sae.params.W_dec, dIn, grads.W_dec, true);
  flops.other += 2 * dIn * dSae;
  losses.l1 = c * total;
}

export const standard: ArchitectureDef<StandardConfig> = {
  id: "standard",
  schema: StandardConfigSchema,
  summary: "ReLU latents, L1 penalty weighted by decoder row norms",
  hasThresholdParam: false,
  sparsityParameter: "l1Coefficient",
  penalty: { coefficient: "l1Coefficient", warmUpSteps: "l1WarmUpSteps" },
  saelens: {
    architecture: "standard",
    trainingDetails: (cfg) => ({ l1_coefficient: cfg.l1Coefficient, lp_norm: 1, l1_warm_up_steps: cfg.l1WarmUpSteps }),
    load: () => ({}),
  },
  refit: { architecture: "standard", keep: (cfg) => ({ l1Coefficient: cfg.l1Coefficient }) },
  levels: (cfg) => [{ width: cfg.dSae, multiplier: 1, lossName: "mse" }],
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
};
