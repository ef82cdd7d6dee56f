/**
 * Detection, mitigation and hierarchy inference end to end on trained SAEs (the small world of
 * train-absorption.test.ts: parent 0 with mutually exclusive children 1-3, independent 4-7): the
 * detector sees only unlabelled inputs; the truth (src/metrics, src/experiments/detect-validate.ts)
 * is consulted afterwards. Heavier runs on the absorption-basic preset are behind SAELAB_SLOW.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { evaluateSaes, sampleBatches } from "../src/metrics/evaluate.js";
import { mixSeed } from "../src/tensor/rng.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import type { Sae } from "../src/sae/model.js";
import type { SaeModel } from "../src/sae/types.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { createTrainer, train } from "../src/train/trainer.js";
import { stepStream } from "../src/train/stream.js";
import { detectAbsorption, encoderDecoderCos } from "../src/detect/detect.js";
import { decoderRows } from "../src/detect/geometry.js";
import { planMitigation, unabsorb } from "../src/detect/mitigate.js";
import { refitSae } from "../src/detect/refit.js";
import { fineTuneTied } from "../src/detect/finetune.js";
import { validateDetection } from "../src/experiments/detect-validate.js";
import { createWorld } from "../src/toy/world.js";
import { getPreset } from "../src/toy/presets.js";
import { trainOnWorld } from "../src/experiments/parallel.js";
import { evaluateOnWorld } from "../src/experiments/evaluate.js";
import { kernels } from "./sae-fixtures.js";
import { PARENT_WORLD_D, parentWorld, parentWorldSampler } from "./helpers/parent-world.js";

const D = PARENT_WORLD_D;
const world = parentWorld;
const sampler = parentWorldSampler;

const fullAbsorption = (sae: SaeModel) => evaluateSaes([sae], world, sampleBatches(sampler(999), 10000, 2000))[0]!.absorption.summary.fullAbsorption!;

describe("detection on trained SAEs (no labels seen by the detector)", () => {
  let untied: Sae;
  let tied: Sae;
  const unlabelled = Array.from({ length: 4 }, (_, i) => sampler(7 + i).next(2000).acts);
  beforeAll(() => {
    const saes = [
      { architecture: "standard", name: "untied", dSae: 8, l1Coefficient: 0.3 },
      { architecture: "standard", name: "tied", dSae: 8, tying: "tied", l1Coefficient: 0.3 },
    ].map((c) => SaeConfigSchema.parse(c));
    const t = createTrainer(kernels, saes, TrainConfigSchema.parse({ steps: 2000, batchSize: 256, lr: 3e-3 }), D);
    train({ trainer: t, data: stepStream(D, (s) => sampler(mixSeed(1, s)).next(256).acts) });
    [untied, tied] = t.runs.map((r) => r.sae) as [Sae, Sae];
  });

  it("finds every absorbed edge of the untied SAE, with only true pairs, and the true hierarchy", () => {
    const det = detectAbsorption(untied, unlabelled, {}, kernels);
    const [evaluation] = evaluateSaes([untied], world, sampleBatches(sampler(999), 10000, 2000));
    expect(evaluation!.absorption.summary.fullAbsorption).toBeGreaterThan(0.2);
    const v = validateDetection(det, untied, world, evaluation!, sampleBatches(sampler(998), 10000, 2000));
    expect(v.absorbedEdges.length).toBeGreaterThan(0);
    expect(v.recall).toBe(1);
    expect(v.precision).toBe(1);
    expect(v.hierarchy.precision).toBe(1);
    expect(v.hierarchy.recall).toBe(1);
    // The score tracks the parent latent's measured full absorption on its edge.
    for (const p of v.pairs.filter((x) => x.confident)) expect(Math.abs(p.score - p.latentFullAbsorption!)).toBeLessThan(0.15);
  });

  it("reports no confident absorption in the tied SAE, whose parent keeps firing", () => {
    const det = detectAbsorption(tied, unlabelled, {}, kernels);
    expect(fullAbsorption(tied)).toBeLessThan(0.05);
    expect(det.summary.confidentPairs).toBe(0);
  });

  it("un-absorbs the untied SAE: same reconstructions, ground-truth full absorption near 0, also once saved", () => {
    const det = detectAbsorption(untied, unlabelled, {}, kernels);
    const w = unabsorb(untied, planMitigation(det), kernels);
    const x = unlabelled[0]!;
    const a = untied.decode(untied.encode(x, 2000));
    const b = w.decode(w.encode(x, 2000));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(1e-5);
    const before = fullAbsorption(untied);
    expect(fullAbsorption(w)).toBeLessThan(0.05);
    const { sae: saved, fidelity } = refitSae(w, unlabelled, kernels);
    expect(fullAbsorption(saved)).toBeLessThan(0.05);
    expect(before).toBeGreaterThan(0.2);
    for (const p of fidelity.parents) expect(p.r2!).toBeGreaterThan(0.95);
    expect(fidelity.mseRefit).toBeLessThan(1.5 * fidelity.mseBase + 1e-6);
  });

  it("fine-tunes with a tying loss: encoder columns move toward decoder rows, and the un-absorbed SAE stays un-absorbed", () => {
    const det = detectAbsorption(untied, unlabelled, {}, kernels);
    const { sae: saved } = refitSae(unabsorb(untied, planMitigation(det), kernels), unlabelled, kernels);
    const tuned = fineTuneTied(saved, stepStream(D, (s) => sampler(mixSeed(5, s)).next(256).acts), { steps: 300, batchSize: 256, lr: 1e-3, coefficient: 10 }, kernels);
    expect(tuned.config.tying).toBe("tie_loss");
    const meanCos = (s: SaeModel) => {
      const c = encoderDecoderCos(decoderRows(s), s.encoderWeights()).filter((v): v is number => v !== null);
      return c.reduce((p, q) => p + q, 0) / c.length;
    };
    expect(meanCos(tuned)).toBeGreaterThan(meanCos(saved) + 0.05);
    expect(fullAbsorption(tuned)).toBeLessThan(0.1);
    expect(() => fineTuneTied(tied, stepStream(D, () => new Float32Array(D)), { steps: 1, batchSize: 1, lr: 1e-3, coefficient: 1 }, kernels)).toThrow(/already tied/);
  });
});

describe.skipIf(!process.env.SAELAB_SLOW)("detection on the absorption-basic preset (slow)", () => {
  // Measured (seed 1, 3000 steps): topk precision 1.00 (3/3), untied standard 0.75 (6/8). The untied
  // SAE's two false pairs have as "parent" latent 7, a rare conjunction latent (0.61 f_parent +
  // 0.76 f5, firing on 1.9% of inputs) whose row is partly present whenever f5's latent fires; on
  // the parents' main latents every confident pair is a true absorbed edge.
  it("finds every absorbed edge of untied standard and topk SAEs; every pair on a parent's main latent is true; mitigation removes them", () => {
    const w = createWorld(getPreset("absorption-basic"), { kernels });
    const configs = [
      { architecture: "standard", name: "untied", dSae: 16, l1Coefficient: 0.3 },
      { architecture: "topk", name: "topk", dSae: 16, k: 2 },
    ].map((c) => SaeConfigSchema.parse(c));
    const trainer = trainOnWorld(kernels, w, configs, TrainConfigSchema.parse({ steps: 3000, batchSize: 1024, lr: 3e-3, seed: 1, checkpointEvery: 0 }));
    const saes = trainer.runs.map((r) => r.sae);
    const evals = evaluateOnWorld(saes, w, { n: 20000, seed: 12345 }, kernels);
    const s = w.sampler(7);
    const unlabelledBasic = Array.from({ length: 5 }, () => s.next(4096).acts);
    saes.forEach((sae, i) => {
      const det = detectAbsorption(sae, unlabelledBasic, {}, kernels);
      const v = validateDetection(det, sae, w, evals[i]!, sampleBatches(w.sampler(99), 20000, 4096));
      expect(evals[i]!.absorption.summary.fullAbsorption).toBeGreaterThan(0.2);
      expect(v.recall).toBe(1);
      expect(v.precision!).toBeGreaterThanOrEqual(0.7);
      const mains = new Set(evals[i]!.absorption.parents.flatMap((p) => [...p.mainLatents.map((m) => m.latent), p.mainByF1?.latent]));
      const onMain = v.pairs.filter((p) => p.confident && mains.has(p.parent));
      expect(onMain.length).toBeGreaterThanOrEqual(3);
      expect(onMain.every((p) => p.truePositive)).toBe(true);
      const [after] = evaluateOnWorld([unabsorb(sae, planMitigation(det), kernels)], w, { n: 20000, seed: 12345 }, kernels);
      expect(after!.absorption.summary.fullAbsorption!).toBeLessThan(0.1);
    });
  }, 300_000);
});
