import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/errors.js";
import { winProbabilities } from "../src/toy/compensation.js";
import { WorldConfigSchema, type WorldConfigInput } from "../src/toy/config.js";
import { getPreset, presetNames } from "../src/toy/presets.js";
import { createWorld } from "../src/toy/world.js";
import { firingProfile } from "../src/toy/profiles.js";

const BASE: WorldConfigInput = { nFeatures: 6, dModel: 8, firing: { kind: "constant", probability: 0.1 } };

/** Returns the ConfigError message for a config that must be rejected. */
function rejection(cfg: unknown): string {
  try {
    parseConfig(WorldConfigSchema, cfg, "world config");
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("config was accepted");
}

describe("world config validation", () => {
  it("accepts a minimal config and fills defaults without editing what was given", () => {
    const input = structuredClone(BASE);
    const cfg = parseConfig(WorldConfigSchema, input, "x");
    expect(input).toEqual(BASE);
    expect(cfg.seed).toBe(0);
    expect(cfg.magnitude).toEqual({ mean: { kind: "constant", value: 1 }, std: { kind: "constant", value: 0 } });
    expect(cfg.compensateProbabilities).toBe(false);
    // Parsing the parsed config again is the identity (saved configs round-trip).
    expect(parseConfig(WorldConfigSchema, JSON.parse(JSON.stringify(cfg)), "x")).toEqual(cfg);
  });

  it.each<[string, unknown, RegExp]>([
    ["negative probability", { ...BASE, firing: { kind: "list", probabilities: [0.1, -0.2, 0.1, 0.1, 0.1, 0.1] } }, /firing\.probabilities\[1\]: must be >= 0/],
    ["probability above 1", { ...BASE, firing: { kind: "constant", probability: 1.5 } }, /firing\.probability: must be <= 1/],
    ["unknown top-level key", { ...BASE, nFeature: 3 }, /\(top level\): unknown key "nFeature"/],
    ["unknown nested key", { ...BASE, hierarchy: { nodes: [{ feature: 0, children: [1], exclusive: true }] } }, /hierarchy\.nodes\[0\]: unknown key "exclusive"/],
    ["list of the wrong length", { ...BASE, firing: { kind: "list", probabilities: [0.1] } }, /firing\.probabilities: has 1 entries but nFeatures is 6/],
    ["zipf with min above max", { ...BASE, firing: { kind: "zipf", exponent: 1, max: 0.1, min: 0.2 } }, /firing\.min: min \(0\.2\) is above max/],
    ["a child under two parents", { ...BASE, hierarchy: { nodes: [{ feature: 0, children: [2, 3] }, { feature: 1, children: [3] }] } }, /hierarchy\.nodes\[1\]\.children\[0\]: feature 3 is already a child of feature 0 \(hierarchy\.nodes\[0\]\)/],
    ["a cycle", { ...BASE, hierarchy: { nodes: [{ feature: 0, children: [1] }, { feature: 1, children: [2] }, { feature: 2, children: [0] }] } }, /hierarchy\.nodes\[\d\]: the parent links form a cycle: (\d -> ){3}\d/],
    ["a self loop", { ...BASE, hierarchy: { nodes: [{ feature: 2, children: [2] }] } }, /hierarchy\.nodes\[0\]\.children\[0\]: feature 2 is listed as its own child/],
    ["a missing feature", { ...BASE, hierarchy: { nodes: [{ feature: 0, children: [9] }] } }, /hierarchy\.nodes\[0\]\.children\[0\]: feature 9 does not exist \(nFeatures is 6\)/],
    ["exclusion with one child", { ...BASE, hierarchy: { nodes: [{ feature: 0, children: [1], mutuallyExclusive: true }] } }, /hierarchy\.nodes\[0\]\.mutuallyExclusive: mutually exclusive children need at least 2/],
    ["both nodes and generate", { ...BASE, hierarchy: { nodes: [{ feature: 0, children: [1] }], generate: { roots: 1, branching: 2, depth: 1 } } }, /hierarchy: give exactly one of/],
    ["a generated forest larger than nFeatures", { ...BASE, hierarchy: { generate: { roots: 2, branching: 3, depth: 1 } } }, /hierarchy\.generate: the forest needs 8 features/],
    [
      "a correlation matrix that is not PSD",
      { ...BASE, nFeatures: 3, correlation: { kind: "full", matrix: [[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]] } },
      /correlation\.matrix: is not positive semi-definite/,
    ],
    ["an asymmetric correlation matrix", { ...BASE, nFeatures: 2, correlation: { kind: "full", matrix: [[1, 0.5], [0.4, 1]] } }, /correlation\.matrix\[0\]\[1\]: the matrix is not symmetric/],
    ["a correlation diagonal that is not 1", { ...BASE, nFeatures: 2, correlation: { kind: "full", matrix: [[2, 0], [0, 1]] } }, /correlation\.matrix\[0\]\[0\]: diagonal entry is 2/],
    ["a factor row with norm >= 1", { ...BASE, nFeatures: 2, correlation: { kind: "factor", factor: [[0.5, 0.5], [1, 0.2]] } }, /correlation\.factor\[1\]: squared row norm is 1\.04/],
    ["a factor diagonal that breaks unit variance", { ...BASE, nFeatures: 2, correlation: { kind: "factor", factor: [[0.5], [0.3]], diag: [0.75, 0.5] } }, /correlation\.diag\[1\]: \|F_1\|\^2 \+ diag = 0\.590000, not 1/],
    ["an unknown correlation kind", { ...BASE, correlation: { kind: "lowrank", rank: 2, scale: 0.1 } }, /correlation/],
    ["a rule on a hierarchy child", { ...BASE, hierarchy: { nodes: [{ feature: 0, children: [1] }] }, cooccurrence: [{ given: 2, feature: 1, probability: 0.5 }] }, /cooccurrence\[0\]\.feature: feature 1 is a hierarchy child \(of 0\)/],
    ["a feature targeted by two rules", { ...BASE, cooccurrence: [{ given: 0, feature: 1, probability: 0.5 }, { given: 2, feature: 1, probability: 0.5 }] }, /cooccurrence\[1\]\.feature: feature 1 is already the target of cooccurrence\[0\]/],
    ["a cycle of rules", { ...BASE, cooccurrence: [{ given: 0, feature: 1, probability: 0.5 }, { given: 1, feature: 0, probability: 0.5 }] }, /rules form a cycle: 0 -> 1 -> 0/],
    ["a zero mean magnitude", { ...BASE, magnitude: { mean: { kind: "constant", value: 0 } } }, /magnitude\.mean\.value: mean magnitude must be > 0/],
    ["a dense feature out of range", { ...BASE, dense: { features: [7], probability: 0.9 } }, /dense\.features\[0\]: feature 7 does not exist/],
    ["a non-integer feature count", { ...BASE, nFeatures: 2.5 }, /nFeatures/],
  ])("rejects %s, naming the field", (_name, cfg, pattern) => {
    expect(rejection(cfg)).toMatch(pattern);
  });

  it("accepts SAELens's factor-plus-diagonal form when the diagonal completes unit variance", () => {
    const cfg = parseConfig(WorldConfigSchema, { ...BASE, nFeatures: 2, correlation: { kind: "factor", factor: [[0.5], [0.3]], diag: [0.75, 0.91] } }, "x");
    expect(cfg.correlation).toMatchObject({ kind: "factor", diag: [0.75, 0.91] });
  });

  it("reports several problems at once", () => {
    const msg = rejection({ ...BASE, biasNorm: -1, firing: { kind: "constant", probability: -0.1 } });
    expect(msg).toMatch(/biasNorm: must be >= 0/);
    expect(msg).toMatch(/firing\.probability: must be >= 0/);
  });
});

describe("firing profiles and presets", () => {
  it("computes SAELens's Zipf and linear profiles and applies dense overrides", () => {
    const z = firingProfile({ nFeatures: 4, firing: { kind: "zipf", exponent: 1, max: 0.4, min: 0.1 } });
    // 1/rank = [1, 1/2, 1/3, 1/4] mapped affinely onto [0.1, 0.4].
    const raw = [1, 1 / 2, 1 / 3, 1 / 4].map((r) => 0.1 + (0.3 * (r - 0.25)) / 0.75);
    raw.forEach((v, i) => expect(z[i]).toBeCloseTo(v, 15));
    const l = firingProfile({ nFeatures: 5, firing: { kind: "linear", max: 0.5, min: 0.1 }, dense: { features: [2], probability: 0.95 } });
    expect(Array.from(l)).toEqual([0.5, 0.4, 0.95, 0.2, 0.1].map((v, i) => (i === 2 ? v : l[i])));
    expect(l[1]).toBeCloseTo(0.4, 15);
  });

  it("the mutual-exclusion win probability matches brute-force enumeration", () => {
    const r = [0.3, 0.7, 0.5, 0.1];
    const w = winProbabilities(r);
    for (let i = 0; i < r.length; i++) {
      let e = 0;
      for (let mask = 0; mask < 16; mask++) {
        if (!(mask & (1 << i))) continue;
        let p = 1;
        let k = 0;
        for (let j = 0; j < 4; j++) {
          if (j === i) continue;
          if (mask & (1 << j)) {
            p *= r[j]!;
            k++;
          } else p *= 1 - r[j]!;
        }
        e += p / (1 + k);
      }
      expect(w[i]).toBeCloseTo(e, 14);
    }
  });

  it("presets are found by name, and an unknown name lists the valid ones", () => {
    expect(presetNames()).toEqual(["absorption-basic", "synthsaebench-16k"]);
    expect(() => getPreset("absorbtion-basic")).toThrow(/unknown world preset "absorbtion-basic"; the presets are: absorption-basic, synthsaebench-16k/);
  });

  it("absorption-basic is one parent with three exclusive children and four independent features, orthogonal", () => {
    const w = createWorld(getPreset("absorption-basic"));
    expect([w.nFeatures, w.dModel]).toEqual([8, 50]);
    expect(w.children[0]).toEqual([1, 2, 3]);
    expect(w.mutuallyExclusive[0]).toBe(1);
    expect(Array.from(w.parent)).toEqual([-1, 0, 0, 0, -1, -1, -1, -1]);
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j < 8; j++) {
        let dot = 0;
        for (let k = 0; k < 50; k++) dot += w.featureVectors[i * 50 + k]! * w.featureVectors[j * 50 + k]!;
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 6);
      }
    }
    expect(Array.from(w.firingProbability).map((p) => +p.toFixed(12))).toEqual([0.25, 0.06, 0.06, 0.06, 0.1, 0.1, 0.05, 0.05]);
  });

  it("synthsaebench-16k has the SynthSAEBench shape", () => {
    const cfg = parseConfig(WorldConfigSchema, getPreset("synthsaebench-16k"), "preset");
    expect(cfg).toMatchObject({
      nFeatures: 16384,
      dModel: 768,
      seed: 42,
      firing: { kind: "zipf", exponent: 0.5, max: 0.4, min: 5e-4 },
      hierarchy: { generate: { roots: 128, branching: 4, depth: 3, mutuallyExclusivePortion: 1 }, scaleChildrenByParent: true },
      correlation: { kind: "low_rank", rank: 25, scale: 0.1 },
      magnitude: { mean: { kind: "linear", start: 5, end: 4 }, std: { kind: "folded_normal", mean: 0.5, std: 0.5 } },
      biasNorm: 0.5,
      compensateProbabilities: true,
    });
  });
});
