/**
 * Sweep reports on hand-made results (numbers chosen so the expected reading is known): grids
 * average the other axes and seeds, the summary states the trends and the tied/untied comparison
 * the numbers imply (including a tied SAE that absorbs), metric disagreements are named, and
 * report.html is self-contained with one heatmap per (metric, SAE config, pair of axes).
 */
import { describe, expect, it } from "vitest";
import { planSweep, type SweepPlan } from "../src/experiments/sweep-grid.js";
import { CELL_FORMAT, type CellResult, type SweepMetrics } from "../src/experiments/sweep-results.js";
import { parseSweepSpec, type SweepSpecInput } from "../src/experiments/sweep-spec.js";
import { axisProfile, pairGrid, SWEEP_METRICS, sweepRows, sweepView } from "../src/report/sweep-data.js";
import { renderSweepHtml } from "../src/report/sweep-html.js";
import { renderSweepSummary, renderSweepTable, trendWord } from "../src/report/sweep-text.js";

const SPEC: SweepSpecInput = {
  name: "hand",
  world: "absorption-basic",
  axes: { sparsity: { l1Coefficient: [0.1, 0.5] }, childGivenParent: [0.1, 0.3], childParentMagnitudeRatio: [0.5, 2] },
  saes: [
    { architecture: "standard", name: "u", dSae: 16 },
    { architecture: "standard", name: "t", dSae: 16, tying: "tied" },
  ],
  seeds: [1, 2],
  train: { steps: 1 },
};

type Fn = (c: { config: string; level: number; cgp: number; ratio: number; seed: number }) => Partial<SweepMetrics>;

function metrics(over: Partial<SweepMetrics>): SweepMetrics {
  return {
    l0: 1, deadLatents: 0, explainedVariance: 0.9, mse: 0.01, shrinkage: 0.9, mcc: 0.9, uniqueness: 1,
    fullAbsorption: 0, partialRatio: 1, belowHalfShare: 0, absorptionGap: 0, saebenchAbsorptionFraction: 0, saebenchFullAbsorption: 0,
    maxEdgeFullAbsorption: 0, mainDisagreements: 0, maxParentLikeFullAbsorption: null, ...over,
  };
}

/** Returns fabricated results for every cell of `plan`, with metrics from `fn`. */
function results(plan: SweepPlan, fn: Fn): CellResult[] {
  return plan.cells.map((cell) => ({
    format: CELL_FORMAT,
    specHash: plan.hash,
    index: cell.index,
    id: cell.id,
    seed: cell.seed,
    values: cell.values as Record<string, number>,
    world: { nSamples: 0, trueL0: 0, nEdges: 0, edges: [] },
    saes: plan.saes.flatMap((s) =>
      s.levels.map((l, level) => ({
        name: l.config.name!, config: s.name, level, parameter: s.parameter, value: l.value, architecture: s.architecture, tied: s.tying === "tied",
        metrics: metrics(fn({ config: s.name, level, cgp: cell.values.childGivenParent!, ratio: cell.values.childParentMagnitudeRatio!, seed: cell.seed })),
        edges: [], notes: [],
      })),
    ),
    seconds: { train: 0, eval: 0 },
  }));
}

const plan = planSweep(parseSweepSpec(SPEC));
/** Untied: absorption rises with L1 and with P(child|parent); tied: none, except one grid point. */
const pattern: Fn = ({ config, level, cgp, ratio, seed }) =>
  config === "u"
    ? { fullAbsorption: 0.1 + 0.4 * level + (cgp === 0.3 ? 0.2 : 0) + (seed === 2 ? 0.02 : 0), l0: 1, mcc: 0.8, saebenchAbsorptionFraction: 0.1 + 0.4 * level }
    : { fullAbsorption: level === 1 && cgp === 0.3 && ratio === 2 ? 0.3 : 0, l0: 2, mcc: 0.95, saebenchAbsorptionFraction: 0.7 };

describe("sweep data", () => {
  const view = sweepView(plan, results(plan, pattern));

  it("pairGrid averages the third axis and the seeds", () => {
    // Axes: 0 sparsity, 1 childGivenParent, 2 childParentMagnitudeRatio.
    const g = pairGrid(view, "u", 1, 0, "fullAbsorption");
    expect(g.counts).toEqual([[4, 4], [4, 4]]);
    expect(g.values[0]![0]).toBeCloseTo(0.11, 12);
    expect(g.values[1]![1]).toBeCloseTo(0.71, 12);
    const t = pairGrid(view, "t", 2, 1, "fullAbsorption");
    expect(t.values[1]![1]).toBeCloseTo(0.15, 12);
    expect(axisProfile(view, "u", 0, "fullAbsorption").map((v) => Number(v!.toFixed(6)))).toEqual([0.21, 0.61]);
  });

  it("sweepRows gives one row per trained SAE with the cell's axis values", () => {
    const rows = sweepRows(results(plan, pattern));
    expect(rows).toHaveLength(plan.cells.length * 4);
    expect(rows[0]).toMatchObject({ cell: plan.cells[0]!.id, seed: 1, childGivenParent: 0.1, childParentMagnitudeRatio: 0.5, sae: "u", sparsityParameter: "l1Coefficient", sparsityValue: 0.1 });
  });

  it("trendWord reads the direction of a sequence", () => {
    expect(trendWord([0, 0.2, 0.5])).toBe("rises");
    expect(trendWord([0.5, 0.49, 0.1])).toBe("falls");
    expect(trendWord([0.1, 0.12, 0.11])).toBe("stays flat");
    expect(trendWord([0, 0.5, 0.1])).toBe("is not monotonic");
    expect(trendWord([null, 0.3])).toBe("has one value");
  });
});

describe("sweep summary", () => {
  it("states each config's trends and where a tied SAE absorbs too", () => {
    const text = renderSweepSummary(sweepView(plan, results(plan, pattern))).join("\n");
    expect(text).toMatch(/^u \(standard, untied\): full absorption 0\.11 to 0\.71 \(mean 0\.41\), at least 0\.1 at 8 of 8 grid points; highest at \(L1 0\.5, P\(child\|parent\) 0\.3, child\/parent magnitude (0\.5|2)\)\./m);
    expect(text).toMatch(/Along l1Coefficient \(0\.1, 0\.5\) it rises: 0\.21, 0\.61\. Along P\(child\|parent\) \(0\.1, 0\.3\) it rises: 0\.31, 0\.51\. Along child\/parent magnitude \(0\.5, 2\) it stays flat/);
    expect(text).toMatch(/tied versus untied standard \(t vs u, 8 grid points\): t has lower full absorption at 8, about the same \(within 0\.05\) at 0, higher at 0\./);
    expect(text).toMatch(/t absorbs too \(full absorption at least 0\.1\) at 1 point\(s\): \(L1 0\.5, P\(child\|parent\) 0\.3, child\/parent magnitude 2\) 0\.30 vs untied 0\.71; tying does not prevent absorption there\./);
    expect(text).toMatch(/L0 is higher for t at 8 of 8 \(mean 2\.00 vs 1\.00\); MCC is higher for t at 8 of 8/);
    expect(text).toMatch(/Over 2 seeds, full absorption at the same grid point spans 0\.01 on average/);
  });

  it("says so when the tied SAE stays below the threshold everywhere, and names metric disagreements", () => {
    const calm: Fn = (c) => (c.config === "t" ? { ...pattern(c), fullAbsorption: 0.02, explainedVariance: c.level === 1 && c.cgp === 0.1 && c.ratio === 2 ? 0.3 : 0.9 } : pattern(c));
    const text = renderSweepSummary(sweepView(plan, results(plan, calm))).join("\n");
    expect(text).toMatch(/t stays below 0\.1 at every point \(highest 0\.02 at/);
    expect(text).not.toMatch(/tying does not prevent/);
    expect(text).toMatch(/At 1 of these points t explains less than 0\.5 of the variance, so its absorption there is measured on a collapsed SAE\./);
    expect(text).toMatch(/Explained variance is below 0\.5 at 1 point\(s\) \(\(L1 0\.5, P\(child\|parent\) 0\.1, child\/parent magnitude 2\) 0\.30\)/);
    expect(text).toMatch(/disagree \(differ by more than 0\.3\) at 8 of 16 \(SAE, grid point\) results \(t: 8\)/);
  });

  it("says when a tied SAE's main latent stays clean while a second parent latent is absorbed", () => {
    const split: Fn = (c) => (c.config === "t" ? { ...pattern(c), fullAbsorption: 0.02, maxParentLikeFullAbsorption: c.level === 1 ? 0.7 : 0.05 } : pattern(c));
    const text = renderSweepSummary(sweepView(plan, results(plan, split))).join("\n");
    expect(text).toMatch(/t stays below 0\.1 at every point/);
    expect(text).toMatch(/a second parent latent of t is absorbed at 4 of these points, so tying did not prevent absorption altogether/);
    expect(text).toMatch(/A second latent that carries the parent \(decoder cosine at least 0\.8, not the main latent\) is absorbed \(its own full absorption at least 0\.1\) at 4 point\(s\), up to 0\.70/);
    const none = renderSweepSummary(sweepView(plan, results(plan, (c) => ({ ...pattern(c), maxParentLikeFullAbsorption: 0.05 })))).join("\n");
    expect(none).not.toMatch(/second (parent )?latent/);
  });

  it("covers only finished cells and says how many", () => {
    const some = results(plan, pattern).slice(0, 3);
    const view = sweepView(plan, some);
    expect(renderSweepSummary(view)[0]).toBe(`Only 3 of ${plan.cells.length} cells are finished; everything below covers those.`);
    expect(renderSweepSummary(sweepView(plan, []))).toEqual(["No cell has finished yet: nothing to summarise."]);
  });

  it("the table shows a full-absorption grid per config and a row per config and level", () => {
    const table = renderSweepTable(sweepView(plan, results(plan, pattern)));
    expect(table).toMatch(/Full absorption \(mean over child\/parent magnitude and seeds\); rows: sparsity; columns: P\(child\|parent\)/);
    expect(table).toMatch(/^L1 0\.5\s+0\.510\s+0\.710$/m);
    expect(table).toMatch(/^t\s+L1 0\.5\s+2\.00\s+0\.900\s+0\.950\s+0\.075\s+0\.300\s+0\.700$/m);
  });
});

describe("sweep report.html", () => {
  it("is self-contained, with one heatmap per (metric, SAE config, pair of axes)", () => {
    const html = renderSweepHtml(sweepView(plan, results(plan, pattern)), { command: "saelab sweep x.json --out y", wallSeconds: 12 });
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/<script|<link|https?:\/\/|src=|url\(/i);
    const maps = [...html.matchAll(/<svg class="sweep-heatmap" data-metric="(\w+)" data-sae="(\w+)" data-axes="([\w]+)"/g)].map((m) => `${m[1]}|${m[2]}|${m[3]}`);
    const pairs = ["sparsityxchildGivenParent", "sparsityxchildParentMagnitudeRatio", "childGivenParentxchildParentMagnitudeRatio"];
    const want = pairs.flatMap((p) => SWEEP_METRICS.flatMap((m) => ["u", "t"].map((s) => `${m.key}|${s}|${p}`)));
    expect(maps.sort()).toEqual(want.sort());
    expect(html).toContain("tying does not prevent absorption there");
    expect(html).toContain("saelab sweep x.json --out y");
  });

  it("a sweep over one axis draws one strip per (metric, SAE config)", () => {
    const one = planSweep(parseSweepSpec({ ...SPEC, axes: { sparsity: { l1Coefficient: [0.1, 0.5] } }, seeds: [1] }));
    const html = renderSweepHtml(sweepView(one, results(one, pattern)));
    expect(html.match(/class="sweep-heatmap"/g)).toHaveLength(SWEEP_METRICS.length * 2);
    expect(html).toContain('data-axes="sparsity"');
  });
});
