/**
 * Plain-text readings of a sweep: the compact terminal table and the summary that states the
 * pattern found. Every sentence is computed from the numbers (thresholds are the constants below);
 * nothing is written in advance about which SAE should absorb.
 */
import { alignTable } from "./text.js";
import { axisProfile, gridPoints, meanOf, pairGrid, pointLabel, tick, type GridPoint, type SweepView } from "./sweep-data.js";

/** Full absorption (mean over seeds) at or above this counts as absorbing at a grid point. */
export const ABSORBING = 0.1;
/** Differences within this are "about the same". */
export const SAME = 0.05;
/** Full absorption and SAEBench's fraction further apart than this are reported as disagreeing. */
export const DISAGREE = 0.3;
/** Explained variance below this marks a collapsed SAE, whose low absorption says little. */
export const COLLAPSED_EV = 0.5;

const f2 = (v: number | null) => (v === null ? "n/a" : v.toFixed(2));
const f3 = (v: number | null) => (v === null ? "n/a" : v.toFixed(3));

/** Returns the terminal table: a full-absorption grid per SAE config over the first two swept axes, then one row per config and level. */
export function renderSweepTable(view: SweepView): string {
  const blocks: string[] = [];
  const [dy, dx] = view.dims;
  if (dy !== undefined) {
    const other = view.dims.length > 2 ? ` (mean over ${view.dims.slice(2).map((d) => view.axes[d]!.label).join(", ")} and seeds)` : view.seeds.length > 1 ? " (mean over seeds)" : "";
    const cols = dx === undefined ? "" : `; columns: ${view.axes[dx]!.label}`;
    blocks.push(`Full absorption${other}; rows: ${view.axes[dy]!.label}${cols}`);
    for (const c of view.configs) {
      const g = pairGrid(view, c.name, dx ?? dy, dy, "fullAbsorption");
      const yt = view.axes[dy]!.ticks(c.name);
      const header = [c.name, ...(dx === undefined ? ["full abs"] : view.axes[dx]!.ticks(c.name))];
      const rows = yt.map((t, r) => [t, ...(dx === undefined ? [f3(g.values[r]![r] ?? null)] : g.values[r]!.map(f3))]);
      blocks.push(alignTable(header, rows));
    }
  }
  const header = ["SAE", "sparsity", "L0", "expl.var", "MCC", "full abs", "max full", "SB frac"];
  const rows: string[][] = [];
  const points = gridPoints(view);
  for (const c of view.configs) {
    c.values.forEach((v, level) => {
      const ps = points.filter((p) => p.config === c.name && p.coords[0] === level);
      const m = (k: keyof GridPoint["mean"]) => meanOf(ps.map((p) => p.mean[k]));
      const full = ps.map((p) => p.mean.fullAbsorption).filter((x): x is number => x !== null);
      rows.push([c.name, view.axes[0]!.ticks(c.name)[level] ?? "-", f2(m("l0")), f3(m("explainedVariance")), f3(m("mcc")), f3(m("fullAbsorption")), f3(full.length ? Math.max(...full) : null), f3(m("saebenchAbsorptionFraction"))]);
    });
  }
  const span = view.dims.filter((d) => d > 0).length > 0 ? "means over the world axes' values and seeds" : view.seeds.length > 1 ? "means over seeds" : "one cell";
  blocks.push(`Per SAE config and sparsity level (${span}):\n${alignTable(header, rows)}`);
  return blocks.join("\n\n");
}

/** Returns "rises", "falls", "flat" or "is not monotonic" for a sequence of means. */
export function trendWord(seq: readonly (number | null)[]): string {
  const v = seq.filter((x): x is number => x !== null);
  if (v.length < 2) return "has one value";
  if (Math.max(...v) - Math.min(...v) < SAME) return "stays flat";
  const d = v.slice(1).map((x, i) => x - v[i]!);
  if (d.every((x) => x >= -0.02)) return "rises";
  if (d.every((x) => x <= 0.02)) return "falls";
  return "is not monotonic";
}

function list(items: readonly string[], max = 3): string {
  const shown = items.slice(0, max);
  const rest = items.length - shown.length;
  return `${shown.join("; ")}${rest > 0 ? `; and ${rest} more` : ""}`;
}

/** Returns the summary paragraphs: per-config pattern, tied versus untied, metric disagreements, seed spread. */
export function renderSweepSummary(view: SweepView): string[] {
  const out: string[] = [];
  const points = gridPoints(view);
  if (points.length === 0) return ["No cell has finished yet: nothing to summarise."];
  if (view.cellsDone < view.cellsTotal) out.push(`Only ${view.cellsDone} of ${view.cellsTotal} cells are finished; everything below covers those.`);
  const label = (p: GridPoint) => pointLabel(view, p.config, p.coords);
  for (const c of view.configs) {
    const ps = points.filter((p) => p.config === c.name && p.mean.fullAbsorption !== null);
    if (ps.length === 0) {
      out.push(`${c.name}: full absorption is undefined everywhere (no parent/child samples).`);
      continue;
    }
    const full = ps.map((p) => p.mean.fullAbsorption!);
    const hi = ps[full.indexOf(Math.max(...full))]!;
    const absorbing = ps.filter((p) => p.mean.fullAbsorption! >= ABSORBING);
    const s = [
      `${c.name} (${c.architecture}, ${c.tying}): full absorption ${f2(Math.min(...full))} to ${f2(Math.max(...full))} (mean ${f2(meanOf(full))}), ` +
        `at least ${ABSORBING} at ${absorbing.length} of ${ps.length} grid points${absorbing.length > 0 ? `; highest at ${label(hi)}` : ""}.`,
    ];
    if (Math.min(...full) < -SAME) {
      const lo = ps[full.indexOf(Math.min(...full))]!;
      s.push(`It is negative (down to ${f2(lo.mean.fullAbsorption)} at ${label(lo)}) where the main latent is silent more often when the parent fires alone than with a child.`);
    }
    for (const d of view.dims) {
      const a = view.axes[d]!;
      const prof = axisProfile(view, c.name, d, "fullAbsorption");
      const sparsity = a.key === "sparsity" && c.parameter !== null;
      const ticks = sparsity ? c.values.map((v) => (v === null ? "-" : tick(v))) : a.ticks(c.name);
      s.push(`Along ${sparsity ? c.parameter : a.label} (${ticks.join(", ")}) it ${trendWord(prof)}: ${prof.map(f2).join(", ")}.`);
    }
    const split = points.filter((p) => p.config === c.name && (p.mean.maxParentLikeFullAbsorption ?? 0) >= ABSORBING);
    if (split.length > 0) {
      const top = split.reduce((a, b) => (b.mean.maxParentLikeFullAbsorption! > a.mean.maxParentLikeFullAbsorption! ? b : a));
      s.push(
        `A second latent that carries the parent (decoder cosine at least 0.8, not the main latent) is absorbed (its own full absorption at least ${ABSORBING}) at ${split.length} point(s), ` +
          `up to ${f2(top.mean.maxParentLikeFullAbsorption)} at ${label(top)}; the main-latent figures above do not count it.`,
      );
    }
    const collapsed = points.filter((p) => p.config === c.name && p.mean.explainedVariance !== null && p.mean.explainedVariance < COLLAPSED_EV);
    if (collapsed.length > 0) s.push(`Explained variance is below ${COLLAPSED_EV} at ${collapsed.length} point(s) (${list(collapsed.map((p) => `${label(p)} ${f2(p.mean.explainedVariance)}`))}), where low absorption comes with a collapsed reconstruction.`);
    out.push(s.join(" "));
  }
  out.push(...tyingComparisons(view, points));
  out.push(...disagreements(view, points));
  if (view.seeds.length > 1) {
    const spreads = points.map((p) => {
      const v = p.fullBySeed.filter((x): x is number => x !== null);
      return { p, spread: v.length > 1 ? Math.max(...v) - Math.min(...v) : 0 };
    });
    const worst = spreads.reduce((a, b) => (b.spread > a.spread ? b : a));
    out.push(
      `Over ${view.seeds.length} seeds, full absorption at the same grid point spans ${f2(meanOf(spreads.map((s) => s.spread)))} on average (max - min); ` +
        `the largest spread is ${f2(worst.spread)}, for ${worst.p.config} at ${label(worst.p)}.`,
    );
  } else {
    out.push("One seed per grid point: differences of a few hundredths between neighbouring points may be noise.");
  }
  return out;
}

function tyingComparisons(view: SweepView, points: readonly GridPoint[]): string[] {
  const out: string[] = [];
  for (const t of view.configs.filter((c) => c.tying !== "untied")) {
    const u = view.configs.find((c) => c.tying === "untied" && c.peer === t.peer);
    if (!u) continue;
    const pairs = points
      .filter((p) => p.config === t.name)
      .map((p) => ({ t: p, u: points.find((q) => q.config === u.name && q.coords.every((x, i) => x === p.coords[i])) }))
      .filter((x): x is { t: GridPoint; u: GridPoint } => x.u !== undefined && x.t.mean.fullAbsorption !== null && x.u.mean.fullAbsorption !== null);
    if (pairs.length === 0) continue;
    const diff = pairs.map((x) => x.t.mean.fullAbsorption! - x.u.mean.fullAbsorption!);
    const lower = diff.filter((d) => d < -SAME).length;
    const higher = diff.filter((d) => d > SAME).length;
    const s = [
      `${t.tying} versus untied ${t.architecture} (${t.name} vs ${u.name}, ${pairs.length} grid points): ${t.name} has lower full absorption at ${lower}, about the same (within ${SAME}) at ${pairs.length - lower - higher}, higher at ${higher}.`,
    ];
    const absorbing = pairs.filter((x) => x.t.mean.fullAbsorption! >= ABSORBING);
    if (absorbing.length > 0) {
      s.push(
        `${t.name} absorbs too (full absorption at least ${ABSORBING}) at ${absorbing.length} point(s): ` +
          `${list(absorbing.map((x) => `${pointLabel(view, t.name, x.t.coords)} ${f2(x.t.mean.fullAbsorption)} vs untied ${f2(x.u.mean.fullAbsorption)}`))}; tying does not prevent absorption there.`,
      );
    } else {
      const max = pairs.reduce((a, b) => (b.t.mean.fullAbsorption! > a.t.mean.fullAbsorption! ? b : a));
      s.push(`${t.name} stays below ${ABSORBING} at every point (highest ${f2(max.t.mean.fullAbsorption)} at ${pointLabel(view, t.name, max.t.coords)}).`);
      const split = pairs.filter((x) => (x.t.mean.maxParentLikeFullAbsorption ?? 0) >= ABSORBING);
      if (split.length > 0) s.push(`By its main latent only: a second parent latent of ${t.name} is absorbed at ${split.length} of these points, so tying did not prevent absorption altogether.`);
    }
    const cmp = (k: "l0" | "mcc" | "explainedVariance", word: string) => {
      const both = pairs.filter((x) => x.t.mean[k] !== null && x.u.mean[k] !== null);
      const more = both.filter((x) => x.t.mean[k]! > x.u.mean[k]!).length;
      return `${word} is higher for ${t.name} at ${more} of ${both.length} (mean ${f2(meanOf(both.map((x) => x.t.mean[k])))} vs ${f2(meanOf(both.map((x) => x.u.mean[k])))})`;
    };
    s.push(`${cmp("l0", "L0")}; ${cmp("mcc", "MCC")}; ${cmp("explainedVariance", "explained variance")}.`);
    const collapsed = pairs.filter((x) => x.t.mean.explainedVariance !== null && x.t.mean.explainedVariance < COLLAPSED_EV);
    if (collapsed.length > 0) s.push(`At ${collapsed.length} of these points ${t.name} explains less than ${COLLAPSED_EV} of the variance, so its absorption there is measured on a collapsed SAE.`);
    out.push(s.join(" "));
  }
  return out;
}

function disagreements(view: SweepView, points: readonly GridPoint[]): string[] {
  const both = points.filter((p) => p.mean.fullAbsorption !== null && p.mean.saebenchAbsorptionFraction !== null);
  const apart = both.filter((p) => Math.abs(p.mean.fullAbsorption! - p.mean.saebenchAbsorptionFraction!) > DISAGREE);
  if (both.length === 0) return [];
  if (apart.length === 0) return [`Full absorption and SAEBench's absorption fraction agree within ${DISAGREE} at all ${both.length} (SAE, grid point) results.`];
  const byConfig = view.configs.map((c) => ({ c: c.name, n: apart.filter((p) => p.config === c.name).length })).filter((x) => x.n > 0);
  const worst = apart.reduce((a, b) => (Math.abs(b.mean.fullAbsorption! - b.mean.saebenchAbsorptionFraction!) > Math.abs(a.mean.fullAbsorption! - a.mean.saebenchAbsorptionFraction!) ? b : a));
  return [
    `Full absorption and SAEBench's absorption fraction disagree (differ by more than ${DISAGREE}) at ${apart.length} of ${both.length} (SAE, grid point) results ` +
      `(${byConfig.map((x) => `${x.c}: ${x.n}`).join(", ")}); the largest gap is ${worst.config} at ${pointLabel(view, worst.config, worst.coords)}: ` +
      `full absorption ${f2(worst.mean.fullAbsorption)}, SAEBench fraction ${f2(worst.mean.saebenchAbsorptionFraction)}. ` +
      "SAEBench also counts the parent's direction carried by other latents alongside a main latent that still fires.",
  ];
}
