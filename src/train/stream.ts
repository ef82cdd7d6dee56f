/**
 * Where training batches come from: one stream type for every caller of the trainer (the CLI, the
 * sweep and demo workers, the tying fine-tune). A stream hands out the batches of steps s, s + 1,
 * ... for a batch size and seed, and the batch of step s must not depend on where it started, so a
 * resumed run sees what an uninterrupted one saw.
 */
import { mixSeed } from "../tensor/rng.js";

/** A deterministic stream of [batchSize, dIn] training batches. */
export interface TrainingStream {
  /** Input width of every batch. */
  readonly dIn: number;
  /** Returns the batches of steps fromStep, fromStep + 1, ... (each [batchSize, dIn]). */
  batches(fromStep: number, batchSize: number, seed: number): Iterable<Float32Array>;
}

/** Returns a seekable stream whose step-s batch is `batchAt(s, batchSize, seed)`: resuming replays nothing. */
export function stepStream(dIn: number, batchAt: (step: number, batchSize: number, seed: number) => Float32Array): TrainingStream {
  return {
    dIn,
    *batches(fromStep, batchSize, seed) {
      for (let s = fromStep; ; s++) yield batchAt(s, batchSize, seed);
    },
  };
}

/**
 * Returns the training stream of a world: step s's batch is `world.sampler(mixSeed(seed, s))`, as
 * `saelab train`, the demo, the sweeps and the tying fine-tune all draw it.
 */
export function worldStream(world: { readonly dModel: number; sampler(seed: number): { next(n: number): { acts: Float32Array } } }): TrainingStream {
  return stepStream(world.dModel, (s, batchSize, seed) => world.sampler(mixSeed(seed, s)).next(batchSize).acts);
}

/**
 * Returns a stream over a deterministic sequence that cannot seek (e.g. shuffled activation shards,
 * `(batchSize, seed) => dataset.batches({ batchSize, seed, shuffle: true })`): starting at step s
 * reads and skips the first s batches.
 */
export function sequentialStream(dIn: number, open: (batchSize: number, seed: number) => Iterable<Float32Array>): TrainingStream {
  return {
    dIn,
    *batches(fromStep, batchSize, seed) {
      let s = 0;
      for (const x of open(batchSize, seed)) if (s++ >= fromStep) yield x;
    },
  };
}
