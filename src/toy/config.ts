/**
 * The toy-world config: one strict zod schema, the single definition of what a world JSON may say.
 * Cross-field rules (list lengths, feature indices, hierarchy shape, correlation validity,
 * co-occurrence rules) are superRefine errors that name the offending field; nothing is edited
 * while validating. Semantics follow SAELens's `sae_lens.synthetic`; docs/toy-worlds.md lists
 * where they differ.
 */
import { z } from "zod";
import { finite, probability, seed } from "../schema.js";
import { checkCorrelation } from "./correlation.js";
import { checkHierarchy } from "./hierarchy.js";

/** Largest magnitude a world number may have: activations are float32, and 1e308 would sample Inf. */
export const MAX_WORLD_MAGNITUDE = 1e6;
const bounded = () => finite().refine((v) => Math.abs(v) <= MAX_WORLD_MAGNITUDE, { message: `must be at most ${MAX_WORLD_MAGNITUDE} in absolute value (activations are float32)` });
const positive = () => bounded().refine((v) => v > 0, { message: "must be > 0" });
const nonNegative = () => bounded().refine((v) => v >= 0, { message: "must be >= 0" });
const index = () => z.number().int().min(0, "must be a feature index (>= 0)");

/** How each feature's firing probability is set, by feature index (SAELens's firing-probability generators). */
export const FiringSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("constant").describe("Every feature fires with the same probability."),
    probability: probability().describe("Firing probability of every feature."),
  }).strict(),
  z.object({
    kind: z.literal("linear").describe("Probabilities fall linearly from max (feature 0) to min (the last feature)."),
    max: probability().describe("Probability of feature 0."),
    min: probability().describe("Probability of the last feature; values in between fall linearly."),
  }).strict(),
  z.object({
    kind: z.literal("zipf").describe("Zipf profile rescaled into [min, max], feature 0 the most frequent."),
    exponent: positive().describe("Zipf exponent: p_i is proportional to (i+1)^-exponent before rescaling."),
    max: probability().describe("Probability of feature 0 (the most frequent)."),
    min: probability().describe("Probability of the last feature (the rarest)."),
  }).strict(),
  z.object({
    kind: z.literal("list").describe("One explicit probability per feature."),
    probabilities: z.array(probability()).describe("One probability per feature."),
  }).strict(),
]).describe("Per-feature firing probability: constant, linear, zipf (rescaled into [min, max]) or an explicit list.");

/** How a per-feature magnitude statistic (mean or standard deviation) varies with the feature index. */
export const MagnitudeProfileSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("constant").describe("The same value for every feature."), value: nonNegative().describe("The value for every feature.") }).strict(),
  z.object({
    kind: z.literal("linear").describe("Linear from start (feature 0) to end (the last feature)."),
    start: positive().describe("Value of feature 0."),
    end: positive().describe("Value of the last feature."),
  }).strict(),
  z.object({
    kind: z.literal("exponential").describe("Geometric interpolation from start to end."),
    start: positive().describe("Value of feature 0."),
    end: positive().describe("Value of the last feature; start * (end/start)^(i/(n-1)) in between."),
  }).strict(),
  z.object({
    kind: z.literal("folded_normal").describe("Each feature draws |N(mean, std^2)|, optionally clamped."),
    mean: bounded().describe("Mean of the normal that is folded (absolute value taken)."),
    std: positive().describe("Standard deviation of the normal that is folded."),
    min: nonNegative().optional().describe("Clamp values below this."),
    max: positive().optional().describe("Clamp values above this."),
  }).strict(),
  z.object({ kind: z.literal("list").describe("One explicit value per feature."), values: z.array(nonNegative()).describe("One value per feature.") }).strict(),
]);

const ConstantOne = { kind: "constant" as const, value: 1 };
const ConstantZero = { kind: "constant" as const, value: 0 };

/** Magnitude of a firing feature: relu(mean_i + std_i * N(0, 1)). */
export const MagnitudeSchema = z.object({
  mean: MagnitudeProfileSchema.default(ConstantOne).describe("Per-feature mean magnitude (must be > 0 for every feature)."),
  std: MagnitudeProfileSchema.default(ConstantZero).describe("Per-feature magnitude standard deviation."),
}).strict();

/** One explicit hierarchy node: a parent feature and its children. */
export const HierarchyNodeSchema = z.object({
  feature: index().describe("The parent feature."),
  children: z.array(index()).min(1).describe("Features that can fire only when this one fires."),
  mutuallyExclusive: z.boolean().default(false).describe("At most one child fires (a uniformly random one of those sampled)."),
}).strict();

/** Generated forests, built breadth-first from feature 0 upwards as SAELens's generate_hierarchy does. */
export const GeneratedHierarchySchema = z.object({
  roots: z.number().int().min(1).describe("Number of trees (root features)."),
  branching: z.union([z.number().int().min(2), z.tuple([z.number().int().min(2), z.number().int().min(2)])])
    .describe("Children per parent: a number, or [min, max] for a uniformly random count."),
  depth: z.number().int().min(1).describe("Levels below the roots (1 = roots with leaf children)."),
  mutuallyExclusivePortion: probability().default(0).describe("Share of parent nodes whose children are mutually exclusive."),
  mutuallyExclusiveMinDepth: z.number().int().min(0).default(0).describe("Shallowest parent depth (0 = roots) that may get mutually exclusive children."),
  mutuallyExclusiveMaxDepth: z.number().int().min(0).optional().describe("Deepest parent depth that may get mutually exclusive children."),
}).strict();

/** Trees of features: explicit nodes or a generated forest, plus child magnitude scaling. */
export const HierarchySchema = z.object({
  nodes: z.array(HierarchyNodeSchema).optional().describe("Explicit parent -> children lists."),
  generate: GeneratedHierarchySchema.optional().describe("A generated forest (instead of nodes)."),
  scaleChildrenByParent: z.boolean().default(false).describe("Multiply a child's magnitude by its parent's magnitude over the parent's mean."),
}).strict();

/** Correlated firing through a Gaussian copula (marginals are preserved). */
export const CorrelationSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("full").describe("A full correlation matrix."),
    matrix: z.array(z.array(finite())).describe("[nFeatures][nFeatures] correlation matrix: symmetric, unit diagonal, positive semi-definite."),
  }).strict(),
  z.object({
    kind: z.literal("low_rank").describe("A random factor F with N(0, scale^2) entries (SAELens's low-rank correlation)."),
    rank: z.number().int().min(1).describe("Number of shared Gaussian factors."),
    scale: nonNegative().describe("Factor entries are N(0, scale^2); correlations grow with rank * scale^2."),
  }).strict(),
  z.object({
    kind: z.literal("factor").describe("An explicit factor F (and optionally its diagonal)."),
    factor: z.array(z.array(finite())).describe("[nFeatures][rank] factor matrix F; correlation F F^T + diag(1 - |F_i|^2), so every row needs |F_i| < 1."),
    diag: z.array(finite()).optional().describe("[nFeatures] diagonal term (SAELens's correlation_diag); if given, |F_i|^2 + diag_i must be 1 (unit latent variance keeps the marginals)."),
  }).strict(),
]);

/** "feature fires with `probability` whenever `given` fires". */
export const CooccurrenceSchema = z.object({
  given: index().describe("The feature whose firing triggers the rule (A)."),
  feature: index().describe("The feature that then fires with the given probability (B)."),
  probability: probability().describe("P(B fires | A fires)."),
}).strict();

/** Features whose firing probability overrides the profile: dense features mixed in with sparse ones. */
export const DenseSchema = z.object({
  features: z.array(index()).min(1).describe("Indices of the dense features."),
  probability: probability().describe("Their firing probability (typically high, e.g. 0.5-1)."),
}).strict();

export const WorldConfigSchema = z.object({
  nFeatures: z.number().int().min(1).max(1 << 22).describe("Number of true features."),
  dModel: z.number().int().min(1).max(1 << 16).describe("Dimension of the activation space."),
  seed: seed().default(0).describe("Seed for everything built once: directions, bias, generated hierarchy, correlation factors, folded-normal magnitudes."),
  firing: FiringSchema,
  dense: DenseSchema.optional().describe("Dense features mixed with the sparse ones."),
  magnitude: MagnitudeSchema.default({ mean: ConstantOne, std: ConstantZero }).describe("Firing magnitudes."),
  orthogonalize: z.object({
    steps: z.number().int().min(0).default(100).describe("Adam steps on the pairwise-interference loss."),
    lr: positive().default(0.01).describe("Adam learning rate."),
  }).strict().optional().describe("When nFeatures > dModel: push the random directions apart (SAELens orthogonalize_embeddings)."),
  biasNorm: nonNegative().default(0).describe("Norm of a random bias vector added to every sample (0 = none)."),
  hierarchy: HierarchySchema.optional().describe("Feature trees: a child fires only when its parent fires."),
  correlation: CorrelationSchema.optional().describe("Gaussian-copula correlation of the firing draws."),
  cooccurrence: z.array(CooccurrenceSchema).default([]).describe("Explicit pairwise co-occurrence rules."),
  compensateProbabilities: z.boolean().default(false).describe("Adjust the per-draw probabilities so that each feature's marginal firing rate equals its configured probability (hierarchy, mutual exclusion, co-occurrence and relu losses)."),
}).strict().superRefine((cfg, ctx) => {
  const n = cfg.nFeatures;
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const checkIndex = (path: (string | number)[], i: number) => {
    if (i >= n) issue(path, `feature ${i} does not exist (nFeatures is ${n})`);
  };
  if (cfg.firing.kind === "list" && cfg.firing.probabilities.length !== n) {
    issue(["firing", "probabilities"], `has ${cfg.firing.probabilities.length} entries but nFeatures is ${n}`);
  }
  if ((cfg.firing.kind === "linear" || cfg.firing.kind === "zipf") && cfg.firing.min > cfg.firing.max) {
    issue(["firing", "min"], `min (${cfg.firing.min}) is above max (${cfg.firing.max})`);
  }
  for (const key of ["mean", "std"] as const) {
    const prof = cfg.magnitude[key];
    if (prof.kind === "list" && prof.values.length !== n) issue(["magnitude", key, "values"], `has ${prof.values.length} entries but nFeatures is ${n}`);
    if (prof.kind === "folded_normal" && prof.min !== undefined && prof.max !== undefined && prof.min > prof.max) {
      issue(["magnitude", key, "min"], `min (${prof.min}) is above max (${prof.max})`);
    }
  }
  const mean = cfg.magnitude.mean;
  if (mean.kind === "constant" && !(mean.value > 0)) issue(["magnitude", "mean", "value"], "mean magnitude must be > 0");
  if (mean.kind === "list") mean.values.forEach((v, i) => { if (!(v > 0)) issue(["magnitude", "mean", "values", i], "mean magnitude must be > 0"); });
  if (mean.kind === "folded_normal" && !(mean.min !== undefined && mean.min > 0)) {
    issue(["magnitude", "mean", "min"], "a folded-normal mean magnitude can be 0; set min > 0");
  }
  if (cfg.dense) {
    const seen = new Set<number>();
    cfg.dense.features.forEach((f, i) => {
      checkIndex(["dense", "features", i], f);
      if (seen.has(f)) issue(["dense", "features", i], `feature ${f} is listed twice`);
      seen.add(f);
    });
  }
  let childOf: Map<number, number> | undefined;
  if (cfg.hierarchy) childOf = checkHierarchy(cfg.hierarchy, n, issue);
  if (cfg.correlation) checkCorrelation(cfg.correlation, n, issue);
  checkCooccurrence(cfg.cooccurrence, n, childOf, issue, checkIndex);
});

export type WorldConfig = z.infer<typeof WorldConfigSchema>;
/** A config as written in JSON, before defaults are filled in. */
export type WorldConfigInput = z.input<typeof WorldConfigSchema>;
export type FiringConfig = z.infer<typeof FiringSchema>;
export type MagnitudeProfile = z.infer<typeof MagnitudeProfileSchema>;
export type HierarchyConfig = z.infer<typeof HierarchySchema>;
export type CorrelationConfig = z.infer<typeof CorrelationSchema>;
export type CooccurrenceRule = z.infer<typeof CooccurrenceSchema>;

type Issue = (path: (string | number)[], message: string) => void;

function checkCooccurrence(
  rules: readonly CooccurrenceRule[],
  n: number,
  childOf: Map<number, number> | undefined,
  issue: Issue,
  checkIndex: (path: (string | number)[], i: number) => void,
): void {
  const target = new Map<number, number>();
  const next = new Map<number, number[]>();
  rules.forEach((r, i) => {
    checkIndex(["cooccurrence", i, "given"], r.given);
    checkIndex(["cooccurrence", i, "feature"], r.feature);
    if (r.given === r.feature) issue(["cooccurrence", i, "feature"], `a feature cannot be conditioned on itself (${r.feature})`);
    for (const key of ["given", "feature"] as const) {
      const p = childOf?.get(r[key]);
      if (p !== undefined) issue(["cooccurrence", i, key], `feature ${r[key]} is a hierarchy child (of ${p}); co-occurrence rules take only features without a parent`);
    }
    const prev = target.get(r.feature);
    if (prev !== undefined) issue(["cooccurrence", i, "feature"], `feature ${r.feature} is already the target of cooccurrence[${prev}]; a feature can be the target of one rule only`);
    else target.set(r.feature, i);
    next.set(r.given, [...(next.get(r.given) ?? []), r.feature]);
  });
  // A cycle (A -> B -> A) has no order in which to apply the rules.
  const state = new Map<number, 1 | 2>();
  const visit = (f: number, chain: number[]): boolean => {
    if (state.get(f) === 2) return false;
    if (state.get(f) === 1) {
      const at = target.get(f) ?? 0;
      issue(["cooccurrence", at], `rules form a cycle: ${[...chain.slice(chain.indexOf(f)), f].join(" -> ")}`);
      return true;
    }
    state.set(f, 1);
    for (const g of next.get(f) ?? []) if (visit(g, [...chain, f])) return true;
    state.set(f, 2);
    return false;
  };
  for (const f of next.keys()) if (n > 0 && visit(f, [])) break;
}
