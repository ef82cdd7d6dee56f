/**
 * What the trainer reports, as plain JSON-serialisable events sent to an injected sink (a JSONL file
 * in the CLI, an array in tests, nothing by default) instead of hard-wired logging.
 */
import { UserError } from "../errors.js";

/** Per-SAE figures of one step. */
export interface SaeStepStats {
  name: string;
  /** Total loss (sum of `losses`). */
  loss: number;
  /** Named, weighted loss terms. */
  losses: Record<string, number>;
  /** Mean active latents per sample. */
  l0: number;
  /** Latents that have not fired within the dead-latent window. */
  dead: number;
  lr: number;
  /** 1 - mse / (mean over the batch of ||x - mean(x)||^2): the explained variance of the step's batch, before the update. */
  explainedVariance?: number;
  /** Current sparsity coefficient (after warm-up), when the architecture has one. */
  coefficient?: number;
  /** BatchTopK family: the running inference threshold. */
  threshold?: number;
}

export type TrainEvent =
  | {
      type: "start";
      step: number;
      steps: number;
      batchSize: number;
      backend: string;
      resumed: boolean;
      saes: { name: string; architecture: string; tying: string; dIn: number; dSae: number; parameters: number }[];
    }
  | { type: "step"; step: number; tokens: number; tokensPerSec: number; flopsPerStep: number; saes: SaeStepStats[] }
  | { type: "checkpoint"; step: number }
  | { type: "diverged"; step: number; sae: string; losses: Record<string, number> }
  | { type: "end"; step: number; tokens: number; seconds: number; reason: "done" | "data exhausted" };

/** Receives training events. */
export type EventSink = (event: TrainEvent) => void;

/** A training run stopped because a loss became NaN or infinite. */
export class TrainingDivergedError extends UserError {
  constructor(
    readonly sae: string,
    readonly step: number,
    readonly losses: Record<string, number>,
    readonly inputFinite: boolean,
  ) {
    const bad = Object.entries(losses)
      .filter(([, v]) => !Number.isFinite(v))
      .map(([k, v]) => `${k} = ${v}`)
      .join(", ");
    super(
      `training diverged: SAE "${sae}" has a non-finite loss at step ${step} (${bad || "total"})` +
        (inputFinite ? "; lower the learning rate or the sparsity coefficient" : "; the input batch itself contains NaN or Inf values"),
    );
  }
}
