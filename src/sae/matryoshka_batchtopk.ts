/**
 * `matryoshka_batchtopk`: a BatchTopK SAE whose nested prefixes of latents [0, w_i) must each
 * reconstruct the input on their own (Bussmann et al. 2025; SAELens MatryoshkaBatchTopKTrainingSAE).
 * The loss adds, for every inner width w_i, multiplier_i * mean_b ||b_dec + S[:, :w_i] W_dec[:w_i] - x||^2
 * to the full-width loss. The multipliers are the "balance matryoshka" knob of the feature-hedging
 * paper (Chanin et al. 2025, `matryoshka_inner_loss_multipliers`): with a single beta, the level i
 * steps below the outer one is weighted beta^i, as in the paper's experiments, so beta < 1 lets the
 * outer levels exert some absorption pressure that counteracts hedging in the inner ones; beta = 1
 * is SAELens's plain Matryoshka loss. A list gives each inner level its own multiplier.
 */
import { z } from "zod";
import type { ArchitectureDef } from "./arch.js";
import { auxkTerm } from "./auxk.js";
import { activateBatchTopK, batchTopKShape, commitBatchTopK, fusedBatchTopK, inferBatchTopK } from "./batchtopk.js";
import { checkBase } from "./config.js";

export const MatryoshkaBatchTopKConfigSchema = z
  .object({
    architecture: z.literal("matryoshka_batchtopk").describe("BatchTopK with nested prefix reconstruction losses."),
    ...batchTopKShape,
    matryoshkaWidths: z
      .array(z.number().int().positive())
      .min(1)
      .describe("Strictly increasing prefix widths; the last must equal dSae (SAELens matryoshka_widths)."),
    innerLossMultiplier: z
      .union([z.number().min(0), z.array(z.number().min(0))])
      .default(1)
      .describe(
        "Inner-level loss weights (feature-hedging paper's balance Matryoshka): a number beta weights the level i steps inside the outer one by beta^i; a list gives one weight per inner width. 1 = SAELens.",
      ),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    checkBase(cfg, ctx);
    if (cfg.k > cfg.dSae) ctx.addIssue({ code: "custom", path: ["k"], message: `must be at most dSae (${cfg.dSae})` });
    const w = cfg.matryoshkaWidths;
    for (let i = 1; i < w.length; i++) {
      if (w[i]! <= w[i - 1]!) ctx.addIssue({ code: "custom", path: ["matryoshkaWidths", i], message: `must be larger than the previous width ${w[i - 1]}` });
    }
    if (w[w.length - 1] !== cfg.dSae) {
      ctx.addIssue({ code: "custom", path: ["matryoshkaWidths"], message: `the last width must equal dSae (${cfg.dSae}); got ${w[w.length - 1]}` });
    }
    const m = cfg.innerLossMultiplier;
    if (Array.isArray(m) && m.length !== w.length - 1) {
      ctx.addIssue({ code: "custom", path: ["innerLossMultiplier"], message: `needs one value per inner width (${w.length - 1}), got ${m.length}` });
    }
  });
export type MatryoshkaBatchTopKConfig = z.infer<typeof MatryoshkaBatchTopKConfigSchema>;

export const matryoshka_batchtopk: ArchitectureDef<MatryoshkaBatchTopKConfig> = {
  id: "matryoshka_batchtopk",
  schema: MatryoshkaBatchTopKConfigSchema,
  summary: "BatchTopK with nested prefix (Matryoshka) reconstruction losses",
  hasThresholdParam: false,
  sparsityParameter: "k",
  saelens: {
    architecture: "jumprelu",
    trainingDetails: (cfg) => ({
      k: cfg.k,
      topk_threshold_lr: cfg.topkThresholdLr,
      aux_loss_coefficient: cfg.auxLossCoefficient,
      matryoshka_widths: cfg.matryoshkaWidths,
      matryoshka_inner_loss_multipliers: cfg.innerLossMultiplier,
      rescale_acts_by_decoder_norm: false,
    }),
  },
  refit: { architecture: "jumprelu" },
  levels(cfg) {
    const w = cfg.matryoshkaWidths;
    const mult = cfg.innerLossMultiplier;
    return w.map((width, i) =>
      i === w.length - 1
        ? { width, multiplier: 1, lossName: "mse" }
        : { width, multiplier: Array.isArray(mult) ? mult[i]! : mult ** (w.length - 1 - i), lossName: `inner_mse_${width}` },
    );
  },
  activateTrain: activateBatchTopK,
  fusedSelect: fusedBatchTopK,
  activateInfer: inferBatchTopK,
  residualTerms(ctx) {
    auxkTerm(ctx, (ctx.sae.config as MatryoshkaBatchTopKConfig).auxLossCoefficient);
  },
  commit: commitBatchTopK,
};
