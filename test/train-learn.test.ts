/**
 * Slow (SAELAB_SLOW=1): SAEs trained on a toy stream of 10 orthogonal sparse features recover them.
 * A check of the whole engine (initialisation, losses, gradients, Adam, constraints) doing its job,
 * with a generous threshold: every true feature has a decoder row within cos 0.95.
 */
import { describe, expect, it } from "vitest";
import { Rng, mixSeed } from "../src/tensor/rng.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { createTrainer, train } from "../src/train/trainer.js";
import { stepStream } from "../src/train/stream.js";
import { kernels } from "./sae-fixtures.js";

const n = 16;
const F = 10;
const B = 256;

function batchAt(s: number): Float32Array {
  const r = new Rng(mixSeed(1, s));
  const x = new Float32Array(B * n);
  for (let b = 0; b < B; b++) for (let f = 0; f < F; f++) if (r.bernoulli(0.1)) x[b * n + f]! += 1 + 0.2 * r.normal();
  return x;
}

describe.skipIf(!process.env.SAELAB_SLOW)("training recovers orthogonal toy features", () => {
  it("standard (every tying variant), batchtopk and matryoshka_batchtopk", () => {
    const saes = [
      { architecture: "standard", name: "std", dSae: 16, l1Coefficient: 0.05 },
      { architecture: "standard", name: "std-tied", dSae: 16, tying: "tied", l1Coefficient: 0.05 },
      { architecture: "standard", name: "std-gain", dSae: 16, tying: "tied_gain", l1Coefficient: 0.05 },
      { architecture: "standard", name: "std-tie", dSae: 16, tying: "tie_loss", tieLoss: { coefficient: 0.1 }, l1Coefficient: 0.05 },
      { architecture: "batchtopk", name: "btk", dSae: 16, k: 1 },
      { architecture: "matryoshka_batchtopk", name: "mat", dSae: 16, k: 1, matryoshkaWidths: [4, 16] },
    ].map((c) => SaeConfigSchema.parse(c));
    const t = createTrainer(kernels, saes, TrainConfigSchema.parse({ steps: 3000, batchSize: B, lr: 3e-3, deadLatentWindow: 200 }), n);
    train({ trainer: t, data: stepStream(n, batchAt) });
    for (const r of t.runs) {
      const W = r.sae.W_dec;
      for (let f = 0; f < F; f++) {
        let best = 0;
        for (let j = 0; j < r.sae.dSae; j++) best = Math.max(best, W[j * n + f]! / Math.hypot(...W.subarray(j * n, (j + 1) * n)));
        expect(best, `${r.sae.name}, feature ${f}`).toBeGreaterThan(0.95);
      }
    }
  });
});
