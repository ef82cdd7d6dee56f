/**
 * `saelab absorption --demo`'s training half: the hook's activations over a corpus, and a standard
 * and a topk SAE trained on them from one stream of shuffled batches (step s draws its rows with
 * mixSeed(seed, s), so the two SAEs see identical batches).
 */
import type { Kernels } from "../tensor/kernels.js";
import { mixSeed, Rng } from "../tensor/rng.js";
import type { Sae } from "../sae/model.js";
import { SaeConfigSchema } from "../sae/registry.js";
import { stepStream } from "../train/stream.js";
import { createTrainer, train } from "../train/trainer.js";
import type { ProbeLm } from "./first-letter-lm.js";

/** Sizes of the demo's SAEs. */
export interface DemoSaeSettings {
  dSae: number;
  l1Coefficient: number;
  k: number;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
}

/** Returns every non-BOS activation [rows, dModel] of `seqs` at `hook`. */
export function corpusActivations(lm: ProbeLm, seqs: readonly Int32Array[], hook: string, batchSequences = 32): { acts: Float32Array; rows: number } {
  const parts: Float32Array[] = [];
  for (const r of lm.activations(seqs, hook, batchSequences)) parts.push(r.activations);
  const total = parts.reduce((s, p) => s + p.length, 0);
  const acts = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    acts.set(p, o);
    o += p.length;
  }
  return { acts, rows: total / lm.dModel };
}

/** Returns a standard and a topk SAE trained on the same batches of `acts` [rows, dIn]. */
export function trainDemoSaes(kernels: Kernels, acts: Float32Array, rows: number, dIn: number, s: DemoSaeSettings, onStep?: (step: number) => void): Sae[] {
  const configs = [
    SaeConfigSchema.parse({ architecture: "standard", name: "standard", dSae: s.dSae, l1Coefficient: s.l1Coefficient }),
    SaeConfigSchema.parse({ architecture: "topk", name: "topk", dSae: s.dSae, k: s.k }),
  ];
  const trainer = createTrainer(kernels, configs, { steps: s.steps, batchSize: s.batchSize, lr: s.lr, seed: s.seed, lrWarmUpSteps: 0, lrDecay: "linear", lrEndFactor: 0.1, adamBeta1: 0.9, adamBeta2: 0.999, adamEps: 1e-8, deadLatentWindow: 1000, logEvery: 100, checkpointEvery: 0, precision: "fp32" }, dIn);
  const batch = new Float32Array(s.batchSize * dIn);
  const data = stepStream(dIn, (step) => {
    const rng = new Rng(mixSeed(s.seed, step));
    for (let r = 0; r < s.batchSize; r++) {
      const i = rng.int(rows);
      batch.set(acts.subarray(i * dIn, (i + 1) * dIn), r * dIn);
    }
    return batch;
  });
  train({ trainer, data, onStep: (t) => onStep?.(t.step) });
  return trainer.runs.map((r) => r.sae);
}
