/**
 * zod schemas of the no-ground-truth absorption detector: its options (strict, with defaults) and the
 * shapes of its results, which are also their JSON form. Nothing here knows about a world's true
 * features: every quantity is computed from an SAE and unlabelled activations.
 */
import { z } from "zod";

const rate = () => z.number().nullable();
const index = () => z.number().int().min(0);
const count = () => z.number().int().min(0);

/** Options of `detectAbsorption` (all have defaults; unknown keys are errors). */
export const DetectOptionsSchema = z
  .object({
    minDecoderCos: z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe("A candidate absorber's decoder row needs at least this cosine with the parent latent's decoder row (SAEBench's absorber cosine threshold)."),
    maxNeighbors: z.number().int().min(1).max(256).default(16).describe("At most this many candidate parents per latent (highest decoder cosine first)."),
    duplicateCos: z
      .number()
      .min(0)
      .max(1)
      .default(0.9)
      .describe("Two latents whose decoder rows have at least this cosine are reported as near-duplicates, not as absorption."),
    presence: z
      .number()
      .positive()
      .max(1)
      .default(0.7)
      .describe("A latent's direction counts as present in an input when (x - b_dec) . unit decoder row reaches this share of its mean value on the inputs where the latent fires."),
    projectionShare: z
      .number()
      .min(0)
      .max(1)
      .default(0.4)
      .describe("A silent latent's direction counts as absorbed when other firing latents carry at least this share of its projection (SAEBench: 0.4)."),
    minScore: z.number().min(0).max(1).default(0.1).describe("Pairs scoring at least this are confident detections (and candidates for mitigation)."),
    minSamples: z.number().int().min(1).default(25).describe("A pair needs the absorber to fire on at least this many inputs to be confident."),
    minParentEncoderDecoderCos: z
      .number()
      .min(-1)
      .max(1)
      .default(0.2)
      .describe("A parent candidate's encoder column must have at least this cosine with its own decoder row (it must detect the direction it writes)."),
    maxPairs: z.number().int().min(1).default(200).describe("At most this many pairs are returned (highest score first)."),
    hierarchyCoverage: z
      .number()
      .min(0)
      .max(1)
      .default(0.9)
      .describe("Co-occurrence edge parent -> child: P(parent fires | child fires) must reach this."),
    hierarchyLift: z
      .number()
      .min(1)
      .default(2)
      .describe("Co-occurrence edge: P(parent fires | child fires) / P(parent fires) must reach this (a latent that fires everywhere is nobody's parent)."),
    maxCoActive: z
      .number()
      .int()
      .min(2)
      .default(64)
      .describe("Co-firing pairs are counted among the this-many most active latents of each input (bounds the work at high L0)."),
  })
  .strict();
export type DetectOptions = z.infer<typeof DetectOptionsSchema>;
export type DetectOptionsInput = z.input<typeof DetectOptionsSchema>;

/** One ordered (parent latent, absorbing latent) pair and every signal measured on it. */
export const AbsorptionPairSchema = z.object({
  parent: index().describe("The latent whose recall has holes."),
  absorber: index().describe("The latent that fires instead and carries the parent's direction."),
  kind: z
    .enum(["absorption", "duplicate", "sibling", "not-a-detector"])
    .describe(
      "duplicate: decoder rows nearly parallel (cosine >= duplicateCos). sibling: the two rows overlap only along a third latent that is a parent of both (sharedParent). " +
        "not-a-detector: the parent's encoder barely reads its own decoder direction (cosine < minParentEncoderDecoderCos), so its recall of that direction is not meaningful. Only absorption pairs can be confident.",
    ),
  score: z
    .number()
    .describe("Combined score: share of the absorber's firings on which the parent's direction is present, the parent is silent and the absorber carries it (each weighted by min(1, projection / the parent's usual projection)), minus the parent's silent share when no candidate absorber fires (weighted alike)."),
  confident: z.boolean(),
  decoderCos: z.number().describe("Cosine of the two decoder rows (signal 1: the absorber's row contains the parent's)."),
  sharedParent: index().nullable().describe("For a sibling pair, the latent both rows share."),
  parentEncoderDecoderCos: z.number().nullable().describe("Cosine of the parent's encoder column with its own decoder row."),
  parentComponent: z.number().describe("Coefficient c of the parent's decoder row in the absorber's: (d_A . d_P) / |d_P|^2."),
  encoderCarve: z
    .number()
    .nullable()
    .describe("Cosine of the parent's encoder column with the absorber's decoder row minus its parent component (signal 2: negative when the parent's encoder carves the child out)."),
  nAbsorberFires: count().describe("Inputs on which the absorber fires."),
  presentShare: rate().describe("Share of those on which the parent's direction is present."),
  parentSilent: rate().describe("Signal 3: share of absorber firings with the parent's direction present on which the parent is silent."),
  parentSilentBaseline: rate().describe("The parent's silent share when its direction is present and none of its candidate absorbers fires."),
  carriedShare: rate().describe("Mean share of the parent's projection carried by the absorber, over absorber firings with the parent's direction present (capped at 1)."),
  coFiring: rate().describe("Signal 4: P(parent fires | absorber fires)."),
  partialRatio: rate().describe("Parent's mean activation when the absorber fires (direction present) over its mean when no candidate absorber fires; 1 = unaffected."),
  reverseScore: z.number().nullable().describe("Score of the same two latents with the roles swapped (the pair is reported in its higher-scoring orientation)."),
});
export type AbsorptionPair = z.infer<typeof AbsorptionPairSchema>;

/** Per-latent recall-hole estimate. */
export const LatentHolesSchema = z.object({
  latent: index(),
  firingRate: z.number(),
  meanProjectionWhenFiring: z.number().nullable().describe("Mean (x - b_dec) . unit decoder row over the inputs where it fires (its reference level)."),
  nPresent: count().describe("Inputs on which its direction is present."),
  holeRate: rate().describe("Share of those on which it is silent (recall holes)."),
  absorbedHoleRate: rate().describe("Share on which it is silent while other firing latents carry at least projectionShare of its projection."),
  topCarriers: z.array(z.object({ latent: index(), share: z.number().describe("Share of the absorbed holes on which this latent carries the most.") })),
});
export type LatentHoles = z.infer<typeof LatentHolesSchema>;

/** An inferred parent -> child relation between latents. */
export const HierarchyEdgeSchema = z.object({
  parent: index(),
  child: index(),
  evidence: z.array(z.enum(["absorption", "co-firing"])).describe("absorption: a confident absorption pair; co-firing: the child fires almost only with the parent."),
  coFiring: rate().describe("P(parent fires | child fires)."),
  reverseCoFiring: rate().describe("P(child fires | parent fires)."),
  lift: z.number().nullable().describe("P(parent | child) / P(parent)."),
  score: z.number().describe("The absorption score when absorption is the evidence, else the co-firing rate."),
});
export type HierarchyEdge = z.infer<typeof HierarchyEdgeSchema>;

export const HierarchySchema = z.object({
  edges: z.array(HierarchyEdgeSchema).describe("Parent -> child edges after removing those implied by a path through another parent."),
  duplicates: z.array(z.array(index())).describe("Groups of near-duplicate latents (decoder cosine >= duplicateCos, linked transitively)."),
  roots: z.array(index()).describe("Latents that are parents but nobody's child."),
});
export type Hierarchy = z.infer<typeof HierarchySchema>;

/** Everything the detector found. */
export const DetectionSchema = z.object({
  dIn: z.number().int().positive(),
  dSae: z.number().int().positive(),
  nSamples: count(),
  options: z.record(z.string(), z.unknown()),
  pairs: z.array(AbsorptionPairSchema).describe("Highest score first."),
  latents: z.array(LatentHolesSchema).describe("Latents with a measured recall (direction present at least minSamples times), largest absorbed-hole rate first."),
  hierarchy: HierarchySchema,
  summary: z.object({
    confidentPairs: count(),
    candidatePairs: count().describe("Ordered pairs whose decoder cosine passed minDecoderCos."),
    meanAbsorbedHoleRate: rate().describe("Mean absorbed-hole rate over latents that are the parent of a confident pair."),
    deadLatents: count(),
  }),
  notes: z.array(z.string()).describe("Plain statements of where signals disagree or the data is too thin."),
});
export type Detection = z.infer<typeof DetectionSchema>;
