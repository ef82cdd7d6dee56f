/**
 * The evaluation stream shared by `saelab eval` and `saelab demo`: n samples drawn from
 * `world.sampler(seed)` in batches of 4096, shown once to every SAE. Both commands go through
 * `evaluateOnWorld`, so an SAE saved by the demo and re-measured by `saelab eval` with the same
 * world, n and seed gets the same numbers.
 */
import type { Kernels } from "../tensor/kernels.js";
import type { World, WorldBatch } from "../toy/types.js";
import type { SaeModel } from "../sae/types.js";
import { evaluateSaes, sampleBatches, type EvalOptionsInput } from "../metrics/evaluate.js";
import type { SaeEvaluation } from "../metrics/schemas.js";

/** Default evaluation-set size. */
export const DEFAULT_EVAL_SAMPLES = 50_000;
/** Default seed of the evaluation stream (distinct from the training seeds the CLIs default to). */
export const DEFAULT_EVAL_SEED = 12345;
/** Samples per evaluation batch. */
export const EVAL_BATCH = 4096;

/** Options of `evaluateOnWorld`. */
export interface EvaluateOnWorldOptions {
  /** Number of evaluation samples. */
  n: number;
  /** Seed of the evaluation stream. */
  seed: number;
  /** Metric options (main latents, SAEBench thresholds, ...). */
  options?: EvalOptionsInput;
  /** Called after each batch with the samples done so far (progress bars). */
  onProgress?: (done: number, total: number) => void;
}

/** Returns the evaluation of each SAE on the same n samples of `world.sampler(seed)`. */
export function evaluateOnWorld(saes: readonly SaeModel[], world: World, o: EvaluateOnWorldOptions, kernels?: Kernels): SaeEvaluation[] {
  for (const sae of saes) {
    if (sae.dIn !== world.dModel) throw new Error(`the SAE's dIn (${sae.dIn}) differs from the world's dModel (${world.dModel})`);
  }
  return evaluateSaes(saes, world, withProgress(sampleBatches(world.sampler(o.seed), o.n, EVAL_BATCH), o.n, o.onProgress), o.options ?? {}, kernels);
}

function* withProgress(batches: Iterable<WorldBatch>, total: number, onProgress?: (done: number, total: number) => void): Generator<WorldBatch> {
  let done = 0;
  for (const b of batches) {
    yield b;
    done += b.batch;
    onProgress?.(done, total);
  }
}
