/**
 * A world's summary for `saelab world describe`: true L0, firing-rate range, superposition
 * statistics, hierarchy shape, correlation and co-occurrence, magnitudes. A pure function of the
 * world (superposition statistics may use a seeded row sample to bound their cost).
 */
import type { Kernels } from "../tensor/kernels.js";
import { Rng } from "../tensor/rng.js";
import { latentCorrelation } from "./correlation.js";
import { superpositionStats, type SuperpositionStats } from "./directions.js";
import type { ToyWorld } from "./world.js";

/** The summary printed by `saelab world describe` (also its --json form). */
export interface WorldSummary {
  nFeatures: number;
  dModel: number;
  seed: number;
  /** Expected number of active features per sample (sum of the marginals). */
  trueL0: number;
  /** False when a copula also acts across hierarchy or co-occurrence edges (then L0 and rates are approximate). */
  marginalsExact: boolean;
  firingRate: { min: number; minFeature: number; max: number; maxFeature: number };
  configuredRate: { min: number; max: number };
  compensation: { on: boolean; unreachable: number; examples: number[] };
  superposition: SuperpositionStats & { orthogonal: boolean };
  hierarchy: { trees: number; features: number; children: number; maxDepth: number; mutuallyExclusiveGroups: number; scaleChildrenByParent: boolean };
  correlation: { kind: "none" | "full" | "low_rank" | "factor"; rank?: number; meanAbsLatentCorrelation?: number; pairsSampled?: number };
  cooccurrence: { given: number; feature: number; probability: number }[];
  magnitude: { mean: { min: number; max: number }; std: { min: number; max: number } };
  biasNorm: number;
}

function range(v: ArrayLike<number>): { min: number; max: number; minAt: number; maxAt: number } {
  let min = Infinity;
  let max = -Infinity;
  let minAt = 0;
  let maxAt = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < min) [min, minAt] = [v[i]!, i];
    if (v[i]! > max) [max, maxAt] = [v[i]!, i];
  }
  return { min, max, minAt, maxAt };
}

/** Returns the summary of `world`; superposition statistics use `kernels` (see superpositionStats for the cost bound). */
export function describeWorld(world: ToyWorld, opts: { kernels?: Kernels } = {}): WorldSummary {
  const n = world.nFeatures;
  const cfg = world.config;
  let l0 = 0;
  for (let i = 0; i < n; i++) l0 += world.firingProbability[i]!;
  const rate = range(world.firingProbability);
  const conf = range(world.targetProbability);
  let children = 0;
  let groups = 0;
  let maxDepth = 0;
  for (let i = 0; i < n; i++) {
    if (world.parent[i] !== -1) children++;
    if (world.mutuallyExclusive[i]) groups++;
    maxDepth = Math.max(maxDepth, world.depth[i]!);
  }
  const rng = new Rng(cfg.seed).fork("describe");
  const sup = superpositionStats(world.featureVectors, n, world.dModel, { ...(opts.kernels ? { kernels: opts.kernels } : {}), rng });
  let correlation: WorldSummary["correlation"] = { kind: "none" };
  if (cfg.correlation && world.copula) {
    const pairs = Math.min(200_000, (n * (n - 1)) / 2);
    let sum = 0;
    for (let p = 0; p < pairs; p++) {
      const i = rng.int(n);
      let j = rng.int(n - 1);
      if (j >= i) j++;
      sum += Math.abs(latentCorrelation(world.copula, i, j));
    }
    correlation = {
      kind: cfg.correlation.kind,
      ...(world.copula.kind === "lowRank" ? { rank: world.copula.rank } : {}),
      meanAbsLatentCorrelation: pairs > 0 ? sum / pairs : 0,
      pairsSampled: pairs,
    };
  }
  const mean = range(world.magnitudeMean);
  const std = range(world.magnitudeStd);
  return {
    nFeatures: n,
    dModel: world.dModel,
    seed: cfg.seed,
    trueL0: l0,
    marginalsExact: world.marginalsExact,
    firingRate: { min: rate.min, minFeature: rate.minAt, max: rate.max, maxFeature: rate.maxAt },
    configuredRate: { min: conf.min, max: conf.max },
    compensation: { on: cfg.compensateProbabilities, unreachable: world.unreachable.length, examples: world.unreachable.slice(0, 5) },
    superposition: { ...sup, orthogonal: n <= world.dModel },
    hierarchy: {
      trees: world.roots.length,
      features: world.roots.length + children,
      children,
      maxDepth,
      mutuallyExclusiveGroups: groups,
      scaleChildrenByParent: cfg.hierarchy?.scaleChildrenByParent ?? false,
    },
    correlation,
    cooccurrence: world.rules.map((r) => ({ given: r.given, feature: r.feature, probability: r.probability })),
    magnitude: { mean: { min: mean.min, max: mean.max }, std: { min: std.min, max: std.max } },
    biasNorm: cfg.biasNorm,
  };
}

/** Returns the summary as aligned text lines. */
export function formatSummary(s: WorldSummary, label: string): string {
  const count = (k: number, word: string) => `${k} ${word}${k === 1 ? "" : "s"}`;
  const f = (x: number) => (Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(4) : x.toExponential(2));
  const lines = [
    `world: ${label}`,
    `features: ${s.nFeatures} in ${s.dModel} dimensions (seed ${s.seed})`,
    `true L0: ${s.trueL0.toFixed(3)} active features per sample${s.marginalsExact ? " (exact)" : " (approximate: the copula also correlates parents with children or co-occurring pairs)"}`,
    `firing rate: ${f(s.firingRate.min)} (feature ${s.firingRate.minFeature}) to ${f(s.firingRate.max)} (feature ${s.firingRate.maxFeature}); configured ${f(s.configuredRate.min)} to ${f(s.configuredRate.max)}`,
  ];
  if (s.compensation.on) {
    lines.push(s.compensation.unreachable === 0
      ? "compensation: on; every feature fires at its configured rate"
      : `compensation: on; ${s.compensation.unreachable} features cannot reach their configured rate (their draw probability is clamped at 1), e.g. ${s.compensation.examples.join(", ")}`);
  } else {
    lines.push("compensation: off (hierarchy, exclusion and relu losses lower the rates below the configured ones)");
  }
  const sp = s.superposition;
  lines.push(`superposition: mean |cos| ${sp.meanAbsCos.toFixed(4)}, max |cos| ${sp.maxAbsCos.toFixed(4)} ${sp.orthogonal ? "(orthogonal directions)" : sp.exact ? "(all pairs)" : `(estimated from ${sp.rowsUsed} random features against all others)`}`);
  const h = s.hierarchy;
  lines.push(h.trees === 0
    ? "hierarchy: none"
    : `hierarchy: ${count(h.trees, "tree")}, ${h.features} features (${h.children} children), depth ${h.maxDepth}, ${count(h.mutuallyExclusiveGroups, "mutually exclusive group")}${h.scaleChildrenByParent ? ", children scaled by parent" : ""}`);
  const c = s.correlation;
  lines.push(c.kind === "none"
    ? "correlation: none (independent firing)"
    : `correlation: Gaussian copula, ${c.kind}${c.rank ? ` rank ${c.rank}` : ""}; mean |latent correlation| ${c.meanAbsLatentCorrelation!.toFixed(4)} over ${c.pairsSampled} random pairs`);
  lines.push(s.cooccurrence.length === 0 ? "co-occurrence: none" : `co-occurrence: ${s.cooccurrence.map((r) => `${r.feature} fires w.p. ${r.probability} when ${r.given} fires`).join("; ")}`);
  lines.push(`magnitudes: mean ${f(s.magnitude.mean.min)} to ${f(s.magnitude.mean.max)}, std ${f(s.magnitude.std.min)} to ${f(s.magnitude.std.max)}`);
  lines.push(`bias: norm ${s.biasNorm}`);
  return lines.join("\n");
}
