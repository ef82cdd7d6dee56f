import { describe, expect, it } from "vitest";
import { SAEBENCH_DEFAULTS, saebenchSample, SaebenchTally, type SampleLatents } from "../src/metrics/saebench.js";

/** One sample's latents from {latent: activation}. */
function acts(a: Record<number, number>): SampleLatents {
  const idx = Object.keys(a).map(Number).sort((x, y) => x - y);
  return { idx, val: idx.map((j) => a[j]!), start: 0, end: idx.length };
}

// Decoder cosines with the probe for latents 0..6 (latent 0 is the main latent in every case).
const cos = [0.8, 0.5, 0.05, 0.6, 0.5, 0.15, -0.5];

describe("SAEBench absorption scores, hand-worked", () => {
  it("partial absorption: the top 3 aligned absorbers against the main latent", () => {
    // probe projection 2.0; main: 0.5 * 0.8 = 0.4.
    // Projections: l1 1.0*0.5 = 0.5, l2 2.0*0.05 = 0.1 (cos < 0.1: not an absorber), l3 0.5*0.6 = 0.3,
    // l4 0.4*0.5 = 0.2, l5 1.0*0.15 = 0.15, l6 1.0*-0.5 < 0 (not an absorber).
    // Top 3 absorbers: 0.5 + 0.3 + 0.2 = 1.0; share 1.0 / 2.0 = 0.5 >= 0.4.
    // Unaccounted 2.0 - 0.4 = 1.6, absorbed min(1.0, 1.6) = 1.0, fraction 1.0 / (1.0 + 0.4) = 5/7.
    const s = saebenchSample(2.0, acts({ 0: 0.5, 1: 1.0, 2: 2.0, 3: 0.5, 4: 0.4, 5: 1.0, 6: 1.0 }), cos, [0]);
    expect(s.absorptionFraction).toBeCloseTo(5 / 7, 12);
    // The main latent fires, so this is not full absorption; latent 1 projects most (0.5 > main's 0.4).
    expect(s.isFullAbsorption).toBe(false);
    expect(s.topLatent).toBe(1);
    // With one absorber allowed: 0.5 / 2.0 = 0.25 < 0.4, so no absorption is counted at all.
    const one = saebenchSample(2.0, acts({ 0: 0.5, 1: 1.0, 2: 2.0, 3: 0.5, 4: 0.4, 5: 1.0 }), cos, [0], { ...SAEBENCH_DEFAULTS, maxAbsorbingLatents: 1 });
    expect(one.absorptionFraction).toBe(0);
  });

  it("full absorption: main silent, one aligned latent carries the projection", () => {
    // probe 1.0; l1 1.2*0.5 = 0.6, l3 0.15*0.6 = 0.09; absorbers total 0.69 >= 0.4 and main proj 0 -> fraction 1.
    // Full: top latent l1 has cos 0.5 >= 0.025 and share 0.6 >= 0.4.
    const s = saebenchSample(1.0, acts({ 1: 1.2, 3: 0.15 }), cos, [0]);
    expect(s.absorptionFraction).toBe(1);
    expect(s.isFullAbsorption).toBe(true);
    expect(s.topLatent).toBe(1);
  });

  it("the two scores can disagree in both directions", () => {
    // Two absorbers: 1*0.5 + 1*0.15 = 0.65 of 1.3 (share 0.5) -> fraction 1; but the top one alone has 0.5 / 1.3 < 0.4 -> not full.
    const spread = saebenchSample(1.3, acts({ 1: 1, 5: 1 }), cos, [0]);
    expect(spread.absorptionFraction).toBe(1);
    expect(spread.isFullAbsorption).toBe(false);
    // One latent barely aligned (cos 0.05): below the fraction's 0.1 threshold (fraction 0), above full's 0.025:
    // 10 * 0.05 = 0.5 of a projection of 1.0 -> full absorption.
    const barely = saebenchSample(1.0, acts({ 2: 10 }), cos, [0]);
    expect(barely.absorptionFraction).toBe(0);
    expect(barely.isFullAbsorption).toBe(true);
  });

  it("no absorption when the main latents already explain the projection, and capping by what is unexplained", () => {
    // Main 3 * 0.8 = 2.4 >= 2.0 -> 0.
    expect(saebenchSample(2.0, acts({ 0: 3, 1: 4 }), cos, [0]).absorptionFraction).toBe(0);
    // probe 1; main 0.5 * 0.8 = 0.4; l3 1 * 0.6 = 0.6 (share 0.6); unaccounted 0.6; fraction 0.6 / (0.6 + 0.4) = 0.6.
    expect(saebenchSample(1.0, acts({ 0: 0.5, 3: 1 }), cos, [0]).absorptionFraction).toBeCloseTo(0.6, 12);
    // probe 1; main 0.625 * 0.8 = 0.5; l1 1.8 * 0.5 = 0.9 -> absorbed min(0.9, 0.5) = 0.5; fraction 0.5 / 1.0.
    expect(saebenchSample(1.0, acts({ 0: 0.625, 1: 1.8 }), cos, [0]).absorptionFraction).toBeCloseTo(0.5, 12);
  });

  it("a negative or zero probe projection is never absorption", () => {
    for (const p of [-1, 0]) {
      const s = saebenchSample(p, acts({ 1: 3 }), cos, [0]);
      expect(s.absorptionFraction).toBe(0);
      expect(s.isFullAbsorption).toBe(false);
    }
  });

  it("aggregates as SAEBench: sums over probe positives divided by their count", () => {
    const t = new SaebenchTally();
    expect(t.result()).toEqual({ absorptionFraction: null, fullAbsorption: null, nProbePositives: 0 });
    t.add({ absorptionFraction: 1, isFullAbsorption: true, topLatent: 1 });
    t.add({ absorptionFraction: 0.5, isFullAbsorption: false, topLatent: 1 });
    t.add({ absorptionFraction: 0, isFullAbsorption: false, topLatent: -1 });
    t.add({ absorptionFraction: 0, isFullAbsorption: false, topLatent: -1 });
    expect(t.result()).toEqual({ absorptionFraction: 1.5 / 4, fullAbsorption: 1 / 4, nProbePositives: 4 });
  });
});
