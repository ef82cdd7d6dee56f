/** Heavier statistics on SynthSAEBench-sized worlds (run with `npm run test:slow`). */
import { beforeAll, describe, expect, it } from "vitest";
import { naiveSampler } from "../src/toy/naive.js";
import { positivePartMoments } from "../src/toy/normal.js";
import { getPreset } from "../src/toy/presets.js";
import { createWorld } from "../src/toy/world.js";
import type { WorldConfigInput } from "../src/toy/config.js";
import { batchStats, twoSampleZ, zScore } from "./toy-helpers.js";

describe.skipIf(!process.env.SAELAB_SLOW)("slow: synthsaebench-16k", () => {
  const n = 40_960;
  let world: ReturnType<typeof createWorld>;
  let stats: ReturnType<typeof batchStats>[];
  let count: Float64Array;
  let sum: Float64Array;
  // In beforeAll, not the describe body: a skipped suite's body still runs at collection time.
  beforeAll(() => {
    world = createWorld(getPreset("synthsaebench-16k"));
    const sampler = world.sampler(77);
    stats = Array.from({ length: n / 4096 }, () => batchStats(sampler.next(4096)));
    count = new Float64Array(world.nFeatures);
    sum = new Float64Array(world.nFeatures);
    for (const s of stats) for (let i = 0; i < world.nFeatures; i++) {
      count[i]! += s.count[i]!;
      sum[i]! += s.sum[i]!;
    }
  });

  it("parentless features fire at their exact marginals (a copula preserves them)", () => {
    const bad: string[] = [];
    for (let i = 0; i < world.nFeatures; i++) {
      if (world.parent[i] !== -1) continue;
      const z = zScore(count[i]!, n, world.firingProbability[i]!);
      if (z > 4.5) bad.push(`${i}: ${(count[i]! / n).toFixed(5)} vs ${world.firingProbability[i]!.toFixed(5)} (z ${z.toFixed(1)})`);
    }
    expect(bad).toEqual([]);
  });

  it("children never fire without their parent, exclusive siblings never co-fire, and L0 is near the predicted 35", () => {
    let orphans = 0;
    let cofire = 0;
    for (const s of stats) {
      for (let c = 0; c < world.nFeatures; c++) if (world.parent[c]! >= 0 && s.count[c]! > 0) orphans += s.orphans(c, world.parent[c]!);
      for (let v = 0; v < world.nFeatures; v++) {
        if (!world.mutuallyExclusive[v] || s.count[v] === 0) continue;
        const kids = world.children[v]!;
        for (let a = 0; a < kids.length; a++) for (let b = a + 1; b < kids.length; b++) if (s.count[kids[a]!]! > 0 && s.count[kids[b]!]! > 0) cofire += s.together(kids[a]!, kids[b]!);
      }
    }
    expect(orphans).toBe(0);
    expect(cofire).toBe(0);
    const l0 = count.reduce((a, b) => a + b, 0) / n;
    const predicted = world.firingProbability.reduce((a, b) => a + b, 0);
    expect(Math.abs(l0 - predicted) / predicted).toBeLessThan(0.03);
  });

  it("parentless magnitudes have the truncated-normal mean", () => {
    let got = 0;
    let want = 0;
    for (let i = 0; i < world.nFeatures; i++) {
      if (world.parent[i] !== -1 || count[i] === 0) continue;
      got += sum[i]!;
      want += count[i]! * positivePartMoments(world.magnitudeMean[i]!, world.magnitudeStd[i]!).mean;
    }
    expect(Math.abs(got / want - 1)).toBeLessThan(0.003);
  });
});

describe.skipIf(!process.env.SAELAB_SLOW)("slow: a SynthSAEBench-shaped world against the naive twin", () => {
  it("per-feature rates and per-sample L0 agree", () => {
    const cfg: WorldConfigInput = {
      ...getPreset("synthsaebench-16k"),
      nFeatures: 2048,
      dModel: 128,
      hierarchy: { generate: { roots: 16, branching: 4, depth: 3, mutuallyExclusivePortion: 1 }, scaleChildrenByParent: true },
    };
    const w = createWorld(cfg);
    const m = 20_000;
    const a = batchStats(w.sampler(1).next(m));
    const b = batchStats(naiveSampler(w.plan, 1).next(m));
    const bad: number[] = [];
    for (let i = 0; i < w.nFeatures; i++) if (twoSampleZ(a.count[i]!, m, b.count[i]!, m) > 4.5) bad.push(i);
    expect(bad).toEqual([]);
    const l0a = a.count.reduce((x, y) => x + y, 0) / m;
    const l0b = b.count.reduce((x, y) => x + y, 0) / m;
    expect(Math.abs(l0a - l0b) / l0b).toBeLessThan(0.02);
  });
});
