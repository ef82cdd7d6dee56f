import { describe, expect, it } from "vitest";
import { evaluateSae, evaluateSaes, sampleBatches, SaeEvaluator } from "../src/metrics/evaluate.js";
import type { WorldBatch, WorldSampler } from "../src/toy/types.js";
import { Rng } from "../src/tensor/rng.js";
import { handSae } from "./helpers/hand-sae.js";
import { basis, handBatch, handWorld } from "./helpers/hand-world.js";

const D = 4;
const world = handWorld({ features: [0, 1, 2, 3].map((i) => basis(D, i)), parent: [-1, 0, 0, -1] });

/** A random sampler over the hand world: parent 0 fires with p 0.5, then one of its children with p 0.6; feature 3 independently. */
function sampler(seed: number): WorldSampler {
  const rng = new Rng(seed);
  return {
    next(batch: number): WorldBatch {
      const samples: Record<number, number>[] = [];
      for (let r = 0; r < batch; r++) {
        const s: Record<number, number> = {};
        if (rng.bernoulli(0.5)) {
          s[0] = rng.uniformIn(0.5, 1.5);
          if (rng.bernoulli(0.6)) s[1 + rng.int(2)] = rng.uniformIn(0.5, 1.5);
        }
        if (rng.bernoulli(0.3)) s[3] = rng.uniformIn(0.5, 1.5);
        samples.push(s);
      }
      return handBatch(world, samples);
    },
  };
}

// A threshold (JumpReLU) SAE with a mildly absorbing parent latent, and a ReLU one with a shifted decoder.
const jump = handSae({
  encoder: [[1, -0.7, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0.3, 0.3, 0.3, 0.3]],
  decoder: [[1, 0, 0, 0], [0.6, 0.8, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0.5, 0.5, 0.5, 0.5]],
  threshold: [0.2, 0.2, 0.2, 0.2, 5],
});
const relu = handSae({ encoder: [0, 1, 2, 3].map((i) => basis(D, i)), decoder: [[0.9, 0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], b_enc: [-0.1, 0, 0, 0] });

describe("evaluation driver", () => {
  it("sampleBatches draws exactly n samples in bounded batches", () => {
    const sizes = [...sampleBatches(sampler(1), 10, 4)].map((b) => b.batch);
    expect(sizes).toEqual([4, 4, 2]);
    expect([...sampleBatches(sampler(1), 0, 4)]).toEqual([]);
    expect(() => [...sampleBatches(sampler(1), 5, 0)]).toThrow(/batchSize/);
  });

  it("evaluates several SAEs on one stream exactly as on separate identical streams", () => {
    const together = evaluateSaes([jump, relu], world, sampleBatches(sampler(9), 3000, 512));
    const alone = [jump, relu].map((s) => evaluateSae(s, world, sampleBatches(sampler(9), 3000, 512)));
    expect(together).toEqual(alone);
    // The threshold SAE's dead latent 4 (threshold 5) is reported as dead, and its absorption is partial:
    // the parent latent reads m0 - 0.7 m1 when child 1 fires, so it is weaker (or silent) there.
    expect(together[0]!.sparsity.deadLatents).toEqual([4]);
    const e1 = together[0]!.absorption.parents[0]!.edges[0]!;
    expect(e1.child).toBe(1);
    expect(e1.partialRatio!).toBeLessThan(0.75);
    expect(e1.fullAbsorption!).toBeGreaterThan(0.05);
    expect(together[0]!.absorption.parents[0]!.edges[1]!.fullAbsorption).toBe(0);
  });

  it("accepts precomputed latents and reconstructions and matches the SaeModel path", () => {
    const batches = [...sampleBatches(sampler(4), 800, 256)];
    const viaModel = evaluateSae(relu, world, batches);
    const ev = new SaeEvaluator({ architecture: "standard", tied: false, dIn: D, dSae: 4, W_dec: relu.W_dec, W_enc: relu.encoderWeights() }, world);
    for (const b of batches) {
      const latents = relu.encode(b.acts, b.batch);
      ev.add({ batch: b.batch, x: b.acts, xHat: relu.decode(latents), latents, features: b.features });
    }
    expect(ev.finish()).toEqual(viaModel);
    const bad = relu.encode(batches[0]!.acts, batches[0]!.batch);
    bad.values[3] = NaN;
    expect(() => ev.add({ batch: bad.rows, x: batches[0]!.acts, xHat: relu.decode(bad), latents: bad, features: batches[0]!.features })).toThrow(/activation NaN/);
    expect(() => ev.add({ batch: 1, x: new Float32Array(D), xHat: new Float32Array(D), latents: relu.encode(new Float32Array(D), 1), features: handBatch(handWorld({ features: [basis(D, 0)], parent: [-1] }), [{}]).features })).toThrow(/true features are \[1, 1\], expected \[1, 4\]/);
  });
});
