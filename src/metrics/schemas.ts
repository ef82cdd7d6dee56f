/**
 * zod schemas for every metric result: the single definition of their shapes (types are inferred)
 * and of their JSON form. Rates over an empty set of samples are `null`, never NaN, so results
 * survive JSON unchanged.
 */
import { z } from "zod";
import { SaebenchThresholdsSchema } from "./saebench.js";

const num = () => z.number();
/** A rate or mean over samples, or null when there were none. */
const rate = () => z.number().nullable();
const index = () => z.number().int().min(0);

/** Options of an evaluation (all have defaults; unknown keys are errors). */
export const EvalOptionsSchema = z
  .object({
    mainLatents: z.number().int().min(1).max(16).default(1).describe("How many latents (highest decoder cosine with a parent) count as that parent's main latents."),
    absorberMinCos: z.number().min(0).max(1).default(0.1).describe("An absorbing latent's decoder row must have at least this cosine with the parent direction."),
    absorberMinShare: z.number().min(0).max(1).default(0.05).describe("An absorbing latent must carry at least this share of the parent's projection on parent-and-child samples."),
    maxAbsorbers: z.number().int().min(1).default(3).describe("How many absorbing latents to list per parent/child edge."),
    saebench: SaebenchThresholdsSchema.prefault({}).describe("SAEBench's absorption thresholds (defaults as SAEBench)."),
    parentLikeMinCos: z
      .number()
      .min(0)
      .max(1)
      .default(0.8)
      .describe("Latents other than the main one(s) whose decoder cosine with a parent is at least this are checked for absorption too (a parent split across latents)."),
    disagreementTolerance: z.number().min(0).max(1).default(0.2).describe("Two absorption measures further apart than this are reported as disagreeing."),
    hungarianMaxWork: z.number().positive().default(4e9).describe("Above min(dSae,nFeatures)^2*max(dSae,nFeatures) steps, MCC uses a greedy matching (and says so)."),
    heatmapMaxFeatures: z.number().int().min(1).default(64).describe("Most true features drawn in the cosine heatmaps."),
    heatmapMaxLatents: z.number().int().min(1).default(128).describe("Most latents drawn in the cosine heatmaps."),
    densityBinsPerDecade: z.number().int().min(1).max(20).default(2).describe("Bins per decade of the firing-density histogram."),
  })
  .strict();
export type EvalOptions = z.infer<typeof EvalOptionsSchema>;

export const ReconstructionSchema = z.object({
  mse: num().describe("Mean squared error per element."),
  mseSumOverDims: num().describe("E||x - x_hat||^2."),
  explainedVariance: num().describe("1 - E||x - x_hat||^2 / (E||x||^2 - ||E x||^2)."),
  shrinkage: num().describe("Mean ||x_hat|| / ||x||."),
});

export const SparsitySchema = z.object({
  l0: num(),
  trueL0: num(),
  deadLatents: z.array(index()).describe("Latents that never fired on the evaluation set."),
  firingDensity: z.array(num()).describe("[dSae] share of samples on which each latent fired."),
  densityHistogram: z.object({ log10Edges: z.array(num()), counts: z.array(z.number().int().min(0)), dead: z.number().int().min(0) }),
});

export const RecoverySchema = z.object({
  mcc: num().describe("Mean |cos| over the matching of decoder rows to true features that maximises it (SAELens)."),
  matching: z.enum(["hungarian", "greedy"]),
  uniqueness: num().describe("Distinct best-matching features over the number of latents (SAELens)."),
  latentOfFeature: z.array(z.number().int().min(-1)).describe("[nFeatures] the latent matched to each feature, -1 if none."),
  matchedCos: z.array(num().nullable()).describe("[nFeatures] |decoder cosine| of each feature's matched latent."),
  bestFeatureOfLatent: z.array(index()).describe("[dSae] each latent's highest-|cos| feature."),
  classification: z.object({
    precision: num(),
    recall: num(),
    f1: num(),
    accuracy: num(),
    perLatent: z.object({ precision: z.array(num()), recall: z.array(num()), f1: z.array(num()) }),
  }),
});

export const LatentGeometrySchema = z.object({
  encDecCos: z.array(num()).describe("[dSae] cosine of each latent's encoder column with its decoder row."),
  meanEncDecCos: num(),
});

export const HeatmapSchema = z.object({
  features: z.array(index()).describe("Feature indices of the columns."),
  latents: z.array(index()).describe("Latent indices of the rows, ordered by matched feature."),
  decoder: z.array(z.array(num())).describe("[latents][features] decoder cosines."),
  encoder: z.array(z.array(num())).describe("[latents][features] encoder cosines."),
  truncated: z.boolean().describe("True when not every feature or latent is drawn."),
});

export const SaebenchScoreSchema = z.object({
  absorptionFraction: rate(),
  fullAbsorption: rate(),
  nProbePositives: z.number().int().min(0),
});

export const AbsorberSchema = z.object({
  latent: index(),
  decoderCosParent: num(),
  decoderCosChild: num(),
  firingRate: num().describe("Share of parent-and-child samples on which it fires."),
  firingRateWhenMainSilent: rate().describe("Share of parent-and-child samples with every main latent silent on which it fires."),
  projectionShare: num().describe("Its mean projection on the parent direction over the parent's mean projection, on parent-and-child samples."),
});

export const ParentLikeLatentSchema = z.object({
  latent: index(),
  decoderCos: num().describe("Its decoder row's cosine with the parent direction."),
  silentWithChild: rate().describe("Share of parent-and-child samples on which it is silent."),
  silentAlone: rate().describe("Share of parent-without-any-child samples on which it is silent."),
  fullAbsorption: rate().describe("silentWithChild - silentAlone: its own full absorption on this edge."),
});

export const EdgeAbsorptionSchema = z.object({
  parent: index(),
  child: index(),
  nSamples: z.number().int().min(0).describe("Samples where the parent and this child fire."),
  silentWithChild: rate().describe("Share of those where every main latent is silent."),
  silentAlone: rate().describe("Share of parent-without-any-child samples where every main latent is silent."),
  fullAbsorption: rate().describe("silentWithChild - silentAlone."),
  meanMainWithChild: rate(),
  meanMainAlone: rate(),
  partialRatio: rate().describe("meanMainWithChild / meanMainAlone (1 = no absorption, 0 = full)."),
  belowHalfShare: rate().describe("Share of parent-and-child samples where the main latent fires below half its parent-alone mean."),
  pMainFiresChildOff: rate().describe("P(main fires | parent on, this child off)."),
  pMainFiresChildOn: rate().describe("P(main fires | parent on, this child on)."),
  absorptionGap: rate().describe("pMainFiresChildOff - pMainFiresChildOn."),
  encoderCosWithChild: z.array(num()).describe("Per main latent, its encoder column's cosine with the child direction."),
  absorbers: z.array(AbsorberSchema),
  saebench: SaebenchScoreSchema,
  fullAbsorptionByF1Main: rate().describe("Full absorption with the best-F1 latent as main latent; null when it agrees with the decoder-cosine choice."),
  parentLikeLatents: z
    .array(ParentLikeLatentSchema)
    .describe("Latents besides the main one(s) with decoder cosine >= parentLikeMinCos to the parent, each with its own full absorption on this edge, highest cosine first."),
});

export const MainLatentSchema = z.object({ latent: index(), decoderCos: num(), f1: num() });

export const ParentAbsorptionSchema = z.object({
  parent: index(),
  children: z.array(index()),
  nSamples: z.number().int().min(0).describe("Samples where the parent fires."),
  nAlone: z.number().int().min(0).describe("Samples where the parent fires and none of its children."),
  mainLatents: z.array(MainLatentSchema).describe("By decoder cosine with the parent, highest first."),
  mainByF1: MainLatentSchema.nullable().describe("The latent whose firing best matches the parent's firing (F1)."),
  mainAgree: z.boolean().describe("Whether the best-F1 latent is among the decoder-cosine main latents."),
  edges: z.array(EdgeAbsorptionSchema),
  mean: z.object({ fullAbsorption: rate(), partialRatio: rate(), belowHalfShare: rate(), absorptionGap: rate() }),
  saebench: SaebenchScoreSchema,
});

export const AbsorptionSummarySchema = z.object({
  nParents: z.number().int().min(0),
  nEdges: z.number().int().min(0),
  fullAbsorption: rate().describe("Mean over parents of their mean over children."),
  partialRatio: rate(),
  belowHalfShare: rate(),
  absorptionGap: rate(),
  saebenchAbsorptionFraction: rate().describe("Mean over parents (SAEBench's mean over letters)."),
  saebenchFullAbsorption: rate(),
  maxEdgeFullAbsorption: rate(),
  mainDisagreements: z.number().int().min(0).describe("Parents whose decoder-cosine and F1 main latents differ."),
  maxParentLikeFullAbsorption: rate().describe(
    "Highest full absorption of any parent-like latent (not a main latent) on any edge: a split-off copy of the parent that is absorbed while the main latent is not.",
  ),
});

export const AbsorptionSchema = z.object({ parents: z.array(ParentAbsorptionSchema), summary: AbsorptionSummarySchema });

/** Everything measured about one SAE on one evaluation set. */
export const SaeEvaluationSchema = z.object({
  architecture: z.string(),
  tied: z.boolean(),
  dIn: z.number().int().positive(),
  dSae: z.number().int().positive(),
  nFeatures: z.number().int().positive(),
  nSamples: z.number().int().min(0),
  reconstruction: ReconstructionSchema,
  sparsity: SparsitySchema,
  recovery: RecoverySchema,
  latents: LatentGeometrySchema,
  heatmap: HeatmapSchema,
  absorption: AbsorptionSchema,
  notes: z.array(z.string()).describe("Plain statements of where metrics disagree or are undefined."),
});

export type SaeEvaluation = z.infer<typeof SaeEvaluationSchema>;
export type Absorption = z.infer<typeof AbsorptionSchema>;
export type ParentAbsorption = z.infer<typeof ParentAbsorptionSchema>;
export type EdgeAbsorption = z.infer<typeof EdgeAbsorptionSchema>;
export type Absorber = z.infer<typeof AbsorberSchema>;
export type ParentLikeLatent = z.infer<typeof ParentLikeLatentSchema>;
export type Heatmap = z.infer<typeof HeatmapSchema>;
export type SaebenchScore = z.infer<typeof SaebenchScoreSchema>;
