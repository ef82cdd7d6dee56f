/**
 * The settings of the first-letter absorption eval. `AbsorptionEvalConfigSchema` is SAEBench's
 * `AbsorptionEvalConfig` (sae_bench/evals/absorption/eval_config.py) field for field, with its names
 * and defaults, so the JSON output's `eval_config` is what SAEBench writes. `ProbeSettingsSchema`
 * holds what SAEBench fixes in code (the ground-truth probe's optimiser, the 80/20 word split, ten
 * in-context examples) and saelab exposes.
 */
import { z } from "zod";
import { seed } from "../schema.js";

/** SAEBench's AbsorptionEvalConfig, with its defaults. */
export const AbsorptionEvalConfigSchema = z
  .object({
    model_name: z.string().default("").describe("Model name (recorded in the output)."),
    random_seed: seed().default(42).describe("Random seed (word split, in-context examples, probe shuffles)."),
    f1_jump_threshold: z.number().min(0).default(0.03).describe("k-sparse probing: a latent joins a letter's main latents when F1 rises by more than this."),
    max_k_value: z.number().int().min(1).default(10).describe("Largest k of the k-sparse probes."),
    prompt_template: z.string().default("{word} has the first letter:").describe("Prompt template; {word} is replaced by the word."),
    prompt_token_pos: z.number().int().max(-1).default(-6).describe("Token position read, from the end (SAEBench's -6 is the word's token in GPT-2/Gemma tokenizations; saelab maps it to the word's token in any tokenizer, see docs)."),
    llm_batch_size: z.number().int().min(1).default(10).describe("Prompts per forward pass."),
    llm_dtype: z.enum(["float32"]).default("float32").describe("LM dtype (saelab computes in float32)."),
    k_sparse_probe_l1_decay: z.number().min(0).default(0.01).describe("L1 penalty of the k-sparse ranking probe."),
    k_sparse_probe_batch_size: z.number().int().min(1).default(4096).describe("Rows per Adam step of the k-sparse ranking probe."),
    k_sparse_probe_num_epochs: z.number().int().min(1).default(50).describe("Epochs of the k-sparse ranking probe."),
    min_GT_probe_f1: z.number().min(0).max(1).default(0.6).describe("Letters whose ground-truth probe has test F1 at or below this are skipped."),
    min_feats_for_eval: z.number().int().min(1).default(20).describe("At least this many letters must pass min_GT_probe_f1 for the eval to count (SAEBench stops otherwise)."),
    eval_k_sparse_probe_batch_size: z.number().int().min(1).default(24).describe("Rows per batch when scoring k-sparse probes (recorded; saelab scores all rows at once)."),
    precalc_k_sparse_probe_sae_acts: z.boolean().default(false).describe("Recorded for SAEBench; saelab always encodes the probe rows once."),
  })
  .strict();
export type AbsorptionEvalConfig = z.infer<typeof AbsorptionEvalConfigSchema>;

/** What SAEBench fixes in code, exposed. */
export const ProbeSettingsSchema = z
  .object({
    probe_num_epochs: z.number().int().min(1).default(50).describe("Epochs of the ground-truth letter probe (SAEBench: 50)."),
    probe_batch_size: z.number().int().min(1).default(64).describe("Rows per Adam step of the ground-truth probe (SAEBench: 64)."),
    probe_lr: z.number().positive().default(0.01).describe("Initial learning rate of the ground-truth probe (SAEBench: 0.01, decayed to 1e-5)."),
    probe_weight_decay: z.number().min(0).default(1e-4).describe("L2 term of the ground-truth probe (SAEBench: 1e-4)."),
    train_test_fraction: z.number().gt(0).lt(1).default(0.8).describe("Share of the words that train the probes (SAEBench: 0.8)."),
    max_icl_examples: z.number().int().min(0).default(10).describe("In-context examples before the word (SAEBench: 10)."),
    max_words: z.number().int().min(0).default(0).describe("Use at most this many vocabulary words, drawn with random_seed (0: all, as SAEBench)."),
  })
  .strict();
export type ProbeSettings = z.infer<typeof ProbeSettingsSchema>;

/** SAEBench's absorption thresholds (feature_absorption.py), fixed there and here. */
export const ABSORPTION_THRESHOLDS = {
  fullAbsorptionCosThreshold: 0.025,
  absorptionFractionCosThreshold: 0.1,
  projectionShareThreshold: 0.4,
  maxAbsorbingLatents: 3,
} as const;

/** SAEBench's default prompt_token_pos: the word's token under GPT-2/Gemma tokenizers of the default template. */
export const SAEBENCH_WORD_POS = -6;
