/**
 * Sweep axes: each edit produces the intended world config (and leaves the rest alone), the built
 * world's exact marginals and magnitudes follow, the sampled firing statistics reflect the edit
 * (within 4 standard errors, counted independently of the sweep's accumulator), and edits that
 * cannot be honoured are errors naming the reason.
 */
import { describe, expect, it } from "vitest";
import { applyWorldAxes, WORLD_AXES } from "../src/experiments/sweep-axes.js";
import { WorldStatsAccumulator } from "../src/experiments/sweep-measure.js";
import { parseSweepSpec } from "../src/experiments/sweep-spec.js";
import { planSweep } from "../src/experiments/sweep-grid.js";
import { WorldConfigSchema, type WorldConfig, type WorldConfigInput } from "../src/toy/config.js";
import { getPreset } from "../src/toy/presets.js";
import { createWorld } from "../src/toy/world.js";
import { batchStats } from "./toy-helpers.js";

const basic = (): WorldConfig => WorldConfigSchema.parse(getPreset("absorption-basic"));
const probs = (c: WorldConfig) => (c.firing.kind === "list" ? c.firing.probabilities : null);
const means = (c: WorldConfig) => (c.magnitude.mean.kind === "list" ? c.magnitude.mean.values : null);
const stds = (c: WorldConfig) => (c.magnitude.std.kind === "list" ? c.magnitude.std.values : null);

/** A nested tree 0 -> 1 -> 2 (not mutually exclusive) plus an independent feature 3. */
const nested = (over: Partial<WorldConfigInput> = {}): WorldConfig =>
  WorldConfigSchema.parse({
    nFeatures: 4,
    dModel: 8,
    firing: { kind: "list", probabilities: [0.4, 0.2, 0.05, 0.1] },
    magnitude: { mean: { kind: "list", values: [2, 1, 0.5, 1] }, std: { kind: "constant", value: 0.1 } },
    hierarchy: { nodes: [{ feature: 0, children: [1] }, { feature: 1, children: [2] }] },
    compensateProbabilities: true,
    ...over,
  });

/** Samples n draws and returns the independent counts. */
function sample(cfg: WorldConfig, n: number, seed = 7) {
  return batchStats(createWorld(cfg).sampler(seed).next(n));
}

describe("world axis edits", () => {
  it("childGivenParent sets each child's marginal to value x its parent's, and nothing else", () => {
    const base = basic();
    const before = structuredClone(base);
    const out = WORLD_AXES.childGivenParent.edit(base, 0.1);
    expect(base).toEqual(before);
    expect(probs(out)).toEqual([0.25, 0.025, 0.025, 0.025, 0.1, 0.1, 0.05, 0.05]);
    expect({ ...out, firing: base.firing }).toEqual(base);
    const w = createWorld(out);
    for (const c of [1, 2, 3]) expect(w.firingProbability[c]! / w.firingProbability[0]!).toBeCloseTo(0.1, 12);
  });

  it("childGivenParent shows in the sampled data: P(child | parent) within 4 standard errors", () => {
    for (const v of [0.05, 0.3]) {
      const s = sample(WORLD_AXES.childGivenParent.edit(basic(), v), 60_000);
      const nParent = s.count[0]!;
      for (const c of [1, 2, 3]) {
        const p = s.together(0, c) / nParent;
        expect(Math.abs(p - v)).toBeLessThan(4 * Math.sqrt((v * (1 - v)) / nParent));
        expect(s.orphans(c, 0)).toBe(0);
      }
    }
  });

  it("nested trees: childGivenParent applies top-down, so each level's conditional is the value", () => {
    const out = WORLD_AXES.childGivenParent.edit(nested(), 0.5);
    expect(probs(out)).toEqual([0.4, 0.2, 0.1, 0.1]);
    const s = sample(out, 60_000);
    const p21 = s.together(1, 2) / s.count[1]!;
    expect(Math.abs(p21 - 0.5)).toBeLessThan(4 * Math.sqrt(0.25 / s.count[1]!));
  });

  it("parentProbability sets the roots' marginals and keeps every P(child | parent)", () => {
    const out = WORLD_AXES.parentProbability.edit(basic(), 0.4);
    const p = probs(out)!;
    expect(p[0]).toBe(0.4);
    for (const c of [1, 2, 3]) expect(p[c]).toBeCloseTo((0.06 / 0.25) * 0.4, 15);
    expect(p.slice(4)).toEqual([0.1, 0.1, 0.05, 0.05]);
    const n = nested();
    const np = probs(WORLD_AXES.parentProbability.edit(n, 0.2))!;
    expect(np[0]).toBe(0.2);
    expect(np[1]).toBeCloseTo(0.1, 15);
    expect(np[2]).toBeCloseTo(0.025, 15);
    const s = sample(out, 40_000);
    expect(Math.abs(s.count[0]! / s.n - 0.4)).toBeLessThan(4 * Math.sqrt((0.4 * 0.6) / s.n));
  });

  it("childParentMagnitudeRatio scales each child's mean (and std) to value x its parent's mean", () => {
    const base = basic();
    const out = WORLD_AXES.childParentMagnitudeRatio.edit(base, 0.5);
    expect(means(out)).toEqual([1, 0.5, 0.5, 0.5, 1, 1, 1, 1]);
    expect(stds(out)).toEqual([0.1, 0.05, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1]);
    expect(out.firing).toEqual(base.firing);
    const nm = means(WORLD_AXES.childParentMagnitudeRatio.edit(nested(), 0.5))!;
    expect(nm).toEqual([2, 1, 0.5, 1]);
    const s = sample(out, 20_000);
    const ratio = s.sum[1]! / s.count[1]! / (s.sum[0]! / s.count[0]!);
    expect(ratio).toBeGreaterThan(0.48);
    expect(ratio).toBeLessThan(0.52);
  });

  it("parentMagnitude sets the roots' means only", () => {
    const out = WORLD_AXES.parentMagnitude.edit(nested(), 4);
    expect(means(out)).toEqual([4, 1, 0.5, 1]);
    expect(stds(out)).toEqual([0.2, 0.1, 0.1, 0.1]);
  });

  it("magnitude edits keep folded-normal profiles exactly as createWorld draws them", () => {
    const cfg = WorldConfigSchema.parse({ ...getPreset("absorption-basic"), magnitude: { mean: { kind: "folded_normal", mean: 1, std: 0.3, min: 0.2 }, std: { kind: "folded_normal", mean: 0.1, std: 0.05 } } });
    const w0 = createWorld(cfg);
    const w1 = createWorld(WORLD_AXES.parentMagnitude.edit(cfg, w0.magnitudeMean[0]!));
    expect(Array.from(w1.magnitudeMean)).toEqual(Array.from(w0.magnitudeMean));
    expect(Array.from(w1.magnitudeStd)).toEqual(Array.from(w0.magnitudeStd));
    expect(w1.featureVectors).toEqual(w0.featureVectors);
  });

  it("applyWorldAxes applies parent edits before conditional ones, whatever the key order", () => {
    const a = applyWorldAxes(basic(), { childGivenParent: 0.2, parentProbability: 0.5 });
    const b = applyWorldAxes(basic(), { parentProbability: 0.5, childGivenParent: 0.2 });
    expect(a).toEqual(b);
    expect(probs(a)!.slice(0, 4)).toEqual([0.5, 0.1, 0.1, 0.1]);
  });

  it("the sweep's world statistics agree with an independent count and with the configured values", () => {
    const cfg = WORLD_AXES.childGivenParent.edit(basic(), 0.2);
    const world = createWorld(cfg);
    const batch = world.sampler(3).next(30_000);
    const acc = new WorldStatsAccumulator(world);
    acc.add(batch);
    const st = acc.finish();
    const s = batchStats(batch);
    expect(st.nEdges).toBe(3);
    for (const e of st.edges) {
      expect(e.measured.pChildGivenParent).toBe(s.together(0, e.child) / s.count[0]!);
      expect(e.measured.pParent).toBe(s.count[0]! / s.n);
      expect(e.configured.pChildGivenParent).toBeCloseTo(0.2, 12);
      expect(Math.abs(e.measured.pChildGivenParent! - 0.2)).toBeLessThan(4 * Math.sqrt(0.16 / s.count[0]!));
    }
    const totalActive = Array.from(s.count).reduce((x, y) => x + y, 0);
    expect(st.trueL0).toBeCloseTo(totalActive / s.n, 12);
  });
});

describe("axis edits that cannot be honoured", () => {
  it("refuses more than 1/siblings for mutually exclusive children", () => {
    expect(() => WORLD_AXES.childGivenParent.edit(basic(), 0.4)).toThrow(/3 mutually exclusive children, so P\(child \| parent\) can be at most 1\/3/);
  });

  it("refuses worlds without an explicit hierarchy, or without compensation", () => {
    const flat = WorldConfigSchema.parse({ nFeatures: 3, dModel: 4, firing: { kind: "constant", probability: 0.1 } });
    expect(() => WORLD_AXES.childGivenParent.edit(flat, 0.2)).toThrow(/base world has no hierarchy/);
    const gen = WorldConfigSchema.parse({ nFeatures: 7, dModel: 8, firing: { kind: "constant", probability: 0.1 }, hierarchy: { generate: { roots: 1, branching: 2, depth: 2 } }, compensateProbabilities: true });
    expect(() => WORLD_AXES.parentMagnitude.edit(gen, 2)).toThrow(/generated forest \(hierarchy.generate\).*hierarchy.nodes/);
    expect(() => WORLD_AXES.childGivenParent.edit(nested({ compensateProbabilities: false }), 0.2)).toThrow(/needs compensateProbabilities: true/);
  });

  it("refuses to edit a dense feature", () => {
    expect(() => WORLD_AXES.childGivenParent.edit(nested({ dense: { features: [2], probability: 0.9 } }), 0.2)).toThrow(/feature 2, which the base world lists as dense/);
  });

  it("planSweep names the cell whose marginals compensation cannot reach", () => {
    const world = { ...nested(), magnitude: { mean: { kind: "list", values: [2, 0.05, 0.5, 1] }, std: { kind: "constant", value: 0.5 } } };
    const spec = parseSweepSpec({ name: "x", world, axes: { childGivenParent: [0.3, 0.9] }, saes: [{ architecture: "standard", dSae: 4 }], train: { steps: 1 } });
    expect(() => planSweep(spec)).toThrow(/sweep cell \(P\(child\|parent\) 0.9\): feature.* 1.*cannot reach/);
  });
});
