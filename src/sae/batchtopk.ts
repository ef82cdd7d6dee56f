/**
 * `batchtopk`: the k * batch largest positive pre-activations of the whole batch are kept (Bussmann
 * et al. 2024; SAELens BatchTopKTrainingSAE), with the AuxK loss. For inference a single threshold
 * is learned as a running estimate: after each step it moves toward the smallest kept activation,
 *   threshold <- (1 - topkThresholdLr) * threshold + topkThresholdLr * min_kept,
 * and the SAE is saved as a SAELens `jumprelu` with that threshold for every latent, as SAELens does.
 */
import { z } from "zod";
import type { EncodeSelect, Kernels, SparseRows } from "../tensor/kernels.js";
import type { ArchitectureDef, SaeCore, StepCtx } from "./arch.js";
import { scratchF32 } from "./arch.js";
import { auxkActive, auxkTerm } from "./auxk.js";
import { auxLossCoefficientField, baseShape, checkBase, normalizeDecoderField } from "./config.js";

export const batchTopKShape = {
  ...baseShape,
  normalizeDecoder: normalizeDecoderField(true),
  k: z.number().positive().refine(Number.isFinite, "must be finite").describe("Mean number of latents kept per sample (k * batch are kept over the batch)."),
  topkThresholdLr: z
    .number()
    .gt(0)
    .max(1)
    .default(0.01)
    .describe("Rate of the running estimate of the inference threshold (SAELens topk_threshold_lr)."),
  auxLossCoefficient: auxLossCoefficientField,
} as const;

export const BatchTopKConfigSchema = z
  .object({
    architecture: z.literal("batchtopk").describe("Batch-level top-k latents; saved as jumprelu with a learned threshold."),
    ...batchTopKShape,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    checkBase(cfg, ctx);
    if (cfg.k > cfg.dSae) ctx.addIssue({ code: "custom", path: ["k"], message: `must be at most dSae (${cfg.dSae})` });
  });
export type BatchTopKConfig = z.infer<typeof BatchTopKConfigSchema>;

interface BatchTopKLike {
  k: number;
  topkThresholdLr: number;
  auxLossCoefficient: number;
}

/** Training nonlinearity shared with Matryoshka: keeps floor(k * batch) entries of the batch. */
export function activateBatchTopK(ctx: StepCtx): void {
  const cfg = ctx.sae.config as unknown as BatchTopKLike;
  ctx.kernels.topkBatch(ctx.ws.pre, ctx.batch, ctx.sae.dSae, Math.floor(cfg.k * ctx.batch), ctx.ws.acts);
}

/**
 * The same nonlinearity for the encoder kernel, with the cut it suggested last step to try first (the
 * result does not depend on it); the pre-activations are kept only when AuxK needs them.
 */
export function fusedBatchTopK(ctx: StepCtx): { select: EncodeSelect; keepPre: boolean } {
  const cfg = ctx.sae.config as unknown as BatchTopKLike;
  const guess = scratchF32(ctx.ws, "batchtopk:guess", 1);
  return { select: { kind: "topkBatch", total: Math.floor(cfg.k * ctx.batch), guess }, keepPre: auxkActive(ctx, cfg.auxLossCoefficient) };
}

/** Inference nonlinearity: JumpReLU with the running threshold for every latent. */
export function inferBatchTopK(sae: SaeCore, kernels: Kernels, pre: Float32Array, rows: number, out: SparseRows): SparseRows {
  const t = sae.scratch("batchtopk:threshold", sae.dSae);
  t.fill(Math.max(0, sae.state.topkThreshold));
  return kernels.sparsifyAbove(pre, rows, sae.dSae, out, t);
}

/** Moves the running threshold toward the smallest kept activation of this step. */
export function commitBatchTopK(sae: SaeCore, ctx: StepCtx): void {
  const cfg = sae.config as unknown as BatchTopKLike;
  const a = ctx.ws.acts;
  if (a.nnz === 0) return;
  let min = Infinity;
  for (let e = 0; e < a.nnz; e++) if (a.values[e]! < min) min = a.values[e]!;
  const lr = cfg.topkThresholdLr;
  sae.state.topkThreshold = (1 - lr) * sae.state.topkThreshold + lr * min;
}

export const batchtopk: ArchitectureDef<BatchTopKConfig> = {
  id: "batchtopk",
  schema: BatchTopKConfigSchema,
  summary: "batch-level top-k with a learned inference threshold (saved as jumprelu)",
  hasThresholdParam: false,
  sparsityParameter: "k",
  saelens: {
    architecture: "jumprelu",
    trainingDetails: (cfg) => ({ k: cfg.k, topk_threshold_lr: cfg.topkThresholdLr, aux_loss_coefficient: cfg.auxLossCoefficient, rescale_acts_by_decoder_norm: false }),
  },
  refit: { architecture: "jumprelu" },
  levels: (cfg) => [{ width: cfg.dSae, multiplier: 1, lossName: "mse" }],
  activateTrain: activateBatchTopK,
  fusedSelect: fusedBatchTopK,
  activateInfer: inferBatchTopK,
  residualTerms(ctx) {
    auxkTerm(ctx, (ctx.sae.config as BatchTopKConfig).auxLossCoefficient);
  },
  commit: commitBatchTopK,
};
