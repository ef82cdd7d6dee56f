/**
 * Toy worlds: `createWorld(config)` builds the ground truth once (directions, bias, probabilities,
 * magnitudes, hierarchy, copula) and returns a World whose `sampler(seed)` is free to construct.
 * The config schema lives in config.ts and is re-exported here.
 */
import { ConfigError, parseConfig } from "../errors.js";
import type { Kernels } from "../tensor/kernels.js";
import { Rng } from "../tensor/rng.js";
import { solveMarginals, type ResolvedRule } from "./compensation.js";
import { WorldConfigSchema, type WorldConfig, type WorldConfigInput } from "./config.js";
import { buildCopula, lowRankCopula, type Copula } from "./correlation.js";
import { biasVector, featureDirections, type Progress } from "./directions.js";
import { buildForest } from "./hierarchy.js";
import { positiveChance, upperQuantile } from "./normal.js";
import { planLowRank, type SamplerPlan } from "./plan.js";
import { firingProfile, magnitudeProfile } from "./profiles.js";
import { createSampler } from "./sampler.js";
import type { World } from "./types.js";

export { WorldConfigSchema } from "./config.js";
export type { WorldConfig, WorldConfigInput } from "./config.js";

/** Options for building a world. */
export interface CreateWorldOptions {
  /** Kernels for dense products (a native backend makes copula sampling and orthogonalisation fast). */
  kernels?: Kernels;
  /** Progress of long constructions (orthogonalisation). */
  onProgress?: Progress;
  /** Saved tensors to use instead of generating them (loadWorld passes these). */
  saved?: { featureVectors: Float32Array; bias: Float32Array; correlationFactor?: Float32Array };
}

/** A built toy world: the World contract plus the derived quantities behind its marginals. */
export interface ToyWorld extends World {
  readonly config: WorldConfig;
  /** [nFeatures]: the configured probability (profile, then dense overrides). */
  readonly targetProbability: Float64Array;
  /** [nFeatures]: per-draw success probability used by the sampler (SAELens's sampled firing_probabilities). */
  readonly attemptProbability: Float64Array;
  /** [nFeatures]: configured magnitude standard deviation. */
  readonly magnitudeStd: Float64Array;
  /** [nFeatures]: depth below the feature's root (0 for roots and independent features). */
  readonly depth: Int32Array;
  /** Features that are roots of a tree with children. */
  readonly roots: readonly number[];
  /** Co-occurrence rules in application order, with their effective attempt probabilities. */
  readonly rules: readonly ResolvedRule[];
  /** Features whose configured probability compensation could not reach (clamped at 1). */
  readonly unreachable: readonly number[];
  /** The copula, when firing is correlated. */
  readonly copula?: Copula;
  /** True when firingProbability is exact; false when a copula also correlates parents with children or rule pairs. */
  readonly marginalsExact: boolean;
  /** What samplers read (internal; the naive twin sampler uses it too). */
  readonly plan: SamplerPlan;
}

/** Returns the built world for `config` (validated again here, so hand-built objects are checked too). */
export function createWorld(config: WorldConfig | WorldConfigInput, options: CreateWorldOptions = {}): ToyWorld {
  const cfg = parseConfig(WorldConfigSchema, config, "world config");
  const n = cfg.nFeatures;
  const d = cfg.dModel;
  const root = new Rng(cfg.seed);
  const target = firingProfile(cfg);
  const mean = magnitudeProfile(cfg.magnitude.mean, n, root.fork("magnitude.mean"));
  const std = magnitudeProfile(cfg.magnitude.std, n, root.fork("magnitude.std"));
  const g = Float64Array.from(mean, (m, i) => positiveChance(m, std[i]!));
  const forest = buildForest(cfg.hierarchy, n, root.fork("hierarchy"));
  // Generated forests with random branching are only known now: re-check the rules against them.
  const ruleIssues = cfg.cooccurrence.flatMap((r, i) =>
    (["given", "feature"] as const)
      .filter((key) => forest.parent[r[key]]! !== -1)
      .map((key) => ({ path: `cooccurrence[${i}].${key}`, message: `feature ${r[key]} is a hierarchy child (of ${forest.parent[r[key]]}); co-occurrence rules take only features without a parent` })),
  );
  if (ruleIssues.length > 0) throw new ConfigError("world config", ruleIssues);
  const solved = solveMarginals(target, g, forest, cfg.cooccurrence, cfg.compensateProbabilities);
  let copula: Copula | undefined;
  if (cfg.correlation) {
    const saved = options.saved?.correlationFactor;
    if (saved && cfg.correlation.kind !== "full") {
      copula = lowRankCopula(saved, n, saved.length / n);
    } else {
      copula = buildCopula(cfg.correlation, n, root.fork("correlation"));
    }
  }
  const top = Int32Array.from({ length: n }, (_, i) => i).filter((i) => forest.parent[i] === -1);
  let planCopula: SamplerPlan["copula"] = { kind: "none" };
  if (copula?.kind === "lowRank") planCopula = { kind: "lowRank", ...planLowRank(copula, solved.attempt, top) };
  else if (copula?.kind === "full") planCopula = { kind: "full", chol: copula.chol, threshold: Float64Array.from(solved.attempt, upperQuantile) };
  const featureVectors = options.saved?.featureVectors ?? featureDirections(n, d, root.fork("directions"), cfg.orthogonalize, options.kernels, options.onProgress);
  const bias = options.saved?.bias ?? biasVector(d, cfg.biasNorm, root.fork("bias"));
  const childPtr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) childPtr[i + 1] = childPtr[i]! + forest.children[i]!.length;
  const plan: SamplerPlan = {
    nFeatures: n,
    dModel: d,
    featureVectors,
    bias,
    attempt: solved.attempt,
    mean,
    std,
    children: forest.children,
    childPtr,
    childIdx: Int32Array.from(forest.children.flat()),
    mutuallyExclusive: forest.mutuallyExclusive,
    scaleChildren: cfg.hierarchy?.scaleChildrenByParent ?? false,
    top,
    rules: solved.rules,
    copula: planCopula,
    ...(options.kernels ? { kernels: options.kernels } : {}),
    scratch: {},
  };
  const hasEdges = forest.roots.length > 0 || solved.rules.length > 0;
  return {
    config: cfg,
    nFeatures: n,
    dModel: d,
    featureVectors,
    bias,
    parent: forest.parent,
    children: forest.children,
    mutuallyExclusive: forest.mutuallyExclusive,
    firingProbability: solved.marginal,
    magnitudeMean: mean,
    targetProbability: target,
    attemptProbability: solved.attempt,
    magnitudeStd: std,
    depth: forest.depth,
    roots: forest.roots,
    rules: solved.rules,
    unreachable: solved.unreachable,
    ...(copula ? { copula } : {}),
    marginalsExact: !copula || !hasEdges,
    plan,
    sampler: (seed: number) => createSampler(plan, seed),
  };
}
