/**
 * Config pieces shared by every architecture: sizes, tying, decoder constraint, initialisation.
 * Each architecture file extends `baseShape` with its own fields; `checkBase` holds the cross-field
 * rules every architecture shares (reported as errors, never silently fixed).
 */
import { z } from "zod";

/** How the encoder relates to the decoder. */
export const TyingSchema = z
  .enum(["untied", "tied", "tied_gain", "tie_loss"])
  .describe(
    "Weight tying: untied (separate W_enc and W_dec); tied (one [dSae, dIn] matrix, W_enc = W_dec^T); " +
      "tied_gain (tied, with a learned per-latent encoder gain); tie_loss (untied, plus a loss pulling each encoder column toward its decoder row).",
  );
export type Tying = z.infer<typeof TyingSchema>;

/** The tying loss of the `tie_loss` variant. */
export const TieLossSchema = z
  .object({
    coefficient: z.number().min(0).refine(Number.isFinite, "must be finite").describe("Weight of the tying loss in the total loss."),
    form: z
      .enum(["cosine", "squared"])
      .default("cosine")
      .describe("cosine: mean over latents of 1 - cos(W_enc[:, j], W_dec[j]); squared: mean over latents of ||W_enc[:, j] - W_dec[j]||^2."),
  })
  .strict();
export type TieLoss = z.infer<typeof TieLossSchema>;

const positiveInt = () => z.number().int().positive();
const finiteNonNeg = () => z.number().min(0).refine(Number.isFinite, "must be finite");

/** Returns the default of `normalizeDecoder` for an architecture family, as a schema field. */
export function normalizeDecoderField(defaultValue: boolean) {
  return z
    .boolean()
    .default(defaultValue)
    .describe("Keep decoder rows at unit norm: the optimizer projects out the radial gradient and renormalises after each step (ConstrainedAdam).");
}

/** Fields every architecture's config has. */
export const baseShape = {
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '.', '_' or '-' (it names an output directory)")
    .optional()
    .describe("Name of this SAE (its output subdirectory when several are trained together). Defaults to <architecture>-<tying>."),
  dIn: positiveInt().optional().describe("Input width; when omitted it is taken from the training data (the world's dModel)."),
  dSae: positiveInt().describe("Number of latents."),
  tying: TyingSchema.default("untied"),
  tieLoss: TieLossSchema.optional().describe(
    'Tying-loss settings {"coefficient": c, "form": "cosine" | "squared"} (mean over latents); required when tying is tie_loss, and only allowed then.',
  ),
  applyBDecToInput: z.boolean().default(true).describe("Subtract b_dec from the input before encoding (SAELens apply_b_dec_to_input)."),
  decoderInitNorm: z
    .number()
    .positive()
    .optional()
    .describe("Norm of each decoder row at initialisation (SAELens decoder_init_norm). Default 0.1, or 1 when normalizeDecoder is on (it must then be 1)."),
  bDecInit: z
    .enum(["zeros", "mean", "geometric_median"])
    .default("geometric_median")
    .describe("How b_dec is initialised from the first training batch."),
  lr: z.number().positive().optional().describe("Learning rate for this SAE, overriding the training run's lr."),
  // Each architecture restates this field with its own default; it stays last, where that restatement puts it.
  normalizeDecoder: normalizeDecoderField(false),
} as const;


/** Shared sparsity-coefficient warm-up field. */
export function warmUpField(what: string) {
  return z.number().int().min(0).default(0).describe(`Steps over which the ${what} coefficient rises linearly from 0 to its value.`);
}

/** Shared AuxK coefficient field (TopK family). */
export const auxLossCoefficientField = finiteNonNeg()
  .default(1)
  .describe("Weight of the AuxK loss that makes dead latents reconstruct the residual (SAELens aux_loss_coefficient).");

/** The fields of `baseShape` after parsing. */
export type BaseConfig = z.output<z.ZodObject<typeof baseShape>>;

/** Adds the cross-field issues shared by every architecture to `ctx`. */
export function checkBase(cfg: BaseConfig, ctx: z.RefinementCtx): void {
  if (cfg.tying === "tie_loss" && !cfg.tieLoss) {
    ctx.addIssue({ code: "custom", path: ["tieLoss"], message: 'required when tying is "tie_loss" (e.g. {"coefficient": 0.1, "form": "cosine"})' });
  }
  if (cfg.tying !== "tie_loss" && cfg.tieLoss) {
    ctx.addIssue({ code: "custom", path: ["tieLoss"], message: `only allowed when tying is "tie_loss" (tying is "${cfg.tying}")` });
  }
  if (cfg.normalizeDecoder && cfg.decoderInitNorm !== undefined && cfg.decoderInitNorm !== 1) {
    ctx.addIssue({ code: "custom", path: ["decoderInitNorm"], message: "must be 1 (or omitted) when normalizeDecoder is true" });
  }
}

/** Returns the decoder-row norm used at initialisation. */
export function resolvedDecoderInitNorm(cfg: BaseConfig): number {
  return cfg.decoderInitNorm ?? (cfg.normalizeDecoder ? 1 : 0.1);
}

/** Returns the SAE's display name: its configured name or `<architecture>-<tying>`. */
export function saeName(cfg: BaseConfig & { architecture: string }): string {
  return cfg.name ?? `${cfg.architecture}-${cfg.tying}`;
}
