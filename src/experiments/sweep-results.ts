/**
 * The sweep's results directory format: `manifest.json` (the spec and its hash, the cell list) and
 * `cells/<id>.json` (one per finished cell). Both are zod schemas, read back with a check, so a
 * stray or hand-edited file is an error that names it. Metrics are the headline numbers of
 * src/metrics (not the full evaluation, whose heatmaps would dominate a large sweep's disk use).
 */
import { z } from "zod";
import type { SaeEvaluation } from "../metrics/schemas.js";

/** Format tag of the manifest. */
export const SWEEP_FORMAT = "saelab-sweep/1";
/** Format tag of a cell file. */
export const CELL_FORMAT = "saelab-sweep-cell/1";

const rate = () => z.number().nullable();

/** The headline metrics of one trained SAE. */
export const SweepMetricsSchema = z
  .object({
    l0: z.number().describe("Mean latents firing per sample."),
    deadLatents: z.number().int().min(0).describe("Latents that never fired on the evaluation set."),
    explainedVariance: z.number(),
    mse: z.number(),
    shrinkage: z.number(),
    mcc: z.number().describe("Mean |cos| of the best matching of decoder rows to true features."),
    uniqueness: z.number(),
    fullAbsorption: rate().describe("Mean over parents of the mean over children of full absorption."),
    partialRatio: rate(),
    belowHalfShare: rate(),
    absorptionGap: rate(),
    saebenchAbsorptionFraction: rate(),
    saebenchFullAbsorption: rate(),
    maxEdgeFullAbsorption: rate(),
    mainDisagreements: z.number().int().min(0),
    maxParentLikeFullAbsorption: rate()
      .default(null)
      .describe("Highest full absorption of a parent-like latent other than the main one (absent in cells written before it was measured)."),
  })
  .strict();
export type SweepMetrics = z.infer<typeof SweepMetricsSchema>;

/** Absorption of one parent -> child edge. */
export const SweepEdgeSchema = z
  .object({
    parent: z.number().int().min(0),
    child: z.number().int().min(0),
    nSamples: z.number().int().min(0),
    fullAbsorption: rate(),
    partialRatio: rate(),
    absorptionGap: rate(),
    saebenchAbsorptionFraction: rate(),
    saebenchFullAbsorption: rate(),
  })
  .strict();

/** One trained SAE of a cell. */
export const CellSaeSchema = z
  .object({
    name: z.string().describe("The trained SAE's name (<config>.L<level> under a sparsity axis)."),
    config: z.string().describe("Name of the spec's SAE config."),
    level: z.number().int().min(0).nullable().describe("Sparsity level, or null without a sparsity axis."),
    parameter: z.string().nullable().describe("The sparsity parameter the level set (l1Coefficient, l0Coefficient or k)."),
    value: z.number().nullable().describe("Its value."),
    architecture: z.string(),
    tied: z.boolean(),
    metrics: SweepMetricsSchema,
    edges: z.array(SweepEdgeSchema).describe("Per-edge absorption (at most the first 64 edges)."),
    notes: z.array(z.string()).describe("The evaluation's statements of disagreeing or undefined metrics."),
  })
  .strict();
export type CellSae = z.infer<typeof CellSaeSchema>;

/** Configured and measured co-occurrence and magnitude of one parent -> child edge. */
export const WorldEdgeStatsSchema = z
  .object({
    parent: z.number().int().min(0),
    child: z.number().int().min(0),
    configured: z.object({ pParent: z.number(), pChild: z.number(), pChildGivenParent: z.number().nullable(), magnitudeRatio: z.number() }).strict(),
    measured: z
      .object({
        pParent: z.number(),
        pChild: z.number(),
        pChildGivenParent: rate(),
        parentMeanMagnitude: rate(),
        childMeanMagnitude: rate(),
        magnitudeRatio: rate().describe("Mean child magnitude over mean parent magnitude, each over the samples where it fires."),
      })
      .strict(),
  })
  .strict();
export type WorldEdgeStats = z.infer<typeof WorldEdgeStatsSchema>;

/** What the cell's evaluation stream showed about its world. */
export const WorldStatsSchema = z
  .object({
    nSamples: z.number().int().min(0),
    trueL0: z.number().describe("Mean true features per sample."),
    nEdges: z.number().int().min(0),
    edges: z.array(WorldEdgeStatsSchema).describe("The first 64 edges."),
  })
  .strict();
export type WorldStats = z.infer<typeof WorldStatsSchema>;

/** One finished cell. */
export const CellResultSchema = z
  .object({
    format: z.literal(CELL_FORMAT),
    specHash: z.string(),
    index: z.number().int().min(0),
    id: z.string(),
    seed: z.number().int().min(0),
    values: z.record(z.string(), z.number()).describe("Swept world-axis values."),
    world: WorldStatsSchema,
    saes: z.array(CellSaeSchema),
    seconds: z.object({ train: z.number(), eval: z.number() }).strict().describe("Wall times (the only numbers that differ between identical runs)."),
  })
  .strict();
export type CellResult = z.infer<typeof CellResultSchema>;

/** The manifest of a results directory. */
export const ManifestSchema = z
  .object({
    format: z.literal(SWEEP_FORMAT),
    specHash: z.string(),
    spec: z.record(z.string(), z.unknown()).describe("The parsed spec (defaults filled in)."),
    baseWorld: z.record(z.string(), z.unknown()).describe("The base world config the spec resolved to (a preset's definition at the time)."),
    cells: z.array(z.object({ index: z.number().int(), id: z.string(), seed: z.number().int(), values: z.record(z.string(), z.number()) }).strict()),
  })
  .strict();
export type Manifest = z.infer<typeof ManifestSchema>;

/** Most edges kept per cell file. */
export const MAX_STORED_EDGES = 64;

/** Returns the headline metrics and per-edge absorption of an evaluation. */
export function sweepMetrics(e: SaeEvaluation): { metrics: SweepMetrics; edges: z.infer<typeof SweepEdgeSchema>[] } {
  const s = e.absorption.summary;
  const metrics: SweepMetrics = {
    l0: e.sparsity.l0,
    deadLatents: e.sparsity.deadLatents.length,
    explainedVariance: e.reconstruction.explainedVariance,
    mse: e.reconstruction.mse,
    shrinkage: e.reconstruction.shrinkage,
    mcc: e.recovery.mcc,
    uniqueness: e.recovery.uniqueness,
    fullAbsorption: s.fullAbsorption,
    partialRatio: s.partialRatio,
    belowHalfShare: s.belowHalfShare,
    absorptionGap: s.absorptionGap,
    saebenchAbsorptionFraction: s.saebenchAbsorptionFraction,
    saebenchFullAbsorption: s.saebenchFullAbsorption,
    maxEdgeFullAbsorption: s.maxEdgeFullAbsorption,
    mainDisagreements: s.mainDisagreements,
    maxParentLikeFullAbsorption: s.maxParentLikeFullAbsorption,
  };
  const edges = e.absorption.parents
    .flatMap((p) =>
      p.edges.map((x) => ({
        parent: p.parent,
        child: x.child,
        nSamples: x.nSamples,
        fullAbsorption: x.fullAbsorption,
        partialRatio: x.partialRatio,
        absorptionGap: x.absorptionGap,
        saebenchAbsorptionFraction: x.saebench.absorptionFraction,
        saebenchFullAbsorption: x.saebench.fullAbsorption,
      })),
    )
    .slice(0, MAX_STORED_EDGES);
  return { metrics, edges };
}
