/**
 * The sweep's results arranged for reading: one record per trained SAE with its grid coordinates,
 * grid points averaged over seeds, and the per-pair grids the heatmaps draw. Pure functions of the
 * plan and the stored cells; the text summary, the HTML report and `--json` all read these.
 */
import type { SweepPlan } from "../experiments/sweep-grid.js";
import type { CellResult, SweepMetrics } from "../experiments/sweep-results.js";
import { WORLD_AXES, type WorldAxisName } from "../experiments/sweep-axes.js";
import { canonicalJson } from "../json.js";

/** The metrics drawn as heatmaps, with their colour scale (`fixed`: white at the first value, darkest at the second; null: 0 to the largest value). */
export const SWEEP_METRICS = [
  { key: "fullAbsorption", label: "full absorption", hue: 0, fixed: [0, 1] },
  { key: "saebenchAbsorptionFraction", label: "SAEBench absorption fraction", hue: 25, fixed: [0, 1] },
  { key: "maxParentLikeFullAbsorption", label: "full absorption of a second parent latent", hue: 330, fixed: [0, 1] },
  { key: "mcc", label: "MCC", hue: 210, fixed: [0.5, 1] },
  { key: "l0", label: "L0", hue: 270, fixed: null },
  { key: "explainedVariance", label: "explained variance", hue: 140, fixed: [0.5, 1] },
] as const satisfies readonly { key: keyof SweepMetrics; label: string; hue: number; fixed: readonly [number, number] | null }[];
export type SweepMetricKey = (typeof SWEEP_METRICS)[number]["key"];

/** A dimension of the grid: the sparsity levels or one swept world axis. */
export interface SweepDim {
  /** "sparsity" or a world axis name. */
  key: string;
  label: string;
  /** Number of values. */
  size: number;
  /** Tick labels for an SAE config (sparsity ticks are that config's own parameter values). */
  ticks(config: string): string[];
}

/** One SAE config of the sweep as the report shows it. */
export interface SweepConfigInfo {
  name: string;
  architecture: string;
  tying: string;
  parameter: string | null;
  /** Sparsity parameter value per level (null without a sparsity axis). */
  values: (number | null)[];
  /** The config without its name and tying: configs with equal peers differ only in tying. */
  peer: string;
}

/** One trained SAE with its grid coordinates. */
export interface SweepRecord {
  config: string;
  /** Index along every axis of the full grid: sparsity level first (0 without one), then each swept world axis. */
  coords: number[];
  seed: number;
  cell: string;
  metrics: SweepMetrics;
}

/** The sweep laid out for reports. */
export interface SweepView {
  name: string;
  description?: string;
  configs: SweepConfigInfo[];
  /** Every axis of the grid (sparsity first, even with one level), in coordinate order. */
  axes: SweepDim[];
  /** The axes with more than one value (the ones heatmaps and trends are drawn over). */
  dims: number[];
  seeds: number[];
  records: SweepRecord[];
  cellsDone: number;
  cellsTotal: number;
  /** Per world point: configured and measured mean P(child|parent) and magnitude ratio over edges. */
  worldPoints: { values: Partial<Record<WorldAxisName, number>>; seeds: number; configured: { pChildGivenParent: number | null; magnitudeRatio: number | null }; measured: { pChildGivenParent: number | null; magnitudeRatio: number | null; trueL0: number } }[];
}

/** Returns the mean of the non-null values, or null when there are none. */
export function meanOf(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

/** Returns a number formatted compactly for an axis tick (e.g. 0.3, 1e-3, 4). */
export function tick(v: number): string {
  return Math.abs(v) >= 1e-3 || v === 0 ? String(Number(v.toPrecision(4))) : v.toExponential(1);
}

/** Returns the view of a plan and its finished cells. */
export function sweepView(plan: SweepPlan, results: readonly CellResult[]): SweepView {
  const configs: SweepConfigInfo[] = plan.saes.map((s, i) => {
    const { name: _n, tying: _t, tieLoss: _l, ...rest } = plan.spec.saes[i]!;
    return { name: s.name, architecture: s.architecture, tying: s.tying, parameter: s.parameter, values: s.levels.map((l) => l.value), peer: canonicalJson(rest) };
  });
  const levels = Math.max(...plan.saes.map((s) => s.levels.length));
  const byName = new Map(configs.map((c) => [c.name, c]));
  const axes: SweepDim[] = [
    {
      key: "sparsity",
      label: "sparsity",
      size: levels,
      ticks: (config) => {
        const c = byName.get(config);
        return Array.from({ length: levels }, (_, i) => (c?.parameter ? `${short(c.parameter)} ${tick(c.values[i] ?? NaN)}` : "-"));
      },
    },
    ...plan.worldAxes.map((a) => ({ key: a.name, label: WORLD_AXES[a.name].label, size: a.values.length, ticks: () => a.values.map(tick) })),
  ];
  const records: SweepRecord[] = results.flatMap((r) =>
    r.saes.map((s) => ({
      config: s.config,
      coords: [s.level ?? 0, ...plan.worldAxes.map((a) => a.values.indexOf(r.values[a.name]!))],
      seed: r.seed,
      cell: r.id,
      metrics: s.metrics,
    })),
  );
  const points = new Map<string, CellResult[]>();
  for (const r of results) {
    const key = plan.worldAxes.map((a) => r.values[a.name]).join(",");
    points.set(key, [...(points.get(key) ?? []), r]);
  }
  const worldPoints = [...points.values()].map((rs) => {
    const edges = rs.flatMap((r) => r.world.edges);
    return {
      values: rs[0]!.values as Partial<Record<WorldAxisName, number>>,
      seeds: rs.length,
      configured: { pChildGivenParent: meanOf(edges.map((e) => e.configured.pChildGivenParent)), magnitudeRatio: meanOf(edges.map((e) => e.configured.magnitudeRatio)) },
      measured: { pChildGivenParent: meanOf(edges.map((e) => e.measured.pChildGivenParent)), magnitudeRatio: meanOf(edges.map((e) => e.measured.magnitudeRatio)), trueL0: meanOf(rs.map((r) => r.world.trueL0)) ?? 0 },
    };
  });
  return {
    name: plan.spec.name,
    ...(plan.spec.description ? { description: plan.spec.description } : {}),
    configs,
    axes,
    dims: axes.map((a, i) => (a.size > 1 ? i : -1)).filter((i) => i >= 0),
    seeds: plan.spec.seeds,
    records,
    cellsDone: results.length,
    cellsTotal: plan.cells.length,
    worldPoints,
  };
}

function short(parameter: string): string {
  return parameter === "l1Coefficient" ? "L1" : parameter === "l0Coefficient" ? "L0 coef" : parameter;
}

/** A metric averaged over seeds at one grid point of one SAE config. */
export interface GridPoint {
  config: string;
  coords: number[];
  /** Mean over seeds of each metric. */
  mean: Record<SweepMetricKey, number | null>;
  /** Per-seed values of full absorption (for the seed spread). */
  fullBySeed: (number | null)[];
}

/** Returns each SAE config's grid points (coordinates over all axes), averaged over seeds. */
export function gridPoints(view: SweepView): GridPoint[] {
  const groups = new Map<string, SweepRecord[]>();
  for (const r of view.records) {
    const key = `${r.config}|${r.coords.join(",")}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => ({
    config: rs[0]!.config,
    coords: rs[0]!.coords,
    mean: Object.fromEntries(SWEEP_METRICS.map((m) => [m.key, meanOf(rs.map((r) => r.metrics[m.key]))])) as Record<SweepMetricKey, number | null>,
    fullBySeed: rs.map((r) => r.metrics.fullAbsorption),
  }));
}

/** Returns the mean of `metric` over every record of `config` at each (x, y) of axes `ax` (columns) and `ay` (rows), averaging the other axes and the seeds. */
export function pairGrid(view: SweepView, config: string, ax: number, ay: number, metric: SweepMetricKey): { values: (number | null)[][]; counts: number[][] } {
  const nx = view.axes[ax]!.size;
  const ny = view.axes[ay]!.size;
  const sums = Array.from({ length: ny }, () => new Array<(number | null)[]>(nx).fill([]).map(() => [] as (number | null)[]));
  for (const r of view.records) {
    if (r.config !== config) continue;
    sums[r.coords[ay]!]![r.coords[ax]!]!.push(r.metrics[metric]);
  }
  return { values: sums.map((row) => row.map(meanOf)), counts: sums.map((row) => row.map((v) => v.length)) };
}

/** Returns the mean of `metric` for `config` at each value of axis `a` (all other axes and seeds averaged). */
export function axisProfile(view: SweepView, config: string, a: number, metric: SweepMetricKey): (number | null)[] {
  const vals = Array.from({ length: view.axes[a]!.size }, () => [] as (number | null)[]);
  for (const r of view.records) if (r.config === config) vals[r.coords[a]!]!.push(r.metrics[metric]);
  return vals.map(meanOf);
}

/** Returns "(label tick, ...)" naming a grid point for `config` over the swept axes. */
export function pointLabel(view: SweepView, config: string, coords: readonly number[]): string {
  const parts = view.dims.map((d) => {
    const a = view.axes[d]!;
    const t = a.ticks(config)[coords[d]!]!;
    return a.key === "sparsity" ? t : `${a.label} ${t}`;
  });
  return parts.length > 0 ? `(${parts.join(", ")})` : "(the single grid point)";
}

/** One row per trained SAE, for `--json` and spreadsheets. */
export function sweepRows(results: readonly CellResult[]): Record<string, string | number | boolean | null>[] {
  return results.flatMap((r) =>
    r.saes.map((s) => ({
      cell: r.id,
      seed: r.seed,
      ...r.values,
      sae: s.config,
      architecture: s.architecture,
      tied: s.tied,
      ...(s.parameter ? { sparsityParameter: s.parameter, sparsityValue: s.value } : {}),
      ...s.metrics,
      measuredChildGivenParent: meanOf(r.world.edges.map((e) => e.measured.pChildGivenParent)),
      measuredMagnitudeRatio: meanOf(r.world.edges.map((e) => e.measured.magnitudeRatio)),
    })),
  );
}
