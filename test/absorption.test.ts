import { describe, expect, it } from "vitest";
import { evaluateSae, evaluationFromJson, evaluationToJson } from "../src/metrics/evaluate.js";
import type { WorldBatch } from "../src/toy/types.js";
import { handSae } from "./helpers/hand-sae.js";
import { basis, handBatch, handWorld, repeat } from "./helpers/hand-world.js";

// Feature 0 is a parent with mutually exclusive children 1, 2, 3; features 4 and 5 are independent.
// Directions are the standard basis of R^6, so every cosine below is exact.
const D = 6;
const e = (i: number) => basis(D, i);
const world = handWorld({ features: [0, 1, 2, 3, 4, 5].map(e), parent: [-1, 0, 0, 0, -1, -1], mutuallyExclusive: [0] });
// The parent always has magnitude 1, and child 1 matches it, so the absorbing construction below silences the
// parent's latent exactly when child 1 fires. Per repetition: 3 parent-alone, 2 with child 1, 2 with child 2,
// 1 with child 3, 4 without the parent.
const SAMPLES: Record<number, number>[] = [
  { 0: 1 }, { 0: 1, 4: 0.5 }, { 0: 1, 5: 2 },
  { 0: 1, 1: 1 }, { 0: 1, 1: 1, 4: 1 },
  { 0: 1, 2: 0.7 }, { 0: 1, 2: 1.3 },
  { 0: 1, 3: 2 },
  { 4: 1 }, { 5: 0.5 }, { 4: 1.5, 5: 1 }, {},
];
const batches = (): WorldBatch[] => [handBatch(world, repeat(SAMPLES, 3)), handBatch(world, repeat(SAMPLES, 2))];

const add = (a: number[], b: number[], sa = 1, sb = 1) => a.map((v, i) => sa * v + sb * b[i]!);
const identity = [0, 1, 2, 3, 4, 5].map(e);

describe("known answers: an SAE that recovers the features exactly", () => {
  const ev = evaluateSae(handSae({ encoder: identity, decoder: identity }), world, batches());

  it("scores MCC 1, uniqueness 1, perfect reconstruction and detection", () => {
    expect(ev.nSamples).toBe(60);
    expect(ev.recovery.mcc).toBeCloseTo(1, 12);
    expect(ev.recovery.uniqueness).toBe(1);
    expect(ev.recovery.latentOfFeature).toEqual([0, 1, 2, 3, 4, 5]);
    expect(ev.reconstruction.explainedVariance).toBeCloseTo(1, 6);
    expect(ev.reconstruction.shrinkage).toBeCloseTo(1, 6);
    expect(ev.recovery.classification.f1).toBe(1);
    expect(ev.sparsity.deadLatents).toEqual([]);
    expect(ev.sparsity.l0).toBeCloseTo(ev.sparsity.trueL0, 12);
    expect(ev.latents.encDecCos.every((c) => Math.abs(c - 1) < 1e-12)).toBe(true);
  });

  it("scores absorption 0 on every edge, by every measure", () => {
    const [p] = ev.absorption.parents;
    expect(p!.parent).toBe(0);
    expect(p!.mainLatents.map((m) => m.latent)).toEqual([0]);
    expect(p!.mainByF1).toEqual({ latent: 0, decoderCos: 1, f1: 1 });
    expect(p!.mainAgree).toBe(true);
    for (const edge of p!.edges) {
      expect(edge.fullAbsorption).toBe(0);
      expect(edge.partialRatio).toBeCloseTo(1, 12);
      expect(edge.belowHalfShare).toBe(0);
      expect(edge.absorptionGap).toBe(0);
      expect(edge.absorbers).toEqual([]);
      expect(edge.encoderCosWithChild).toEqual([0]);
      expect(edge.saebench.absorptionFraction).toBe(0);
      expect(edge.saebench.fullAbsorption).toBe(0);
    }
    expect(ev.absorption.summary.fullAbsorption).toBe(0);
    expect(ev.absorption.summary.saebenchAbsorptionFraction).toBe(0);
    expect(ev.absorption.summary.saebenchFullAbsorption).toBe(0);
    expect(ev.notes).toEqual([]);
  });

  it("round-trips through JSON and gives the same numbers however the data is batched", () => {
    expect(evaluationFromJson(evaluationToJson(ev))).toEqual(ev);
    const oneBatch = evaluateSae(handSae({ encoder: identity, decoder: identity }), world, [handBatch(world, repeat(SAMPLES, 5))]);
    expect(oneBatch).toEqual(ev);
  });
});

describe("known answers: an SAE built to absorb the parent into child 1", () => {
  const r2 = Math.SQRT2;
  // Parent latent 0: encoder f0 - f1, decoder f0. Child latent 1: decoder (f0 + f1)/sqrt 2, encoder sqrt 2 f1,
  // so on parent+child-1 samples (x = f0 + f1) latent 0 reads 1 - 1 = 0 and latent 1 reads sqrt 2, which
  // decodes to f0 + f1: the reconstruction stays exact while the parent latent is silenced.
  const encoder = [add(e(0), e(1), 1, -1), e(1).map((v) => v * r2), e(2), e(3), e(4), e(5)];
  const decoder = [e(0), add(e(0), e(1)).map((v) => v / r2), e(2), e(3), e(4), e(5)];
  const ev = evaluateSae(handSae({ encoder, decoder }), world, batches());
  const p = ev.absorption.parents[0]!;
  const edge = (c: number) => p.edges.find((x) => x.child === c)!;

  it("scores full absorption 1 on that edge and names latent 1 as the absorber", () => {
    expect(p.mainLatents[0]!.latent).toBe(0);
    const e1 = edge(1);
    expect(e1.nSamples).toBe(10);
    expect(e1.silentWithChild).toBe(1);
    expect(e1.silentAlone).toBe(0);
    expect(e1.fullAbsorption).toBe(1);
    expect(e1.partialRatio).toBe(0);
    expect(e1.absorptionGap).toBe(1);
    expect(e1.absorbers).toHaveLength(1);
    const a = e1.absorbers[0]!;
    expect(a.latent).toBe(1);
    expect(a.decoderCosParent).toBeCloseTo(Math.SQRT1_2, 6);
    expect(a.decoderCosChild).toBeCloseTo(Math.SQRT1_2, 6);
    expect(a.firingRate).toBe(1);
    expect(a.firingRateWhenMainSilent).toBe(1);
    // sqrt 2 activation times cosine 1/sqrt 2 carries the whole unit parent projection.
    expect(a.projectionShare).toBeCloseTo(1, 6);
    // cos(f0 - f1, f1) = -1/sqrt 2: the parent's encoder subtracts the child.
    expect(e1.encoderCosWithChild[0]).toBeCloseTo(-Math.SQRT1_2, 6);
    expect(e1.saebench).toEqual({ absorptionFraction: 1, fullAbsorption: 1, nProbePositives: 10 });
  });

  it("leaves the other edges unabsorbed and aggregates per parent and per SAE", () => {
    for (const c of [2, 3]) {
      expect(edge(c).fullAbsorption).toBe(0);
      expect(edge(c).saebench.fullAbsorption).toBe(0);
      expect(edge(c).pMainFiresChildOn).toBe(1);
    }
    // The gap's "child off" includes sibling child 1, whose samples silence the main latent. Per repetition:
    // child 2 off = 3 alone + 2 child-1 + 1 child-3 samples, of which 4 fire -> gap 4/6 - 1;
    // child 3 off = 3 alone + 2 child-1 + 2 child-2 samples, of which 5 fire -> gap 5/7 - 1.
    expect(edge(2).absorptionGap).toBeCloseTo(4 / 6 - 1, 12);
    expect(edge(3).absorptionGap).toBeCloseTo(5 / 7 - 1, 12);
    expect(ev.notes.filter((n) => /absorption gap/.test(n)).map((n) => n.slice(0, 22))).toEqual(["parent 0 / child 2: th", "parent 0 / child 3: th"]);
    expect(p.mean.fullAbsorption).toBeCloseTo(1 / 3, 12);
    expect(ev.absorption.summary.fullAbsorption).toBeCloseTo(1 / 3, 12);
    expect(ev.absorption.summary.maxEdgeFullAbsorption).toBe(1);
    // SAEBench per parent scores all 8 parent samples of each repetition; 2 are fully absorbed.
    expect(p.saebench).toEqual({ absorptionFraction: 2 / 8, fullAbsorption: 2 / 8, nProbePositives: 40 });
    // F1 on the parent's firing: latent 0 fires on 6 of 8 parent samples and nowhere else: 2*6/(6+8).
    expect(p.mainLatents[0]!.f1).toBeCloseTo(12 / 14, 12);
    expect(p.mainAgree).toBe(true);
  });

  it("shows the absorption in the recovery metrics too", () => {
    // Matching: five exact pairs and latent 1 to feature 1 at 1/sqrt 2.
    expect(ev.recovery.mcc).toBeCloseTo((5 + Math.SQRT1_2) / 6, 6);
    // Latent 1 is equally close to features 0 and 1; argmax takes the first, so feature 1 is nobody's best match.
    expect(ev.recovery.uniqueness).toBeCloseTo(5 / 6, 12);
    expect(ev.reconstruction.explainedVariance).toBeCloseTo(1, 6);
    expect(ev.latents.encDecCos[0]).toBeCloseTo(Math.SQRT1_2, 12);
  });
});

describe("partial absorption and disagreeing main latents", () => {
  it("measures a weakened parent latent as partial absorption", () => {
    // Parent latent reads 1 - 0.6 = 0.4 when child 1 fires: ratio 0.4, every such sample below half of 1.
    const encoder = [add(e(0), e(1), 1, -0.6), ...identity.slice(1)];
    const ev = evaluateSae(handSae({ encoder, decoder: identity }), world, batches());
    const e1 = ev.absorption.parents[0]!.edges[0]!;
    expect(e1.child).toBe(1);
    expect(e1.fullAbsorption).toBe(0);
    expect(e1.partialRatio).toBeCloseTo(0.4, 6);
    expect(e1.belowHalfShare).toBe(1);
    // Nothing else carries the parent direction, so SAEBench (which needs an absorbing latent) sees none.
    expect(e1.saebench.absorptionFraction).toBe(0);
  });

  it("says so when the decoder-cosine main latent is not the best-F1 latent", () => {
    // Latent 0 has the parent's exact decoder direction but fires on feature 5; latent 1 fires exactly with the
    // parent but its decoder is 0.8 f0 + 0.6 f1.
    const encoder = [e(5), e(0), e(2), e(3), e(4), e(1)];
    const decoder = [e(0), add(e(0), e(1), 0.8, 0.6), e(2), e(3), e(4), e(1)];
    const ev = evaluateSae(handSae({ encoder, decoder }), world, batches());
    const p = ev.absorption.parents[0]!;
    expect(p.mainLatents[0]!.latent).toBe(0);
    expect(p.mainByF1?.latent).toBe(1);
    expect(p.mainByF1?.f1).toBe(1);
    expect(p.mainAgree).toBe(false);
    expect(ev.absorption.summary.mainDisagreements).toBe(1);
    // By decoder cosine, latent 0 is silent on all parent+child samples and on 2 of 3 parent-alone ones.
    expect(p.edges[0]!.fullAbsorption).toBeCloseTo(1 - 2 / 3, 12);
    expect(p.edges.map((x) => x.fullAbsorptionByF1Main)).toEqual([0, 0, 0]);
    expect(ev.notes.some((n) => /latent 0.*not the latent that best tracks.*latent 1/.test(n))).toBe(true);
  });

  it("checks parent-like latents besides the main one: a split-off copy of the parent that is absorbed", () => {
    // Latents 0-5 recover the features exactly; latent 6 is a second parent latent, decoder 0.9 f0 - sqrt(0.19) f1
    // (cosine 0.9 with the parent) and encoder f0 - f1, so it fires whenever the parent fires without child 1
    // and reads 1 - 1 = 0 on every parent+child-1 sample: its own full absorption is 1 on edge 0 -> 1 and 0 on
    // the others, while the main latent (0, cosine 1) never goes silent.
    const copy = [0.9, -Math.sqrt(0.19), 0, 0, 0, 0];
    const ev = evaluateSae(handSae({ encoder: [...identity, add(e(0), e(1), 1, -1)], decoder: [...identity, copy] }), world, batches());
    const p = ev.absorption.parents[0]!;
    expect(p.mainLatents.map((m) => m.latent)).toEqual([0]);
    expect(ev.absorption.summary.fullAbsorption).toBe(0);
    const like = p.edges.map((x) => x.parentLikeLatents);
    for (const l of like) expect(l.map((x) => x.latent)).toEqual([6]);
    expect(like[0]![0]!.decoderCos).toBeCloseTo(0.9, 6);
    expect(like.map((l) => [l[0]!.silentWithChild, l[0]!.silentAlone, l[0]!.fullAbsorption])).toEqual([[1, 0, 1], [0, 0, 0], [0, 0, 0]]);
    expect(ev.absorption.summary.maxParentLikeFullAbsorption).toBe(1);
    expect(ev.notes.some((n) => /besides main latent 0, latent 6 \(decoder cosine 0\.90\).*silent on 100% \(child 1\), 0% \(child 2\), 0% \(child 3\).*against 0%/.test(n))).toBe(true);
    // Raising the cosine bar above 0.9 excludes it.
    const strict = evaluateSae(handSae({ encoder: [...identity, add(e(0), e(1), 1, -1)], decoder: [...identity, copy] }), world, batches(), { parentLikeMinCos: 0.95 });
    expect(strict.absorption.parents[0]!.edges[0]!.parentLikeLatents).toEqual([]);
    expect(strict.absorption.summary.maxParentLikeFullAbsorption).toBeNull();
    // The exact-recovery SAE has no parent-like latents at all.
    expect(evaluateSae(handSae({ encoder: identity, decoder: identity }), world, batches()).absorption.summary.maxParentLikeFullAbsorption).toBeNull();
  });

  it("rejects unknown options by name and mismatched shapes", () => {
    const sae = handSae({ encoder: identity, decoder: identity });
    expect(() => evaluateSae(sae, world, batches(), { mainLatent: 2 } as never)).toThrow(/unknown key "mainLatent"/);
    const small = handWorld({ features: [basis(3, 0)], parent: [-1] });
    expect(() => evaluateSae(sae, small, [])).toThrow(/dIn \(6\) differs from the world's dModel \(3\)/);
  });
});
