/**
 * `topk`: each sample keeps its k largest positive pre-activations (SAELens TopKTrainingSAE), with
 * the AuxK loss for dead latents. Decoder rows are kept at unit norm by default (the optimizer's
 * constraint), which is what SAELens's rescale_acts_by_decoder_norm emulates; the saved SAE therefore
 * has rescale_acts_by_decoder_norm false and needs no folding.
 */
import { z } from "zod";
import type { ArchitectureDef, SaeCore } from "./arch.js";
import { auxkActive, auxkTerm } from "./auxk.js";
import { auxLossCoefficientField, baseShape, checkBase, normalizeDecoderField } from "./config.js";

export const TopKConfigSchema = z
  .object({
    architecture: z.literal("topk").describe("Per-sample top-k latents, AuxK loss for dead latents."),
    ...baseShape,
    normalizeDecoder: normalizeDecoderField(true),
    k: z.number().int().positive().describe("Number of latents kept per sample."),
    auxLossCoefficient: auxLossCoefficientField,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    checkBase(cfg, ctx);
    if (cfg.k > cfg.dSae) ctx.addIssue({ code: "custom", path: ["k"], message: `must be at most dSae (${cfg.dSae})` });
  });
export type TopKConfig = z.infer<typeof TopKConfigSchema>;

export const topk: ArchitectureDef<TopKConfig> = {
  id: "topk",
  schema: TopKConfigSchema,
  summary: "per-sample top-k latents with the AuxK dead-latent loss",
  hasThresholdParam: false,
  sparsityParameter: "k",
  saelens: {
    architecture: "topk",
    fields: (sae) => ({ k: sae.config.k, rescale_acts_by_decoder_norm: false }),
    trainingDetails: (cfg) => ({ k: cfg.k, aux_loss_coefficient: cfg.auxLossCoefficient, rescale_acts_by_decoder_norm: false }),
    // SAELens keeps no decoder constraint; a rescaling SAE has its norms folded in when it is read.
    load: (_cfg, positiveInt) => ({ k: positiveInt("k"), normalizeDecoder: false }),
    own: { cfgFields: { k: null, rescale_acts_by_decoder_norm: false } },
  },
  refit: { refused: "its fixed k cannot let a parent fire in addition to its absorbers" },
  levels: (cfg) => [{ width: cfg.dSae, multiplier: 1, lossName: "mse" }],
  activateTrain(ctx) {
    const cfg = ctx.sae.config as TopKConfig;
    ctx.kernels.topkRows(ctx.ws.pre, ctx.batch, ctx.sae.dSae, cfg.k, ctx.ws.acts);
  },
  fusedSelect(ctx) {
    const cfg = ctx.sae.config as TopKConfig;
    return { select: { kind: "topk", k: cfg.k }, keepPre: auxkActive(ctx, cfg.auxLossCoefficient) };
  },
  activateInfer(sae: SaeCore<TopKConfig>, kernels, pre, rows, out) {
    return kernels.topkRows(pre, rows, sae.dSae, sae.config.k, out);
  },
  residualTerms(ctx) {
    auxkTerm(ctx, (ctx.sae.config as TopKConfig).auxLossCoefficient);
  },
};
