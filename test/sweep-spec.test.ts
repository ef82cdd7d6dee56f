/**
 * Sweep specs and grid expansion: the cells are the cartesian product of seeds and world-axis
 * values (seeds outermost), each SAE config expands over the sparsity levels, the spec hash ignores
 * spelled-out defaults, and invalid specs are errors naming the field before anything trains.
 */
import { describe, expect, it } from "vitest";
import { cartesian, planSweep, saesPerCell } from "../src/experiments/sweep-grid.js";
import { getSweepPreset, sweepPresetNames } from "../src/experiments/sweep-presets.js";
import { parseSweepSpec, specHash, sweepSaes, type SweepSpecInput } from "../src/experiments/sweep-spec.js";
import { WorldConfigSchema } from "../src/toy/config.js";
import { getPreset } from "../src/toy/presets.js";

const spec = (over: Partial<SweepSpecInput> = {}): SweepSpecInput => ({
  name: "t",
  world: "absorption-basic",
  axes: { sparsity: { l1Coefficient: [0.1, 0.3], k: [3, 1] }, childGivenParent: [0.1, 0.2, 0.3], childParentMagnitudeRatio: [0.5, 2] },
  saes: [
    { architecture: "standard", name: "u", dSae: 16 },
    { architecture: "standard", name: "t", dSae: 16, tying: "tied" },
    { architecture: "topk", dSae: 16 },
  ],
  seeds: [1, 2],
  train: { steps: 10, batchSize: 64 },
  ...over,
});

const errorOf = (raw: unknown): string => {
  try {
    planSweep(parseSweepSpec(raw));
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected the spec to be refused");
};

describe("grid expansion", () => {
  it("cartesian varies the last list fastest", () => {
    expect(cartesian<number | string>([[1, 2], ["a", "b", "c"]])).toEqual([[1, "a"], [1, "b"], [1, "c"], [2, "a"], [2, "b"], [2, "c"]]);
    expect(cartesian([])).toEqual([[]]);
  });

  it("cells are seeds x world points, seeds outermost, each with its edited world", () => {
    const plan = planSweep(parseSweepSpec(spec()));
    expect(plan.cells).toHaveLength(2 * 3 * 2);
    expect(plan.worldAxes.map((a) => a.name)).toEqual(["childGivenParent", "childParentMagnitudeRatio"]);
    expect(plan.cells.map((c) => c.index)).toEqual([...Array(12).keys()]);
    expect(new Set(plan.cells.map((c) => c.id)).size).toBe(12);
    expect(plan.cells.slice(0, 6).every((c) => c.seed === 1) && plan.cells.slice(6).every((c) => c.seed === 2)).toBe(true);
    expect(plan.cells.slice(0, 6).map((c) => [c.values.childGivenParent, c.values.childParentMagnitudeRatio])).toEqual([
      [0.1, 0.5], [0.1, 2], [0.2, 0.5], [0.2, 2], [0.3, 0.5], [0.3, 2],
    ]);
    expect(plan.cells[3]!.id).toBe("0003-seed1-childGivenParent0.2-childParentMagnitudeRatio2");
    const w = plan.cells[3]!.worldConfig;
    expect(w.firing.kind === "list" && w.firing.probabilities.slice(0, 4)).toEqual([0.25, 0.05, 0.05, 0.05]);
    expect(w.magnitude.mean.kind === "list" && w.magnitude.mean.values.slice(0, 4)).toEqual([1, 2, 2, 2]);
  });

  it("each SAE config expands over the sparsity levels with its own parameter", () => {
    const plan = planSweep(parseSweepSpec(spec()));
    expect(saesPerCell(plan)).toBe(6);
    const saes = sweepSaes(plan.spec);
    expect(saes.map((s) => [s.name, s.parameter])).toEqual([["u", "l1Coefficient"], ["t", "l1Coefficient"], ["topk-untied", "k"]]);
    expect(saes[1]!.levels.map((l) => [l.config.name, l.config.tying, (l.config as { l1Coefficient: number }).l1Coefficient])).toEqual([["t.L0", "tied", 0.1], ["t.L1", "tied", 0.3]]);
    expect(saes[2]!.levels.map((l) => (l.config as { k: number }).k)).toEqual([3, 1]);
  });

  it("without axes there is one cell per seed and one SAE per config", () => {
    const plan = planSweep(parseSweepSpec(spec({ axes: {}, saes: [{ architecture: "standard", dSae: 8, l1Coefficient: 0.2 }], seeds: [5] })));
    expect(plan.cells.map((c) => c.id)).toEqual(["0000-seed5"]);
    expect(plan.saes[0]!.levels.map((l) => [l.value, l.config.name])).toEqual([[null, "standard-untied"]]);
    expect(plan.cells[0]!.worldConfig).toEqual(WorldConfigSchema.parse(getPreset("absorption-basic")));
  });

  it("the hash ignores defaults written out and changes with any value", () => {
    const a = parseSweepSpec(spec());
    const b = parseSweepSpec({ ...spec(), eval: { samples: 20_000, seed: 12345 } });
    expect(specHash(a)).toBe(specHash(b));
    expect(specHash(parseSweepSpec(spec({ seeds: [1, 3] })))).not.toBe(specHash(a));
  });

  it("every built-in spec is valid", () => {
    for (const name of sweepPresetNames()) {
      const plan = planSweep(parseSweepSpec(getSweepPreset(name)));
      expect(plan.cells.length).toBeGreaterThan(0);
    }
    const p = planSweep(parseSweepSpec(getSweepPreset("absorption-l1xcooc")));
    expect([p.cells.length, saesPerCell(p)]).toEqual([4, 20]);
  });
});

describe("invalid specs are refused up front", () => {
  it.each([
    ["an unknown axis", { axes: { l1: [0.1] } }, /axes: unknown key "l1"/],
    ["sparsity lists of different lengths", { axes: { sparsity: { l1Coefficient: [0.1, 0.2], k: [2] } } }, /axes.sparsity.k: has 1 values but the longest list has 2/],
    ["a swept parameter set in an SAE config", { saes: [{ architecture: "standard", dSae: 16, l1Coefficient: 1 }] }, /saes\[0\].l1Coefficient: the sparsity axis sets l1Coefficient; remove it here/],
    ["a missing list for an architecture", { axes: { sparsity: { l1Coefficient: [0.1] } }, saes: [{ architecture: "topk", dSae: 16 }] }, /SAE config saes\[0\] is topk, so the sparsity axis needs a k list/],
    ["a list no SAE uses", { axes: { sparsity: { l1Coefficient: [0.1], k: [2] } }, saes: [{ architecture: "standard", dSae: 16 }] }, /axes.sparsity.k: no SAE config uses k/],
    ["a level invalid for an SAE", { axes: { sparsity: { k: [2, 20] } }, saes: [{ architecture: "topk", dSae: 16 }] }, /saes\[0\].k: .*at sparsity level 1, k = 20/],
    ["duplicate SAE names", { saes: [{ architecture: "standard", dSae: 16 }, { architecture: "standard", dSae: 32 }], axes: { sparsity: { l1Coefficient: [0.1] } } }, /saes\[1\].name: two SAE configs are named "standard-untied"/],
    ["an unknown world preset", { world: "absorption-basik" }, /world: unknown world preset "absorption-basik"/],
    ["a bad inline world", { world: { ...getPreset("absorption-basic"), nFeatures: 8, dmodel: 50 } }, /world: unknown key "dmodel"/],
    ["a probability axis out of range", { axes: { childGivenParent: [0.2, 1.5] } }, /axes.childGivenParent\[1\]: must be <= 1/],
    ["repeated axis values", { axes: { childGivenParent: [0.2, 0.2] } }, /values must be distinct/],
    ["a cross-field train error", { train: { steps: 10, lrWarmUpSteps: 20 } }, /train.lrWarmUpSteps: must be at most steps/],
    ["a train seed", { train: { steps: 10, seed: 3 } }, /train: unknown key "seed"/],
    ["repeated seeds", { seeds: [1, 1] }, /seeds: seeds must be distinct/],
    ["an impossible cell", { axes: { childGivenParent: [0.2, 0.34] }, saes: [{ architecture: "standard", dSae: 16, l1Coefficient: 0.1 }] }, /sweep cell \(P\(child\|parent\) 0.34\).*at most 1\/3/],
  ])("%s", (_name, over, message) => {
    expect(errorOf({ ...spec(), ...over })).toMatch(message);
  });

  it("says a bad train field once", () => {
    const msg = errorOf({ ...spec(), train: { steps: 10, lr: -0.003 } });
    expect(msg.match(/train\.lr:/g)).toHaveLength(1);
  });
});
