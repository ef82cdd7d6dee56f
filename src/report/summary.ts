/**
 * The results object the report renderers take (several SAEs evaluated on one world), and the
 * one-row-per-SAE summary that the terminal table, the HTML table and `--json` share.
 */
import { z } from "zod";
import { SaeEvaluationSchema } from "../metrics/schemas.js";

/** Results for several SAEs evaluated on the same world. */
export const ReportInputSchema = z.object({
  title: z.string().default("saelab report").describe("Heading of the report."),
  world: z.object({
    name: z.string().describe("The world's preset name or config file."),
    nFeatures: z.number().int().positive(),
    dModel: z.number().int().positive(),
  }),
  /** The command that produced the results, shown in the report so it can be rerun. */
  command: z.string().optional(),
  saes: z.array(z.object({ name: z.string().min(1), evaluation: SaeEvaluationSchema })).min(1),
});
export type ReportInput = z.infer<typeof ReportInputSchema>;
export type ReportInputRaw = z.input<typeof ReportInputSchema>;

/** One SAE's headline numbers. */
export const SummaryRowSchema = z.object({
  name: z.string(),
  architecture: z.string(),
  tied: z.boolean(),
  dSae: z.number().int(),
  l0: z.number(),
  deadLatents: z.number().int(),
  explainedVariance: z.number(),
  mcc: z.number(),
  uniqueness: z.number(),
  fullAbsorption: z.number().nullable(),
  partialRatio: z.number().nullable(),
  absorptionGap: z.number().nullable(),
  secondParentAbsorption: z.number().nullable().describe("Highest full absorption of a parent-like latent other than the main one, on any edge; null when there is none."),
  saebenchAbsorptionFraction: z.number().nullable(),
  saebenchFullAbsorption: z.number().nullable(),
  notes: z.number().int().describe("How many disagreement or undefined-metric notes the evaluation carries."),
});
export type SummaryRow = z.infer<typeof SummaryRowSchema>;

/** Returns the headline row of each SAE, in input order. */
export function summaryRows(input: ReportInput): SummaryRow[] {
  return input.saes.map(({ name, evaluation: e }) => ({
    name,
    architecture: e.architecture,
    tied: e.tied,
    dSae: e.dSae,
    l0: e.sparsity.l0,
    deadLatents: e.sparsity.deadLatents.length,
    explainedVariance: e.reconstruction.explainedVariance,
    mcc: e.recovery.mcc,
    uniqueness: e.recovery.uniqueness,
    fullAbsorption: e.absorption.summary.fullAbsorption,
    partialRatio: e.absorption.summary.partialRatio,
    absorptionGap: e.absorption.summary.absorptionGap,
    secondParentAbsorption: e.absorption.summary.maxParentLikeFullAbsorption,
    saebenchAbsorptionFraction: e.absorption.summary.saebenchAbsorptionFraction,
    saebenchFullAbsorption: e.absorption.summary.saebenchFullAbsorption,
    notes: e.notes.length,
  }));
}

/** A column of the results table: its header, a help line and how to print a row's value. */
export interface Column {
  key: keyof SummaryRow;
  header: string;
  help: string;
  format: (r: SummaryRow) => string;
}

/** Returns a number with `digits` decimals, or "n/a" for an undefined rate. */
export function fmt(v: number | null, digits = 3): string {
  if (v === null) return "n/a";
  const t = v.toFixed(digits);
  // A negative value that rounds to zero prints as zero, not "-0.000".
  return /^-0\.?0*$/.test(t) ? t.slice(1) : t;
}

/** The columns shown in both the terminal and the HTML tables. */
export const COLUMNS: readonly Column[] = [
  { key: "name", header: "SAE", help: "Name given to the SAE.", format: (r) => r.name },
  { key: "architecture", header: "arch", help: "Architecture id (SAELens spelling).", format: (r) => r.architecture },
  { key: "tied", header: "tied", help: "Encoder stored as the decoder's transpose.", format: (r) => (r.tied ? "yes" : "no") },
  { key: "dSae", header: "width", help: "Number of latents.", format: (r) => String(r.dSae) },
  { key: "l0", header: "L0", help: "Mean latents firing per sample.", format: (r) => fmt(r.l0, 2) },
  { key: "deadLatents", header: "dead", help: "Latents that never fired.", format: (r) => String(r.deadLatents) },
  { key: "explainedVariance", header: "expl.var", help: "Explained variance of the reconstruction.", format: (r) => fmt(r.explainedVariance) },
  { key: "mcc", header: "MCC", help: "Mean |cos| of the best matching of decoder rows to true features.", format: (r) => fmt(r.mcc) },
  { key: "fullAbsorption", header: "full abs", help: "Share of parent+child samples where the parent's main latent is silent, minus the parent-alone share (0 none, 1 full).", format: (r) => fmt(r.fullAbsorption) },
  { key: "partialRatio", header: "partial", help: "Main latent's mean activation with a child over parent alone (1 none, 0 full).", format: (r) => fmt(r.partialRatio) },
  { key: "absorptionGap", header: "gap", help: "P(main fires | parent, child off) - P(main fires | parent, child on).", format: (r) => fmt(r.absorptionGap) },
  {
    key: "secondParentAbsorption",
    header: "2nd parent",
    help: "Highest full absorption, on any edge, of another latent whose decoder cosine with the parent is >= 0.8 (n/a: there is none).",
    format: (r) => fmt(r.secondParentAbsorption),
  },
  { key: "saebenchAbsorptionFraction", header: "SB frac", help: "SAEBench's mean absorption fraction (true parent direction as probe).", format: (r) => fmt(r.saebenchAbsorptionFraction) },
  { key: "saebenchFullAbsorption", header: "SB full", help: "SAEBench's full-absorption rate.", format: (r) => fmt(r.saebenchFullAbsorption) },
];
