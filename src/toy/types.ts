/**
 * The shapes that toy worlds hand to the rest of saelab. The world module (config schema, generator,
 * sampler) implements them; metrics and experiments read only these.
 */
import type { SparseRows } from "../tensor/kernels.js";

/** One batch drawn from a world. */
export interface WorldBatch {
  batch: number;
  dModel: number;
  nFeatures: number;
  /** [batch, dModel]: sum over firing features of magnitude * direction, plus the bias. */
  acts: Float32Array;
  /** [batch, nFeatures] sparse: the true features that fired in each sample and their magnitudes (> 0). */
  features: SparseRows;
}

/** The ground truth of a world: everything metrics may compare an SAE against. */
export interface WorldTruth {
  nFeatures: number;
  dModel: number;
  /** [nFeatures, dModel], unit rows. */
  featureVectors: Float32Array;
  /** [dModel], added to every sample. */
  bias: Float32Array;
  /** [nFeatures]: parent feature index, or -1 for roots and independent features. */
  parent: Int32Array;
  /** For each feature, its children (empty for leaves). */
  children: readonly (readonly number[])[];
  /** [nFeatures]: 1 when the feature's children are mutually exclusive. */
  mutuallyExclusive: Uint8Array;
  /** [nFeatures]: the configured marginal firing probability of each feature. */
  firingProbability: Float64Array;
  /** [nFeatures]: the configured mean magnitude of each feature when it fires. */
  magnitudeMean: Float64Array;
}

/** A stream of batches from a world, deterministic given its seed. */
export interface WorldSampler {
  /** Draws the next batch of `batch` samples. */
  next(batch: number): WorldBatch;
}

/** A built world: its ground truth plus a way to draw batches. Created by `createWorld(config)` in src/toy/world.ts. */
export interface World extends WorldTruth {
  /** The validated config this world was built from (JSON-serialisable). */
  readonly config: unknown;
  /** Returns a fresh sampler whose stream depends only on `seed` (and the world). */
  sampler(seed: number): WorldSampler;
}
