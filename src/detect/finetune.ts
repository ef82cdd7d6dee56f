/**
 * Mitigation by a short fine-tune instead of a transform: the trained SAE's weights become the start
 * of a `tie_loss` SAE of the same architecture (src/sae/tying.ts pulls each encoder column toward its
 * decoder row), trained for a few steps on the same data. The tying loss targets the encoder half of
 * absorption: an absorbed parent's encoder carves its children out (negative components along them)
 * while its decoder row does not, so pulling the two together removes the carve. Unlike the exact
 * transform, reconstructions change; the comparison with ground truth is the caller's.
 */
import { UserError } from "../errors.js";
import type { Kernels } from "../tensor/kernels.js";
import { Sae } from "../sae/model.js";
import { resolveSaeConfig, SaeConfigSchema } from "../sae/registry.js";
import { TrainConfigSchema } from "../train/config.js";
import { runTraining } from "../train/run.js";
import type { TrainingStream } from "../train/stream.js";

/** Settings of a tying fine-tune. */
export interface FineTuneOptions {
  steps: number;
  /** Samples per step. */
  batchSize: number;
  lr: number;
  /** Weight of the tying loss. */
  coefficient: number;
  form?: "cosine" | "squared";
  /** Seed of the data stream (default 0). */
  seed?: number;
}

/** Returns a copy of `sae` as a tie_loss SAE fine-tuned for `opts.steps` steps on `data`, drawn at `opts.batchSize` with `opts.seed` (the original is untouched). */
export function fineTuneTied(sae: Sae, data: TrainingStream, opts: FineTuneOptions, kernels: Kernels): Sae {
  if (sae.tied) throw new UserError(`the SAE is already tied (${sae.config.tying}); a tying fine-tune would change nothing`);
  const base = sae.config as Record<string, unknown>;
  const raw: Record<string, unknown> = {
    ...base,
    name: `${sae.name}-tie-finetuned`,
    tying: "tie_loss",
    tieLoss: { coefficient: opts.coefficient, form: opts.form ?? "cosine" },
    // b_dec is already trained; the sparsity penalty is already at full strength.
    bDecInit: "zeros",
  };
  if (sae.def.penalty) raw[sae.def.penalty.warmUpSteps] = 0;
  const config = resolveSaeConfig(SaeConfigSchema.parse(raw), sae.dIn);
  const out = new Sae(kernels, config);
  const p = out.params;
  p.W_enc!.set(sae.encoderWeights());
  p.W_dec.set(sae.params.W_dec);
  p.b_enc.set(sae.params.b_enc);
  p.b_dec.set(sae.params.b_dec);
  if (p.threshold && sae.params.threshold) p.threshold.set(sae.params.threshold);
  out.state.topkThreshold = sae.state.topkThreshold;
  const trainConfig = TrainConfigSchema.parse({ steps: opts.steps, batchSize: opts.batchSize, lr: opts.lr, seed: opts.seed ?? 0, checkpointEvery: 0, logEvery: opts.steps });
  return runTraining({ kernels, start: [out], train: trainConfig, data }).saes[0]!;
}
