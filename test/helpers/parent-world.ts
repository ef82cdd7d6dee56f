/**
 * The small absorption world two end-to-end tests train on: 8 orthogonal features in 20 dimensions;
 * feature 0 (p 0.25, magnitude 1 +- 0.15) is the parent of mutually exclusive children 1, 2, 3 (one
 * of them with p 0.6 when the parent fires); features 4..7 fire independently with p 0.05.
 */
import type { WorldBatch, WorldSampler } from "../../src/toy/types.js";
import { Rng } from "../../src/tensor/rng.js";
import { basis, handBatch, handWorld } from "./hand-world.js";

export const PARENT_WORLD_D = 20;
const NF = 8;
export const parentWorld = handWorld({ features: Array.from({ length: NF }, (_, i) => basis(PARENT_WORLD_D, i)), parent: [-1, 0, 0, 0, -1, -1, -1, -1], mutuallyExclusive: [0] });

/** Returns a seeded sampler of parentWorld. */
export function parentWorldSampler(seed: number): WorldSampler {
  const rng = new Rng(seed);
  return {
    next(batch: number): WorldBatch {
      const samples: Record<number, number>[] = [];
      for (let r = 0; r < batch; r++) {
        const s: Record<number, number> = {};
        if (rng.bernoulli(0.25)) {
          s[0] = 1 + 0.15 * rng.normal();
          if (rng.bernoulli(0.6)) s[1 + rng.int(3)] = 1 + 0.15 * rng.normal();
        }
        for (let f = 4; f < NF; f++) if (rng.bernoulli(0.05)) s[f] = 1 + 0.15 * rng.normal();
        samples.push(s);
      }
      return handBatch(parentWorld, samples);
    },
  };
}
